"""`jota local up` makes a secure cluster: TLS everywhere, certificates per component,
nodes limited to their own objects, Secrets encrypted in etcd."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from jota import pki
from jota.api import errors
from jota.client import kubeconfig
from jota.client.client import Client
from tests.e2e.conftest import LocalCluster

W1, W2 = "jota-worker-1", "jota-worker-2"
ETCD = "http://127.0.0.1:23790"  # jota.local.controlplane.ETCD_CLIENT_PORT
PASSWORD = "e2e-not-in-clear-text"


def node_pki(lc: LocalCluster, name: str) -> Path:
    """A node's PKI folder, its --cert-dir (as /var/lib/jota/pki on a VM)."""
    return lc.state_dir / "nodes" / name / "pki"


def test_every_node_got_its_certificate_through_a_csr(local_cluster: LocalCluster) -> None:
    """Nodes join as kubeadm join's: a bootstrap token, a CSR the controller-manager
    approved, and a kubeconfig naming the signed certificate in the node's --cert-dir."""
    table = local_cluster.jota("get", "csr")
    assert table.returncode == 0, table.stderr
    conditions = {line.split()[0]: line.split()[-1] for line in table.stdout.splitlines()[1:]}
    listed = local_cluster.jota("get", "csr", "-o", "json")
    signed = {base64.b64decode(c["status"]["certificate"]): c
              for c in json.loads(listed.stdout)["items"]
              if (c.get("status") or {}).get("certificate")}
    for node in local_cluster.nodes:
        folder = node_pki(local_cluster, node.name)
        doc = yaml.safe_load((folder / "kubelet.conf").read_text())
        cert_path = Path(doc["contexts"][0]["context"]["client-certificate"])
        assert cert_path.parent == folder
        cert = cert_path.read_bytes()
        assert pki.identity_of(cert) == pki.Identity(f"system:node:{node.name}",
                                                     (pki.NODES,))
        csr = signed.get(cert)
        assert csr is not None, f"no CSR issued the certificate of {node.name}"
        name = csr["metadata"]["name"]
        assert name.startswith("node-csr-")
        assert csr["spec"]["username"].startswith("system:bootstrap:")
        assert conditions[name] == "Approved,Issued", table.stdout


async def test_a_caller_without_a_certificate_is_refused(local_cluster: LocalCluster) -> None:
    async with Client(local_cluster.apiserver, retries=0, timeout=10) as plaintext:
        with pytest.raises(errors.ServiceUnavailable):
            await plaintext.list("namespaces")
    ca = (local_cluster.state_dir / "pki" / "ca.crt").read_bytes()
    anonymous = kubeconfig.Credentials(ca)
    async with Client(local_cluster.apiserver, retries=0, timeout=10,
                      credentials=anonymous.channel()) as c:
        with pytest.raises(errors.ServiceUnavailable):
            await c.list("namespaces")
    # The user's context has the admin certificate.
    got = local_cluster.jota("get", "namespace", "kube-system", "-o", "name")
    assert got.stdout == "namespace/kube-system\n", got.stderr


async def test_a_node_may_change_only_its_own_node(local_cluster: LocalCluster) -> None:
    server, creds = kubeconfig.load(node_pki(local_cluster, W1) / "kubelet.conf")
    async with Client(server, credentials=creds.channel()) as node:
        await node.patch("nodes", W1, {"metadata": {"labels": {"e2e-own": "yes"}}})
        with pytest.raises(errors.Forbidden, match=f"node '{W1}' cannot modify node '{W2}'"):
            await node.patch("nodes", W2, {"metadata": {"labels": {"e2e-own": "yes"}}})


async def test_secrets_are_encrypted_in_etcd(local_cluster: LocalCluster,
                                             client: Client) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e2e-enc"},
              "data": {"password": base64.b64encode(PASSWORD.encode()).decode()}}
    await client.create("secrets", secret, "default")
    try:
        raw = subprocess.run(["etcdctl", "--endpoints", ETCD, "get",
                              "/registry/secrets/default/e2e-enc", "--print-value-only"],
                             capture_output=True, check=True, timeout=30,
                             env={**os.environ, "ETCDCTL_API": "3"}).stdout
        assert raw.startswith(b"k8s:enc:aesgcm:v1:key1:")
        assert PASSWORD.encode() not in raw
        got = await client.get("secrets", "e2e-enc", "default")
        assert base64.b64decode(got["data"]["password"]).decode() == PASSWORD
        for log in (local_cluster.state_dir / "logs").glob("*.log"):
            assert PASSWORD not in log.read_text(errors="replace"), log
    finally:
        await client.delete("secrets", "e2e-enc", "default")


async def test_the_metrics_api_scrapes_the_nodes_over_https(local_cluster: LocalCluster
                                                            ) -> None:
    """The agents' metrics port asks for a client certificate; the apiserver's metrics
    API presents its own, so `jota top nodes` has figures for every node."""
    deadline = time.monotonic() + 150
    out = ""
    while time.monotonic() < deadline:
        result = local_cluster.jota("top", "nodes", "--no-headers")
        out = result.stdout
        rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line}
        if all(rows.get(n) and rows[n][0].endswith("m") for n in (W1, W2)):
            return
        await asyncio.sleep(3)
    raise AssertionError(f"jota top nodes never showed both nodes' usage:\n{out}")
