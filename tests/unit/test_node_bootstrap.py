"""The node's side of TLS bootstrapping: when it must ask for a certificate, how it reads
the answer, and the self-signed serving certificate it makes when given none."""

from __future__ import annotations

import asyncio
import datetime
import stat
from pathlib import Path

import pytest

from jota import pki
from jota.api import certificates
from jota.client import kubeconfig
from jota.client.kubeconfig import Credentials
from node.agent import bootstrap, servingcert

NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def ca() -> pki.KeyPair:
    return pki.new_ca(now=NOW)


def join(tmp_path: Path) -> bootstrap.Join:
    return bootstrap.Join("n1", "10.0.0.1:6443", tmp_path / "kubelet.conf",
                          tmp_path / "bootstrap.conf", tmp_path / "pki")


def test_a_missing_or_unusable_kubeconfig_needs_a_certificate(tmp_path: Path,
                                                              ca: pki.KeyPair) -> None:
    path = tmp_path / "kubelet.conf"
    assert bootstrap.needs_certificate(path, NOW).endswith("does not exist")
    path.write_text("{not yaml")
    assert "is unusable" in bootstrap.needs_certificate(path, NOW)
    kubeconfig.write(path, "x:1", Credentials(ca.cert, token="abcdef.0123456789abcdef"))
    assert bootstrap.needs_certificate(path, NOW).endswith("has no client certificate")


def test_a_valid_certificate_is_kept_until_it_expires(tmp_path: Path,
                                                      ca: pki.KeyPair) -> None:
    path = tmp_path / "kubelet.conf"
    pair = pki.issue(ca, "system:node:n1", organizations=[pki.NODES], days=1, now=NOW)
    kubeconfig.write(path, "x:1", Credentials(ca.cert, pair.cert, pair.key))
    assert bootstrap.needs_certificate(path, NOW) == ""
    later = NOW + datetime.timedelta(days=2)
    assert bootstrap.needs_certificate(path, later).startswith("its certificate expired at")


def test_the_answer_is_read_from_the_requests_status() -> None:
    pending = {"status": {}}
    assert bootstrap.issued(pending) == b""
    signed = {"status": {"certificate": certificates.encode(b"PEM"),
                         "conditions": [{"type": "Approved", "status": "True"}]}}
    assert bootstrap.issued(signed) == b"PEM"
    denied = certificates.with_condition({}, certificates.DENIED, "KubectlDeny", "no", "t")
    with pytest.raises(bootstrap.RequestDenied, match="denied: KubectlDeny: no"):
        bootstrap.issued(denied)


def test_the_serving_certificate_is_self_signed_and_kept(tmp_path: Path,
                                                        ca: pki.KeyPair) -> None:
    j = join(tmp_path)
    pair = pki.issue(ca, "system:node:n1", organizations=[pki.NODES])
    kubeconfig.write(j.kubeconfig, "x:1", Credentials(ca.cert, pair.cert, pair.key))
    files = servingcert.serving_files(j, "10.0.0.5")
    assert files.client_ca.read_bytes() == ca.cert  # callers need the cluster CA's certs
    cert = files.cert.read_bytes()
    assert pki.identity_of(cert).user == "n1"
    assert ca.cert not in cert  # signed by its own CA, not the cluster's
    for f in (files.cert, files.key, files.client_ca):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert servingcert.serving_files(j, "10.0.0.5").cert.read_bytes() == cert  # kept


def test_rotation_is_due_between_70_and_90_percent_of_the_life(ca: pki.KeyPair) -> None:
    pair = pki.issue(ca, "system:node:n1", days=10, now=NOW)
    start = NOW - pki.BACKDATE
    assert bootstrap.rotation_deadline(pair.cert, 0.7) == start + datetime.timedelta(days=7)
    assert bootstrap.rotation_deadline(pair.cert, 0.9) == start + datetime.timedelta(days=9)


