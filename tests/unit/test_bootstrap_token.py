"""Bootstrap tokens: kubeadm's format, the Secret `jota token create` stores (which the
apiserver's authenticator accepts until it expires), and `jota token list`'s row."""

from __future__ import annotations

import datetime

import pytest

from controlplane.apiserver.authn import token_user
from jota.api import bootstraptoken, certificates
from jota.cli.commands.certificate import decided

NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.UTC)
TOKEN = "abcdef.0123456789abcdef"


def test_new_tokens_have_kubeadms_shape() -> None:
    tokens = {bootstraptoken.new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(bootstraptoken.TOKEN.match(t) for t in tokens)


def test_the_secret_is_what_the_authenticator_reads() -> None:
    secret = bootstraptoken.secret_for(TOKEN, now=NOW, description="for worker-1")
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert bootstraptoken.field(secret, "expiration") == "2026-11-25T12:00:00Z"
    assert bootstraptoken.field(secret, "auth-extra-groups") == \
        "system:bootstrappers:jota:default-node-token"
    user = token_user(TOKEN, secret, NOW)
    assert user is not None and user.name == "system:bootstrap:abcdef"
    assert user.groups == ("system:bootstrappers",
                           "system:bootstrappers:jota:default-node-token")
    # Expired: refused, and the cleaner's test agrees.
    later = NOW + datetime.timedelta(hours=25)
    assert token_user(TOKEN, secret, later) is None
    assert bootstraptoken.is_expired(secret, later)
    assert not bootstraptoken.is_expired(secret, NOW)


@pytest.mark.parametrize("bad", ["abcdef", "ABCDEF.0123456789abcdef", "abcdef.0123",
                                 "abcdef0123456789abcdef"])
def test_malformed_tokens_are_refused_in_kubeadms_words(bad: str) -> None:
    with pytest.raises(ValueError, match="was not of form"):
        bootstraptoken.secret_for(bad, now=NOW)


def test_extra_groups_must_be_bootstrappers() -> None:
    with pytest.raises(ValueError, match='"system:masters" must match'):
        bootstraptoken.secret_for(TOKEN, now=NOW, groups=("system:masters",))


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("30m", 1800),
                                               ("1h30m", 5400), ("10s", 10), ("0", 0)])
def test_ttl(text: str, seconds: int) -> None:
    assert bootstraptoken.parse_ttl(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "h", "24", "1d", "-1h"])
def test_bad_ttl(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        bootstraptoken.parse_ttl(text)


def test_token_ids_for_delete() -> None:
    assert bootstraptoken.token_id_of(TOKEN) == "abcdef"
    assert bootstraptoken.token_id_of("abcdef") == "abcdef"
    with pytest.raises(ValueError, match="didn't match pattern"):
        bootstraptoken.token_id_of("nope")


def test_list_rows_are_kubeadms() -> None:
    secret = bootstraptoken.secret_for(TOKEN, now=NOW)
    assert bootstraptoken.list_row(secret, NOW + datetime.timedelta(minutes=30)) == [
        TOKEN, "24h", "2026-11-25T12:00:00Z", "authentication,signing", "<none>",
        "system:bootstrappers:jota:default-node-token"]
    forever = bootstraptoken.secret_for(TOKEN, now=NOW, ttl=None, description="lab")
    assert bootstraptoken.list_row(forever, NOW)[1:5] == [
        "<forever>", "<never>", "authentication,signing", "lab"]
    assert bootstraptoken.list_row(secret, NOW + datetime.timedelta(days=2))[1] == \
        "<invalid>"


def test_kubectl_certificate_approve_adds_its_condition_once() -> None:
    csr = {"metadata": {"name": "x"}, "spec": {}}
    approved = decided(csr, "approve", "2026-11-24T12:00:00Z")
    assert approved is not None and "status" not in csr
    assert approved["status"]["conditions"] == [{
        "type": "Approved", "status": "True", "reason": "KubectlApprove",
        "message": "This CSR was approved by kubectl certificate approve.",
        "lastUpdateTime": "2026-11-24T12:00:00Z"}]
    assert decided(approved, "approve", "2026-11-24T12:00:00Z") is None
    denied = decided(csr, "deny", "2026-11-24T12:00:00Z")
    assert denied is not None
    assert certificates.condition_text(denied) == "Denied"
