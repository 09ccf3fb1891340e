"""CertificateSigningRequests as the apiserver stores them: validation with field-named
errors, the requestor taken from the caller, and which write may change which part."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from controlplane.apiserver import certificates as strategy
from controlplane.apiserver.authz import User
from jota import pki
from jota.api import certificates, errors
from jota.api.registry import by_plural, resolve
from jota.api.selectors import parse_field_selector
from jota.api.validation import validate
from jota.cli.printers.columns import kind_columns
from jota.cli.printers.describe import describe

RT = by_plural("certificatesigningrequests")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def csr(**spec: Any) -> dict[str, Any]:
    request, _ = pki.new_csr("system:node:n1", [pki.NODES])
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": "node-csr-1"},
            "spec": {"request": b64(request), "signerName": certificates.KUBELET_CLIENT,
                     "usages": ["digital signature", "client auth"], **spec}}


def approved(obj: dict[str, Any], kind: str = certificates.APPROVED) -> dict[str, Any]:
    return certificates.with_condition(obj, kind, "Because", "so", "2026-11-24T12:00:00Z")


def causes(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    try:
        validate(RT, obj, old)
    except errors.Invalid as e:
        return [str(c) for c in e.causes]
    return []


def test_the_kind_is_registered_with_kubectls_names() -> None:
    assert resolve("csr") is RT
    assert resolve("certificatesigningrequests.certificates.k8s.io") is RT
    assert RT.api_version == "certificates.k8s.io/v1" and not RT.namespaced
    assert [c.name for c in kind_columns("CertificateSigningRequest").columns] == [
        "Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]


def test_a_node_request_is_valid() -> None:
    assert causes(csr()) == []
    assert causes(csr(expirationSeconds=600)) == []


@pytest.mark.parametrize(("spec", "expected"), [
    ({"request": b64(b"hello")},
     "spec.request: Invalid value: <request data>: PEM block type must be CERTIFICATE "
     "REQUEST"),
    ({"signerName": "kubernetes.io/nope"},
     'spec.signerName: Unsupported value: "kubernetes.io/nope": supported values: '
     '"kubernetes.io/kube-apiserver-client", '
     '"kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kubelet-serving"'),
    ({"signerName": "my-signer"},
     'spec.signerName: Invalid value: "my-signer": must be a fully qualified domain and '
     "path of the form 'example.com/signer-name'"),
    ({"signerName": "kubernetes.io/legacy-unknown"},
     'spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy '
     "signerName is not allowed via this API version"),
    ({"usages": []}, "spec.usages: Required value: usages must be provided"),
    ({"usages": ["client auth", "client auth"]}, 'spec.usages[1]: Duplicate value: '
                                                 '"client auth"'),
    ({"expirationSeconds": 599}, "spec.expirationSeconds: Invalid value: 599: may not "
                                 "specify a duration less than 600 seconds (10 minutes)"),
])
def test_bad_specs_name_the_field(spec: dict[str, Any], expected: str) -> None:
    assert expected in causes(csr(**spec))


def test_an_unknown_usage_lists_the_known_ones() -> None:
    [cause] = causes(csr(usages=["client auth", "flying"]))
    assert cause.startswith('spec.usages[1]: Unsupported value: "flying": supported values: '
                            '"signing", "digital signature"')


def test_a_custom_signer_is_allowed_as_kubernetes_does() -> None:
    assert causes(csr(signerName="example.com/my-signer")) == []


def test_a_request_signed_by_another_key_is_refused() -> None:
    request, _ = pki.new_csr("system:node:n1", [pki.NODES])
    body = bytearray(request)
    at = len(body) // 2
    while not chr(body[at]).isalnum():
        at += 1
    body[at] = ord("B") if body[at] == ord("A") else ord("A")  # one changed byte
    assert any(c.startswith("spec.request: Invalid value: <request data>: x509")
               for c in causes(csr(request=b64(bytes(body)))))


def test_approved_and_denied_are_exclusive_and_only_true() -> None:
    both = approved(approved(csr()), certificates.DENIED)
    assert causes(both) == ['status.conditions: Invalid value: "Denied": Approved and '
                            "Denied conditions are mutually exclusive"]
    false = approved(csr())
    false["status"]["conditions"][0]["status"] = "False"
    assert causes(false) == ['status.conditions[0].status: Unsupported value: "False": '
                             'supported values: "True"']
    twice = approved(csr())
    twice["status"]["conditions"] *= 2
    assert causes(twice) == ['status.conditions[1].type: Duplicate value: "Approved"']


def test_a_certificate_must_be_pem() -> None:
    bad = approved(csr())
    bad["status"]["certificate"] = b64(b"not a certificate")
    assert causes(bad) == ["status.certificate: Invalid value: <certificate data>: must "
                           "contain at least one CERTIFICATE PEM block"]


def test_updates_keep_the_certificate_and_the_decision() -> None:
    ca = pki.new_ca()
    issued = approved(csr())
    issued["status"]["certificate"] = b64(pki.issue(ca, "x").cert)
    other = copy.deepcopy(issued)
    other["status"]["certificate"] = b64(pki.issue(ca, "y").cert)
    assert causes(other, issued) == ["status.certificate: Forbidden: updates may not modify "
                                     "existing certificate content"]
    withdrawn = copy.deepcopy(issued)
    withdrawn["status"]["conditions"] = []
    assert 'status.conditions: Forbidden: updates may not remove a condition of type ' \
           '"Approved"' in causes(withdrawn, issued)


def test_the_requestor_is_the_caller_never_the_body() -> None:
    body = csr(username="system:node:other", groups=["system:masters"], uid="1",
               extra={"a": ["b"]})
    strategy.set_requestor(body, User("system:bootstrap:abcdef",
                                      (pki.BOOTSTRAPPERS, "system:bootstrappers:x")))
    spec = body["spec"]
    assert spec["username"] == "system:bootstrap:abcdef"
    assert spec["groups"] == [pki.BOOTSTRAPPERS, "system:bootstrappers:x",
                              "system:authenticated"]
    assert "uid" not in spec and "extra" not in spec


def test_each_write_changes_only_its_part() -> None:
    old = csr(username="system:bootstrap:abcdef")
    old["metadata"]["resourceVersion"] = "5"
    # The main resource: the spec stays, whatever the body says.
    changed = copy.deepcopy(old)
    changed["spec"]["signerName"] = "example.com/other"
    changed["metadata"]["labels"] = {"a": "b"}
    merged = strategy.merge_update(old, changed, "")
    assert merged["spec"] == old["spec"] and merged["metadata"]["labels"] == {"a": "b"}
    # approval: only the conditions.
    decided = approved(changed)
    decided["status"]["certificate"] = "Zm9v"
    merged = strategy.merge_update(old, decided, "approval")
    assert merged["spec"] == old["spec"]
    assert certificates.has_condition(merged, certificates.APPROVED)
    assert "certificate" not in merged["status"]
    # status: the signer writes the certificate but cannot approve or undo an approval.
    signed = copy.deepcopy(merged)
    signed["status"] = {"certificate": "Zm9v",
                        "conditions": [{"type": certificates.DENIED, "status": "True"}]}
    after = strategy.merge_update(merged, signed, "status")
    assert after["status"]["certificate"] == "Zm9v"
    assert certificates.condition_text(after) == "Approved,Issued"


@pytest.mark.parametrize(("conditions", "certificate", "shown"), [
    ([], "", "Pending"),
    ([certificates.APPROVED], "", "Approved"),
    ([certificates.APPROVED], "Zm9v", "Approved,Issued"),
    ([certificates.DENIED], "", "Denied"),
    ([certificates.APPROVED, certificates.FAILED], "", "Approved,Failed"),
])
def test_the_condition_column_is_kubectls(conditions: list[str], certificate: str,
                                          shown: str) -> None:
    obj = csr()
    for kind in conditions:
        obj = approved(obj, kind)
    if certificate:
        obj.setdefault("status", {})["certificate"] = certificate
    assert certificates.condition_text(obj) == shown


def test_the_table_row() -> None:
    obj = csr(username="system:bootstrap:abcdef", expirationSeconds=86400)
    obj["metadata"]["creationTimestamp"] = "2026-11-24T11:55:00Z"
    assert kind_columns(RT.kind).row(obj, NOW) == [
        "node-csr-1", "5m", certificates.KUBELET_CLIENT, "system:bootstrap:abcdef", "24h",
        "Pending"]
    del obj["spec"]["expirationSeconds"]
    assert kind_columns(RT.kind).row(obj, NOW)[4] == "<none>"


def test_describe_reads_the_subject_from_the_request() -> None:
    request, _ = pki.new_csr("system:node:n1", [pki.NODES], ["10.0.0.1"])
    obj = certificates.node_csr(request, name="node-csr-x", expiration_seconds=3600)
    obj["metadata"]["creationTimestamp"] = "2026-11-24T11:55:00Z"
    obj["spec"]["username"] = "system:bootstrap:abcdef"
    text = describe(RT, approved(obj), [], now=NOW)
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[4:12] == [
        "Requesting User:     system:bootstrap:abcdef",
        "Signer:              kubernetes.io/kube-apiserver-client-kubelet",
        "Requested Duration:  60m",
        "Status:              Approved",
        "Subject:",
        "  Common Name:    system:node:n1",
        "  Serial Number:",
        "                  Organization:  system:nodes"]
    assert "         IP Addresses:  10.0.0.1" in lines
    assert lines[-1] == "Events:  <none>"


def test_requests_are_selected_by_signer_as_kubernetes_allows() -> None:
    selector = parse_field_selector(f"spec.signerName={certificates.KUBELET_CLIENT}", RT.kind)
    assert selector.matches(csr())
    assert not selector.matches(csr(signerName=certificates.KUBE_APISERVER_CLIENT))