class Signer:
    """The apiserver and controller-manager, as far as a rotating node sees them: every
    request is signed at once; the credentials the client switches to are recorded."""

    def __init__(self, ca: pki.KeyPair) -> None:
        self.ca = ca
        self.requests: list[dict[str, object]] = []
        self.switched = 0

    async def create(self, resource: str, obj: dict[str, object]) -> dict[str, object]:
        self.requests.append(obj)
        return obj

    async def get(self, resource: str, name: str) -> dict[str, object]:
        [obj] = [r for r in self.requests if r["metadata"]["name"] == name]  # type: ignore[index]
        cert = pki.sign_csr(self.ca, certificates.request(obj),
                            lifetime=datetime.timedelta(days=1))
        return {**obj, "status": {"certificate": certificates.encode(cert)}}

    async def use_credentials(self, credentials: object) -> None:
        self.switched += 1


async def test_rotation_asks_with_a_new_key_and_switches_the_client(
        tmp_path: Path, ca: pki.KeyPair) -> None:
    j = join(tmp_path)
    first = pki.issue(ca, "system:node:n1", organizations=[pki.NODES], days=1)
    (j.cert_dir).mkdir()
    (j.cert_dir / bootstrap.PENDING_KEY).write_bytes(first.key)
    bootstrap._write(j, ca.cert, first.cert)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 1:  # the wait for the second rotation: stop here
            raise asyncio.CancelledError

    signer = Signer(ca)
    with pytest.raises(asyncio.CancelledError):
        await bootstrap.rotate(signer, j, sleep=sleep,  # type: ignore[arg-type]
                               now=lambda: datetime.datetime.now(datetime.UTC),
                               fraction=iter([0.0, 0.9]).__next__)
    assert len(signer.requests) == 1 and signer.switched == 1
    creds = kubeconfig.load(j.kubeconfig)[1]
    assert creds.cert != first.cert and creds.key != first.key
    assert pki.identity_of(creds.cert) == pki.Identity("system:node:n1", ("system:nodes",))
    # One pair left in --cert-dir, the one the kubeconfig names.
    assert sorted(p.suffix for p in j.cert_dir.glob("jota-node-client-*")) == [".crt", ".key"]


def test_each_join_attempt_starts_at_the_next_bootstrap_server() -> None:
    servers = "10.0.0.1:6445,10.0.0.2:6446"
    assert bootstrap.starting_at(servers, 0) == servers
    assert bootstrap.starting_at(servers, 1) == "10.0.0.2:6446,10.0.0.1:6445"
    assert bootstrap.starting_at(servers, 2) == servers
    assert bootstrap.starting_at("10.0.0.1:6445", 5) == "10.0.0.1:6445"


async def test_the_signed_serving_certificate_is_renewed_before_it_expires(
        tmp_path: Path, ca: pki.KeyPair) -> None:
    j = join(tmp_path)
    j.cert_dir.mkdir()
    first = pki.issue(ca, "n1", hosts=["10.0.0.5", "n1"], server=True, client=False, days=1)
    (j.cert_dir / servingcert.SIGNED_SERVING_CERT).write_bytes(first.cert)
    (j.cert_dir / servingcert.SIGNED_SERVING_KEY).write_bytes(first.key)
    installed: list[servingcert.ServingFiles] = []
    slept: list[float] = []

    async def install(files: servingcert.ServingFiles) -> None:
        installed.append(files)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 1:  # the wait for the renewal after next: stop here
            raise asyncio.CancelledError

    signer = Signer(ca)
    with pytest.raises(asyncio.CancelledError):
        await servingcert.keep_signed(signer, j, "10.0.0.5", install,  # type: ignore[arg-type]
                                      ask_now=False, sleep=sleep,
                                      now=lambda: datetime.datetime.now(datetime.UTC),
                                      fraction=iter([0.0, 0.9]).__next__)
    # Due at once (fraction 0): one kubelet-serving request, its answer put in service.
    assert slept[0] == 0.0
    [request] = signer.requests
    assert request["spec"]["signerName"] == "kubernetes.io/kubelet-serving"  # type: ignore[index]
    [files] = installed
    renewed = files.cert.read_bytes()
    assert renewed != first.cert and files.key.read_bytes() != first.key
    assert pki.identity_of(renewed).user == "system:node:n1"
    assert slept[1] > 0.0  # and the next renewal waits for 90% of the new one's life
