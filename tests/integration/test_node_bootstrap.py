"""A node joins a TLS cluster with only a bootstrap token and gets its own certificate.

Its own etcd, a TLS apiserver with a token-only bootstrap port, and a controller-manager
that approves node client requests and signs with the cluster CA (as kubeadm's
control plane); `jota token create` makes the token; a real jota-node (real Docker)
starts with nothing but a bootstrap kubeconfig, as a provisioning script gives it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jota import pki
from jota.api import errors
from jota.client import kubeconfig
from jota.client.client import Client
from jota.client.kubeconfig import Credentials
from jota.local.docker import remove_managed_containers
from jota.local.processes import (
    Daemon,
    free_port,
    start_apiserver,
    start_controller_manager,
    start_etcd,
    start_node_agent,
)
from tests.integration.conftest import REPO
from tests.integration.node_helpers import container, eventually, pod

NODE = "joiner"
SIGNING_SECONDS = 60


@dataclass
class Cluster:
    apiserver: Daemon
    controller_manager: Daemon
    ca: pki.KeyPair
    root: Path
    bootstrap: str  # the token-only port
    admin: Credentials

    def jota(self, *args: str) -> subprocess.CompletedProcess[str]:
        home = self.root / "admin-home"
        if not (home / "config").exists():
            kubeconfig.write(home / "config", self.apiserver.address, self.admin, name="tls")
        env = {**os.environ, "HOME": str(home), "JOTA_CONFIG": str(home / "config")}
        env.pop("JOTA_SERVER", None)
        return subprocess.run([sys.executable, "-m", "jota.cli.main", *args], env=env,
                              capture_output=True, text=True, timeout=60, cwd=REPO)

    def ok(self, *args: str) -> str:
        done = self.jota(*args)
        assert done.returncode == 0, f"jota {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def client(self, creds: Credentials | None = None) -> Client:
        return Client(self.apiserver.address, credentials=(creds or self.admin).channel(),
                      retries=0)

    def bootstrap_kubeconfig(self, token: str, name: str) -> Path:
        path = self.root / f"{name}-bootstrap.conf"
        kubeconfig.write(path, self.bootstrap, Credentials(self.ca.cert, token=token),
                         name="bootstrap")
        return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("join")
    ca = pki.new_ca()
    serving = pki.issue(ca, "kube-apiserver", hosts=["127.0.0.1", "localhost"], server=True,
                        client=False)
    kubelet_client = pki.issue(ca, pki.APISERVER_KUBELET_CLIENT, organizations=[pki.MASTERS])
    files = {"ca.crt": ca.cert, "ca.key": ca.key, "apiserver.crt": serving.cert,
             "apiserver.key": serving.key, "kubelet-client.crt": kubelet_client.cert,
             "kubelet-client.key": kubelet_client.key}
    for name, data in files.items():
        _write(root / name, data)
    etcd = start_etcd(root / "etcd")
    bootstrap = f"127.0.0.1:{free_port()}"
    api = start_apiserver(etcd.address, root, name="join-apiserver", extra_args=[
        "--tls-cert-file", str(root / "apiserver.crt"),
        "--tls-private-key-file", str(root / "apiserver.key"),
        "--client-ca-file", str(root / "ca.crt"),
        "--kubelet-client-certificate", str(root / "kubelet-client.crt"),
        "--kubelet-client-key", str(root / "kubelet-client.key"),
        "--bootstrap-listen", bootstrap])
    manager_pair = pki.issue(ca, "system:kube-controller-manager")
    kubeconfig.write(root / "controller-manager.conf", api.address,
                     Credentials(ca.cert, manager_pair.cert, manager_pair.key))
    manager = start_controller_manager(api.address, root, name="join-controller-manager",
                                       extra_args=[
        "--kubeconfig", str(root / "controller-manager.conf"), "--leader-elect", "false",
        "--cluster-signing-cert-file", str(root / "ca.crt"),
        "--cluster-signing-key-file", str(root / "ca.key"),
        # Short-lived certificates, so that the joined node rotates its own within a test.
        "--cluster-signing-duration", f"{SIGNING_SECONDS}s"])
    admin = pki.issue(ca, "kubernetes-admin", organizations=[pki.MASTERS])
    try:
        yield Cluster(api, manager, ca, root, bootstrap,
                      Credentials(ca.cert, admin.cert, admin.key))
    finally:
        manager.stop()
        api.stop()
        etcd.stop()
    for daemon in (manager, api):
        assert "Traceback" not in daemon.log.read_text(), daemon.log.read_text()[-4000:]


@pytest.fixture(scope="module")
def joined(cluster: Cluster, test_image: str) -> Iterator[Daemon]:
    """A jota-node given only a bootstrap kubeconfig (token from `jota token create`)."""
    token = cluster.ok("token", "create", "--description", "integration join").strip()
    root = cluster.root / "node"
    daemon = start_node_agent(cluster.apiserver.address, root, node_name=NODE,
                              root_dir=root / "root", timeout=180, extra_args=[
        "--kubeconfig", str(root / "kubelet.conf"),
        "--bootstrap-kubeconfig", str(cluster.bootstrap_kubeconfig(token, NODE)),
        "--cert-dir", str(root / "pki"), "--rotate-server-certificates", "true"])
    yield daemon
    daemon.stop(timeout=30)
    assert "Traceback" not in daemon.log.read_text(), daemon.log.read_text()[-4000:]

    async def cluster_id() -> str:
        async with cluster.client() as c:
            return str((await c.get("namespaces", "kube-system"))["metadata"]["uid"])
    remove_managed_containers(cluster=asyncio.run(cluster_id()))


@pytest.fixture
async def admin(cluster: Cluster) -> AsyncIterator[Client]:
    async with cluster.client() as c:
        yield c


def node_credentials(joined: Daemon) -> Credentials:
    return kubeconfig.load(joined.log.parent / "kubelet.conf")[1]


async def test_the_node_joins_and_is_ready_with_its_own_certificate(
        cluster: Cluster, joined: Daemon, admin: Client) -> None:
    async def ready() -> bool:
        try:
            node = await admin.get("nodes", NODE)
        except errors.NotFound:
            return False
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (node.get("status") or {}).get("conditions") or [])
    await eventually(ready, timeout=120, what="the joined node is Ready")
    creds = node_credentials(joined)
    assert pki.identity_of(creds.cert) == pki.Identity("system:node:joiner", ("system:nodes",))
    pki_dir = joined.log.parent / "pki"
    [key] = pki_dir.glob("jota-node-client-*.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "waiting for the certificate of CSR node-csr-" in joined.log.read_text()
    listed = cluster.ok("get", "csr")
    header, *rows = listed.splitlines()
    assert header.split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION",
                              "CONDITION"]
    [row] = [r.split() for r in rows if r.startswith("node-csr-")]
    assert row[2:] == ["kubernetes.io/kube-apiserver-client-kubelet",
                       row[3], "<none>", "Approved,Issued"]
    assert row[3].startswith("system:bootstrap:")


async def test_the_joined_node_runs_a_pod(cluster: Cluster, joined: Daemon,
                                          admin: Client) -> None:
    await admin.create("pods", pod("on-joiner", container("main", "sleep", "3600"),
                                   node=NODE), "default")

    async def running() -> bool:
        got = await admin.get("pods", "on-joiner", "default")
        return (got.get("status") or {}).get("phase") == "Running"
    try:
        await eventually(running, timeout=120, what="the pod runs on the joined node")
    finally:
        await admin.delete("pods", "on-joiner", "default")

    async def gone() -> bool:
        try:
            await admin.get("pods", "on-joiner", "default")
        except errors.NotFound:
            return True
        return False
    await eventually(gone, timeout=120, what="the joined node stops and removes the pod")


async def test_logs_reach_the_node_once_a_person_approves_its_serving_certificate(
        cluster: Cluster, joined: Daemon, admin: Client) -> None:
    await admin.create("pods", pod("talker", container(
        "main", "sh", "-c", "echo hello from the joined node; sleep 3600"), node=NODE),
        "default")
    try:
        async def running() -> bool:
            got = await admin.get("pods", "talker", "default")
            return (got.get("status") or {}).get("phase") == "Running"
        await eventually(running, timeout=120, what="the pod runs")
        # Self-signed until approved: the apiserver does not trust it.
        assert cluster.jota("logs", "talker").returncode == 1

        async def serving_request() -> str:
            for row in cluster.ok("get", "csr", "--no-headers").splitlines():
                cells = row.split()
                if cells[2:4] == ["kubernetes.io/kubelet-serving", "system:node:joiner"]:
                    return cells[0]
            return ""
        name = await eventually(serving_request, timeout=60, what="a serving request")
        assert cluster.ok("certificate", "approve", name) == \
            f"certificatesigningrequest.certificates.k8s.io/{name} approved\n"

        async def logs() -> bool:
            done = cluster.jota("logs", "talker")
            return done.returncode == 0 and done.stdout == "hello from the joined node\n"
        await eventually(logs, timeout=90, what="jota logs through the signed certificate")
        assert "serving with the certificate the cluster signed" in joined.log.read_text()
    finally:
        await admin.delete("pods", "talker", "default")


async def test_the_joined_node_changes_only_its_own_node(cluster: Cluster, joined: Daemon,
                                                         admin: Client) -> None:
    await admin.create("nodes", {"apiVersion": "v1", "kind": "Node",
                                 "metadata": {"name": "someone-else"}})
    async with cluster.client(node_credentials(joined)) as node:
        await node.patch("nodes", NODE, {"metadata": {"labels": {"joined": "yes"}}})
        with pytest.raises(errors.Forbidden) as caught:
            await node.patch("nodes", "someone-else", {"metadata": {"labels": {"x": "y"}}})
    assert caught.value.code.name == "PERMISSION_DENIED"
    assert "node 'joiner' cannot modify node 'someone-else'" in caught.value.message


async def test_the_node_rotates_its_certificate_with_its_own_identity(
        cluster: Cluster, joined: Daemon, admin: Client) -> None:
    first = node_credentials(joined).cert

    async def rotated() -> bool:
        return node_credentials(joined).cert != first
    await eventually(rotated, timeout=SIGNING_SECONDS * 2, what="a new client certificate")
    renewals = [r.split() for r in cluster.ok("get", "csr", "--no-headers").splitlines()
                if r.split()[2:4] == ["kubernetes.io/kube-apiserver-client-kubelet",
                                      "system:node:joiner"]]
    assert renewals and all(r[-1] == "Approved,Issued" for r in renewals)
    assert "rotated the client certificate" in joined.log.read_text()
    # Still itself, and still heard from: its Lease is renewed with the new certificate.
    assert pki.identity_of(node_credentials(joined).cert).user == "system:node:joiner"
    lease = await admin.get("leases", NODE, "kube-node-lease")
    renewed = lease["spec"]["renewTime"]

    async def renewed_again() -> bool:
        got = await admin.get("leases", NODE, "kube-node-lease")
        return bool(got["spec"]["renewTime"] != renewed)
    await eventually(renewed_again, timeout=60, what="the lease renewed after rotation")


async def test_a_wrong_token_is_refused_until_a_valid_one_is_written(
        cluster: Cluster, admin: Client) -> None:
    root = cluster.root / "stranger"
    root.mkdir()
    log = root / "node.log"
    conf = cluster.bootstrap_kubeconfig("abcdef.0123456789abcdef", "stranger")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "node.agent.main", "--apiserver",
             cluster.apiserver.address, "--node-name", "stranger", "--root-dir",
             str(root / "root"), "--node-ip", "127.0.0.1", "--port", str(free_port()),
             "--metrics-port", "0", "--kubeconfig", str(root / "kubelet.conf"),
             "--bootstrap-kubeconfig", str(conf), "--cert-dir", str(root / "pki")],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
    try:
        async def refused_twice() -> bool:
            return log.read_text().count("the bootstrap token was refused") >= 2
        await eventually(refused_twice, timeout=60, what="the agent logs the refusal")
        assert proc.poll() is None, "the agent must keep trying, not exit"
        assert "(Unauthorized)" in log.read_text()
        assert not (root / "kubelet.conf").exists()
        with pytest.raises(errors.NotFound):
            await admin.get("nodes", "stranger")
        # A fresh token written into the same file lets it in, without a restart.
        token = cluster.ok("token", "create", "--ttl", "10m").strip()
        cluster.bootstrap_kubeconfig(token, "stranger")

        async def registered() -> bool:
            try:
                await admin.get("nodes", "stranger")
            except errors.NotFound:
                return False
            return True
        await eventually(registered, timeout=60, what="the node registers")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text, text


async def test_a_person_approves_or_denies_other_client_certificates(
        cluster: Cluster, admin: Client) -> None:
    def csr(name: str, user: str) -> dict[str, object]:
        request, _ = pki.new_csr(user)
        return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                "metadata": {"name": name},
                "spec": {"request": base64.b64encode(request).decode(),
                         "signerName": "kubernetes.io/kube-apiserver-client",
                         "expirationSeconds": 3600,
                         "usages": ["digital signature", "client auth"],
                         "username": "forged", "groups": ["system:masters"]}}
    await admin.create("certificatesigningrequests", csr("jane", "jane"))
    await admin.create("certificatesigningrequests", csr("mallory", "mallory"))
    made = await admin.get("certificatesigningrequests", "jane")
    assert made["spec"]["username"] == "kubernetes-admin"  # the caller, not the body
    assert made["spec"]["groups"] == ["system:masters", "system:authenticated"]
    assert cluster.ok("get", "csr", "jane", "--no-headers").split()[2:] == [
        "kubernetes.io/kube-apiserver-client", "kubernetes-admin", "60m", "Pending"]

    assert cluster.ok("certificate", "approve", "jane") == \
        "certificatesigningrequest.certificates.k8s.io/jane approved\n"
    assert cluster.ok("certificate", "deny", "mallory") == \
        "certificatesigningrequest.certificates.k8s.io/mallory denied\n"

    async def issued() -> bool:
        got = await admin.get("certificatesigningrequests", "jane")
        return bool((got.get("status") or {}).get("certificate"))
    await eventually(issued, timeout=60, what="the approved request is signed")
    shown = cluster.ok("get", "csr", "jane", "mallory", "--no-headers")
    assert [line.split()[-1] for line in shown.splitlines()] == ["Approved,Issued", "Denied"]
    refused = cluster.jota("certificate", "approve", "mallory")
    assert refused.returncode == 1
    assert "Approved and Denied conditions are mutually exclusive" in refused.stderr


async def test_tokens_are_listed_deleted_and_cleaned_up_when_expired(
        cluster: Cluster, admin: Client) -> None:
    token = cluster.ok("token", "create", "--description", "listed").strip()
    token_id = token.split(".")[0]
    header, *rows = cluster.ok("token", "list").splitlines()
    assert header.split() == ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA",
                              "GROUPS"]
    [row] = [r.split() for r in rows if r.startswith(token)]
    assert row[1] == "24h" and row[3:] == [
        "authentication,signing", "listed", "system:bootstrappers:jota:default-node-token"]
    assert cluster.ok("token", "delete", token_id) == f'bootstrap token "{token_id}" deleted\n'
    assert token not in cluster.ok("token", "list")
    # An expired token's Secret is removed by the controller-manager's tokencleaner.
    short = cluster.ok("token", "create", "--ttl", "2s").strip()

    async def cleaned() -> bool:
        try:
            await admin.get("secrets", f"bootstrap-token-{short[:6]}", "kube-system")
        except errors.NotFound:
            return True
        return False
    await eventually(cleaned, timeout=60, what="the expired token is deleted")
