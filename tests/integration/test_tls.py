"""A TLS apiserver: who gets in, and what a node may touch.

Its own etcd and apiserver (the session's run plaintext); certificates from the same
code `jota local up` uses (jota.pki), the CLI configured through ~/.jota/config.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jota import pki
from jota.api import errors
from jota.client import kubeconfig
from jota.client.client import Client
from jota.client.kubeconfig import Credentials
from jota.local.processes import Daemon, free_port, start_apiserver, start_etcd
from tests.integration.conftest import REPO


@dataclass
class TLSCluster:
    apiserver: Daemon
    ca: pki.KeyPair
    root: Path
    bootstrap: str  # the token-only port

    def creds(self, user: str, *groups: str) -> Credentials:
        pair = pki.issue(self.ca, user, organizations=groups)
        return Credentials(self.ca.cert, pair.cert, pair.key)

    def client(self, creds: Credentials, address: str = "") -> Client:
        return Client(address or self.apiserver.address, credentials=creds.channel(),
                      retries=0)

    def jota(self, creds: Credentials, *args: str) -> subprocess.CompletedProcess[str]:
        home = self.root / f"home-{abs(hash(creds))}"
        kubeconfig.write(home / "config", self.apiserver.address, creds, name="tls")
        env = {"HOME": str(home), "JOTA_CONFIG": str(home / "config"), "PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, "-m", "jota.cli.main", *args], env=env,
                              capture_output=True, text=True, timeout=60, cwd=REPO)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSCluster]:
    root = tmp_path_factory.mktemp("tls")
    ca = pki.new_ca()
    serving = pki.issue(ca, "kube-apiserver", hosts=["127.0.0.1", "localhost"], server=True,
                        client=False)
    files = {"ca.crt": ca.cert, "apiserver.crt": serving.cert, "apiserver.key": serving.key}
    for name, data in files.items():
        (root / name).write_bytes(data)
    etcd = start_etcd(root / "etcd")
    bootstrap = f"127.0.0.1:{free_port()}"
    api = start_apiserver(etcd.address, root, name="tls-apiserver", extra_args=[
        "--tls-cert-file", str(root / "apiserver.crt"),
        "--tls-private-key-file", str(root / "apiserver.key"),
        "--client-ca-file", str(root / "ca.crt"), "--bootstrap-listen", bootstrap])
    try:
        yield TLSCluster(api, ca, root, bootstrap)
    finally:
        api.stop()
        etcd.stop()


def test_the_admin_certificate_works_from_the_cli(tls_cluster: TLSCluster) -> None:
    admin = tls_cluster.creds("admin", pki.MASTERS)
    made = tls_cluster.jota(admin, "create", "namespace", "tls-test")
    assert made.returncode == 0, made.stderr
    assert made.stdout == "namespace/tls-test created\n"
    listed = tls_cluster.jota(admin, "get", "namespaces", "tls-test", "-o", "name")
    assert listed.stdout == "namespace/tls-test\n"


def test_no_certificate_is_refused_as_kubectl_says(tls_cluster: TLSCluster) -> None:
    anonymous = Credentials(tls_cluster.ca.cert)
    refused = tls_cluster.jota(anonymous, "get", "pods")
    assert refused.returncode == 1
    assert refused.stderr == "error: You must be logged in to the server (Unauthorized)\n"


async def test_a_certificate_from_another_ca_does_not_get_in(tls_cluster: TLSCluster) -> None:
    stranger = pki.new_ca("stranger")
    pair = pki.issue(stranger, "admin", organizations=[pki.MASTERS])
    async with tls_cluster.client(Credentials(tls_cluster.ca.cert, pair.cert, pair.key)) \
            as client:
        with pytest.raises(errors.APIError):
            await client.list("namespaces")


async def test_a_node_changes_only_its_own_node(tls_cluster: TLSCluster) -> None:
    admin = tls_cluster.client(tls_cluster.creds("admin", pki.MASTERS))
    node_a = tls_cluster.client(tls_cluster.creds("system:node:a", pki.NODES))
    async with admin, node_a:
        for name in ("a", "b"):
            await admin.create("nodes", {"apiVersion": "v1", "kind": "Node",
                                         "metadata": {"name": name}})
        await node_a.patch("nodes", "a", {"metadata": {"labels": {"seen": "yes"}}})
        with pytest.raises(errors.Forbidden) as caught:
            await node_a.patch("nodes", "b", {"metadata": {"labels": {"seen": "yes"}}})
        assert caught.value.message == (
            'nodes "b" is forbidden: User "system:node:a" cannot patch resource "nodes" in '
            "API group \"\" at the cluster scope: node 'a' cannot modify node 'b'")
        # Reading is fine; secrets of the cluster included (no RBAC yet).
        assert [n["metadata"]["name"] for n in (await node_a.list("nodes"))["items"]] == \
            ["a", "b"]


async def test_a_bootstrap_token_only_asks_for_a_certificate(tls_cluster: TLSCluster) -> None:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    admin = tls_cluster.client(tls_cluster.creds("admin", pki.MASTERS))
    joining = tls_cluster.client(Credentials(tls_cluster.ca.cert,
                                             token="abcdef.0123456789abcdef"),
                                 tls_cluster.bootstrap)
    wrong = tls_cluster.client(Credentials(tls_cluster.ca.cert,
                                           token="abcdef.ffffffffffffffff"),
                               tls_cluster.bootstrap)
    admin_there = tls_cluster.client(tls_cluster.creds("admin", pki.MASTERS),
                                     tls_cluster.bootstrap)
    async with admin, joining, wrong, admin_there:
        await admin.create("secrets", {
            "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": "bootstrap-token-abcdef"},
            "data": {"token-id": b64("abcdef"), "token-secret": b64("0123456789abcdef"),
                     "usage-bootstrap-authentication": b64("true")}}, "kube-system")
        with pytest.raises(errors.Forbidden, match='User "system:bootstrap:abcdef" cannot '
                                                   'list resource "secrets"'):
            await joining.list("secrets", "kube-system")
        with pytest.raises(errors.Unauthorized):
            await wrong.list("secrets", "kube-system")
        # The bootstrap port asks for no certificate: only a token gets in there.
        with pytest.raises(errors.Unauthorized):
            await admin_there.list("secrets", "kube-system")
