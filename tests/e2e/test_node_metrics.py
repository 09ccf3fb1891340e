"""Each node of `jota local up --nodes 2` serves its own pods' container metrics on its
address, port 10255, as Prometheus scrapes it: over HTTPS with a client certificate of
the cluster's CA, since the local cluster runs TLS (issue E)."""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.error
import urllib.request

import pytest

from jota.api.meta import Obj
from jota.client.client import Client
from jota.local.images import TEST_IMAGE
from tests.e2e.conftest import LocalCluster

W1, W2 = "jota-worker-1", "jota-worker-2"
METRICS_PORT = 10255


def sleeper(name: str, node: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "main", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                "command": ["sleep", "3600"]}]}}


def scraper(cluster: LocalCluster, with_certificate: bool = True) -> ssl.SSLContext:
    """Prometheus' TLS settings, as `jota local up --prometheus` writes them."""
    pki = cluster.state_dir / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if with_certificate:
        context.load_cert_chain(str(pki / "prometheus.crt"), str(pki / "prometheus.key"))
    return context


def get(address: str, path: str, tls: ssl.SSLContext) -> str:
    with urllib.request.urlopen(f"https://{address}:{METRICS_PORT}{path}", timeout=30,
                                context=tls) as r:
        return str(r.read().decode())


async def scrape_until(address: str, path: str, needle: str, tls: ssl.SSLContext,
                       timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(get, address, path, tls)
        if needle in text:
            return text
        await asyncio.sleep(0.5)
    raise AssertionError(f"{needle!r} not in {path} of {address} within {timeout}s")


async def test_each_node_serves_its_own_pods_metrics(local_cluster: LocalCluster,
                                                     client: Client) -> None:
    tls = scraper(local_cluster)
    for name, node in (("metrics-a", W1), ("metrics-b", W2)):
        await client.create("pods", sleeper(name, node), "default")
    try:
        for name, node, other in (("metrics-a", W1, "metrics-b"),
                                  ("metrics-b", W2, "metrics-a")):
            address = local_cluster.node(node).address
            text = await scrape_until(address, "/metrics/cadvisor",
                                      'container="main",cpu="total"', tls)
            ours = [line for line in text.splitlines() if f'pod="{name}"' in line]
            assert any(line.startswith("container_memory_working_set_bytes{")
                       and 'container="main"' in line for line in ours)
            # The pod's traffic is counted once, on its sandbox, from its own namespace.
            assert any(line.startswith("container_network_receive_bytes_total{")
                       and 'container=""' in line and 'interface="eth0"' in line
                       for line in ours)
            assert f'pod="{other}"' not in text  # the other node's pod is not ours
            resource = await asyncio.to_thread(get, address, "/metrics/resource", tls)
            assert f'pod_cpu_usage_seconds_total{{namespace="default",pod="{name}"}}' in resource
            own = await asyncio.to_thread(get, address, "/metrics", tls)
            # Other tests of the session may run pods on the node too: at least ours.
            running = [line for line in own.splitlines()
                       if line.startswith("kubelet_running_pods ")]
            assert running and float(running[0].split()[1]) >= 1, running
    finally:
        for name in ("metrics-a", "metrics-b"):
            await client.delete("pods", name, "default")


async def test_a_scraper_without_a_certificate_is_refused(local_cluster: LocalCluster) -> None:
    anonymous = scraper(local_cluster, with_certificate=False)
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        await asyncio.to_thread(get, local_cluster.node(W1).address, "/metrics", anonymous)
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plaintext: no answer
        await asyncio.to_thread(urllib.request.urlopen,
                                f"http://{local_cluster.node(W1).address}:{METRICS_PORT}/metrics",
                                timeout=10)
