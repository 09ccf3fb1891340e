"""The apiserver's gate: certificates, bootstrap tokens, and the dev mode."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass, field
from typing import Any

import pytest

from controlplane.apiserver.authn import DEV_ADMIN, Gate, token_user
from controlplane.apiserver.authz import User
from jota import pki
from jota.api import errors

NOW = datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def token_secret(token_id: str = "abcdef", secret: str = "0123456789abcdef",
                 **extra: str) -> dict[str, Any]:
    data = {"token-id": token_id, "token-secret": secret,
            "usage-bootstrap-authentication": "true", **extra}
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {k: b64(v) for k, v in data.items()}}


def test_a_good_token_is_a_bootstrapper() -> None:
    user = token_user("abcdef.0123456789abcdef",
                      token_secret(**{"auth-extra-groups": "system:bootstrappers:worker,x"}),
                      NOW)
    assert user == User("system:bootstrap:abcdef",
                        (pki.BOOTSTRAPPERS, "system:bootstrappers:worker"))


@pytest.mark.parametrize(("token", "secret"), [
    ("abcdef.0123456789abcdeX", token_secret()),          # not a token's shape
    ("abcdef.ffffffffffffffff", token_secret()),          # wrong secret
    ("abcdef.0123456789abcdef", None),                    # no such Secret
    ("abcdef.0123456789abcdef", token_secret(expiration="2026-11-23T00:00:00Z")),
    ("abcdef.0123456789abcdef", {**token_secret(), "type": "Opaque"}),
    ("abcdef.0123456789abcdef", token_secret(**{"usage-bootstrap-authentication": "false"})),
])
def test_bad_tokens_are_nobody(token: str, secret: dict[str, Any] | None) -> None:
    assert token_user(token, secret, NOW) is None


def test_a_token_before_its_expiration_works() -> None:
    assert token_user("abcdef.0123456789abcdef",
                      token_secret(expiration="2026-12-01T00:00:00Z"), NOW) is not None


@dataclass
class Context:
    cert: bytes = b""
    metadata: list[tuple[str, str]] = field(default_factory=list)

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self.cert]} if self.cert else {}

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata


@dataclass
class Ref:
    resource: str
    namespace: str = ""
    name: str = ""


@pytest.fixture(scope="module")
def ca() -> pki.KeyPair:
    return pki.new_ca()


def gate() -> Gate:
    async def secret(name: str) -> dict[str, Any] | None:
        return token_secret() if name == "bootstrap-token-abcdef" else None

    async def pod_node(namespace: str, name: str) -> str | None:
        return {"mine": "a", "theirs": "b", "unbound": ""}.get(name)

    return Gate(secure=True, secret=secret, pod_node=pod_node, clock=lambda: NOW)


async def test_no_certificate_and_no_token_is_unauthorized() -> None:
    with pytest.raises(errors.Unauthorized, match="Unauthorized"):
        await gate().check("Get", Ref("pods", "default", "x"), Context())
    with pytest.raises(errors.Unauthorized):
        await gate().check("Get", Ref("pods"), Context(
            metadata=[("authorization", "Bearer abcdef.ffffffffffffffff")]))


async def test_the_certificate_says_who_calls(ca: pki.KeyPair) -> None:
    admin = pki.issue(ca, "admin", organizations=[pki.MASTERS])
    assert await gate().check("Delete", Ref("nodes", name="a"), Context(admin.cert)) == \
        User("admin", (pki.MASTERS,))


async def test_a_node_writes_its_own_pods_status_only(ca: pki.KeyPair) -> None:
    node = pki.issue(ca, "system:node:a", organizations=[pki.NODES]).cert
    await gate().check("Patch", Ref("pods", "ns", "mine"), Context(node), status=True)
    with pytest.raises(errors.Forbidden, match="node 'a' can only update pods bound to it"):
        await gate().check("Patch", Ref("pods", "ns", "theirs"), Context(node), status=True)
    with pytest.raises(errors.Forbidden, match="node 'a' cannot modify node 'b'"):
        await gate().check("UpdateStatus", Ref("nodes", name="b"), Context(node))
    with pytest.raises(errors.Forbidden, match='cannot create resource "pods/exec"'):
        await gate().check("Exec", Ref("", "ns", "mine"), Context(node))
    with pytest.raises(errors.Forbidden, match="can only update pods bound to it"):
        await gate().check("Delete", Ref("pods", "ns", "unbound"), Context(node))
    # A pod already gone (the node finishing its deletion twice) is NotFound, not Forbidden.
    with pytest.raises(errors.NotFound, match='pods "gone" not found'):
        await gate().check("Delete", Ref("pods", "ns", "gone"), Context(node))


async def test_a_bootstrap_token_may_only_ask_for_a_certificate() -> None:
    ctx = Context(metadata=[("authorization", "Bearer abcdef.0123456789abcdef")])
    user = await gate().check("Create", Ref("certificatesigningrequests"), ctx,
                              group="certificates.k8s.io")
    assert user.name == "system:bootstrap:abcdef"
    with pytest.raises(errors.Forbidden):
        await gate().check("List", Ref("secrets", "kube-system"), ctx)


async def test_without_tls_everyone_is_the_dev_admin() -> None:
    assert await Gate(secure=False).check("Delete", Ref("nodes", name="x"), Context()) == \
        DEV_ADMIN
