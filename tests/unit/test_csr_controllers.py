"""The controller-manager's certificate decisions: which requests the approver approves,
which the signer signs and for how long, and when the token cleaner deletes a token."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from cryptography import x509

from controlplane.controllers import csrapproving, csrcleaner, csrsigning, tokencleaner
from jota import pki
from jota.api import bootstraptoken, certificates

BOOTSTRAP = ("system:bootstrappers", "system:bootstrappers:jota:default-node-token",
             "system:authenticated")
NODE_GROUPS = ("system:nodes", "system:authenticated")
NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.UTC)


def csr(cn: str = "system:node:n1", orgs: tuple[str, ...] = ("system:nodes",), *,
        username: str = "system:bootstrap:abcdef", groups: tuple[str, ...] = BOOTSTRAP,
        signer: str = certificates.KUBELET_CLIENT,
        usages: tuple[str, ...] = ("digital signature", "client auth"),
        hosts: tuple[str, ...] = (), **spec: Any) -> dict[str, Any]:
    request, _ = pki.new_csr(cn, orgs, hosts)
    return {"metadata": {"name": "c"},
            "spec": {"request": base64.b64encode(request).decode(), "signerName": signer,
                     "usages": list(usages), "username": username, "groups": list(groups),
                     **spec}}


def with_(obj: dict[str, Any], kind: str, reason: str = "KubectlApprove") -> dict[str, Any]:
    return certificates.with_condition(obj, kind, reason, "", "2026-11-24T12:00:00Z")


@pytest.mark.parametrize(("request_", "approve", "message"), [
    (csr(), True, csrapproving.NODE_CLIENT_MESSAGE),
    (csr(usages=("digital signature", "key encipherment", "client auth")), True,
     csrapproving.NODE_CLIENT_MESSAGE),
    # A node renewing its own certificate.
    (csr(username="system:node:n1", groups=NODE_GROUPS), True,
     csrapproving.SELF_NODE_CLIENT_MESSAGE),
    # ... but never another node's.
    (csr(username="system:node:n2", groups=NODE_GROUPS), False, ""),
    # A stranger (no bootstrap group) waits for a person.
    (csr(username="jane", groups=("system:authenticated",)), False, ""),
    # Not a node's subject, extra groups, SANs, server usages, other signers.
    (csr("jane", ()), False, ""),
    (csr(orgs=("system:nodes", "system:masters")), False, ""),
    (csr("system:node:", ("system:nodes",)), False, ""),
    (csr(hosts=("10.0.0.1",)), False, ""),
    (csr(usages=("digital signature", "client auth", "server auth")), False, ""),
    (csr(usages=("digital signature",)), False, ""),
    (csr(signer=certificates.KUBE_APISERVER_CLIENT), False, ""),
    # Already decided.
    (with_(csr(), certificates.DENIED), False, ""),
    (with_(csr(), certificates.APPROVED), False, ""),
])
def test_the_approver_approves_node_client_requests_only(request_: dict[str, Any],
                                                         approve: bool, message: str) -> None:
    decision = csrapproving.decide(request_)
    assert decision.approve is approve, decision.why
    assert decision.message == message
    if not approve:
        assert decision.why


def test_an_unreadable_request_is_left_alone() -> None:
    broken = csr()
    broken["spec"]["request"] = "bm90IGEgcmVxdWVzdA=="
    assert not csrapproving.decide(broken).approve


DAY = datetime.timedelta(days=1)


@pytest.mark.parametrize(("request_", "lifetime", "failure"), [
    (with_(csr(), certificates.APPROVED, csrapproving.REASON), csrsigning.DEFAULT_DURATION,
     ""),
    (with_(csr(expirationSeconds=3600), certificates.APPROVED, csrapproving.REASON),
     datetime.timedelta(hours=1), ""),
    # Asking for more than the cluster gives gets the cluster's duration.
    (with_(csr(expirationSeconds=10 ** 9), certificates.APPROVED),
     csrsigning.DEFAULT_DURATION, ""),
    # Pending, denied, failed or issued: nothing to do.
    (csr(), None, ""),
    (with_(csr(), certificates.DENIED), None, ""),
    (with_(with_(csr(), certificates.APPROVED), certificates.FAILED), None, ""),
    # Someone approved a request the kubelet signer cannot honour: Failed.
    (with_(csr(hosts=("10.0.0.1",)), certificates.APPROVED), None,
     "DNS or IP subjectAltNames are not allowed"),
    # Any client certificate, once a person approved it...
    (with_(csr("jane", (), signer=certificates.KUBE_APISERVER_CLIENT), certificates.APPROVED),
     csrsigning.DEFAULT_DURATION, ""),
    # ... never on the auto-approver's word.
    (with_(csr("jane", (), signer=certificates.KUBE_APISERVER_CLIENT), certificates.APPROVED,
           csrapproving.REASON), None, ""),
    (with_(csr("jane", (), signer=certificates.KUBE_APISERVER_CLIENT,
               usages=("server auth",)), certificates.APPROVED), None,
     "invalid usage for client certificate"),
    # A node's serving certificate, for its names and addresses.
    (with_(csr(signer=certificates.KUBELET_SERVING, hosts=("10.0.0.5", "n1"),
               usages=("digital signature", "server auth")), certificates.APPROVED),
     csrsigning.DEFAULT_DURATION, ""),
    (with_(csr(signer=certificates.KUBELET_SERVING, usages=("server auth",)),
           certificates.APPROVED), None, "at least one DNS or IP subjectAltName"),
    (with_(csr("jane", (), signer=certificates.KUBELET_SERVING, hosts=("n1",),
               usages=("server auth",)), certificates.APPROVED), None, "subject must be"),
    (with_(csr(signer=certificates.KUBELET_SERVING, hosts=("n1",)), certificates.APPROVED),
     None, "invalid usage for serving certificate"),
    # Signers it does not serve.
    (with_(csr(signer="example.com/x"), certificates.APPROVED), None, ""),
])
def test_the_signer_signs_approved_requests_of_its_signers(
        request_: dict[str, Any], lifetime: datetime.timedelta | None, failure: str) -> None:
    plan = csrsigning.plan(request_)
    assert plan.lifetime == lifetime
    assert plan.failure.startswith(failure) and bool(plan.failure) == bool(failure)


def test_an_issued_request_is_not_signed_again() -> None:
    done = with_(csr(), certificates.APPROVED)
    done["status"]["certificate"] = "Zm9v"
    assert csrsigning.plan(done) == csrsigning.Plan()


def test_the_signed_certificate_is_the_nodes_and_lasts_what_was_planned() -> None:
    ca = pki.new_ca()
    request = csr(expirationSeconds=3600)
    plan = csrsigning.plan(with_(request, certificates.APPROVED))
    assert plan.lifetime is not None
    cert = pki.sign_csr(ca, certificates.request(request), lifetime=plan.lifetime, now=NOW)
    assert pki.identity_of(cert) == pki.Identity("system:node:n1", ("system:nodes",))
    assert pki.expires(cert) == NOW + datetime.timedelta(hours=1)
    short = pki.sign_csr(ca, certificates.request(request), now=NOW,
                         lifetime=datetime.timedelta(minutes=10))
    assert x509.load_pem_x509_certificate(short).not_valid_before_utc == \
        NOW - datetime.timedelta(seconds=6)  # backdated 1% of a short life, not 5 minutes


def test_a_certificate_never_outlives_its_ca() -> None:
    ca = pki.new_ca(now=NOW)
    cert = pki.sign_csr(ca, certificates.request(csr()), lifetime=datetime.timedelta(
        days=100 * 365), now=NOW)
    assert pki.expires(cert) == pki.expires(ca.cert)


def test_the_token_cleaner_waits_for_the_expiration() -> None:
    secret = bootstraptoken.secret_for("abcdef.0123456789abcdef", now=NOW,
                                       ttl=datetime.timedelta(hours=1))
    assert tokencleaner.seconds_left(secret, NOW) == 3600
    assert tokencleaner.seconds_left(secret, NOW + 2 * DAY) == -DAY.total_seconds() * 2 + 3600
    forever = bootstraptoken.secret_for("abcdef.0123456789abcdef", now=NOW, ttl=None)
    assert tokencleaner.seconds_left(forever, NOW) is None
    other = {"type": "Opaque", "metadata": {"name": "bootstrap-token-abcdef"}}
    assert tokencleaner.seconds_left(other, NOW) is None


def at(hours: float) -> str:
    return (NOW + datetime.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_cleaner_keeps_requests_as_long_as_kubernetes_does() -> None:
    pending = csr()
    pending["metadata"]["creationTimestamp"] = at(0)
    assert csrcleaner.due(pending) == NOW + datetime.timedelta(hours=24)
    for kind in (certificates.APPROVED, certificates.DENIED, certificates.FAILED):
        decided = certificates.with_condition(pending, kind, "r", "m", at(2))
        assert csrcleaner.due(decided) == NOW + datetime.timedelta(hours=3)
    # An issued certificate that expired first: gone with it.
    ca = pki.new_ca()
    issued = certificates.with_condition(pending, certificates.APPROVED, "r", "m", at(0))
    cert = pki.sign_csr(ca, certificates.request(issued), now=NOW,
                        lifetime=datetime.timedelta(minutes=30))
    issued["status"]["certificate"] = certificates.encode(cert)
    assert csrcleaner.due(issued) == NOW + datetime.timedelta(minutes=30)
    assert csrcleaner.due({"metadata": {}}) is None
