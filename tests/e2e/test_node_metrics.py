"""Each node of `jota local up --nodes 2` serves its own pods' container metrics on its
address, at kubelet's read-only port, as Prometheus would scrape it (issue E)."""

from __future__ import annotations

import asyncio
import time
import urllib.request

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


def get(address: str, path: str) -> str:
    with urllib.request.urlopen(f"http://{address}:{METRICS_PORT}{path}", timeout=30) as r:
        return r.read().decode()


async def scrape_until(address: str, path: str, needle: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(get, address, path)
        if needle in text:
            return text
        await asyncio.sleep(0.5)
    raise AssertionError(f"{needle!r} not in {path} of {address} within {timeout}s")


async def test_each_node_serves_its_own_pods_metrics(local_cluster: LocalCluster,
                                                     client: Client) -> None:
    for name, node in (("metrics-a", W1), ("metrics-b", W2)):
        await client.create("pods", sleeper(name, node), "default")
    try:
        for name, node, other in (("metrics-a", W1, "metrics-b"),
                                  ("metrics-b", W2, "metrics-a")):
            address = local_cluster.node(node).address
            text = await scrape_until(address, "/metrics/cadvisor",
                                      'container="main",cpu="total"')
            ours = [line for line in text.splitlines() if f'pod="{name}"' in line]
            assert any(line.startswith("container_memory_working_set_bytes{")
                       and 'container="main"' in line for line in ours)
            # The pod's traffic is counted once, on its sandbox, from its own namespace.
            assert any(line.startswith("container_network_receive_bytes_total{")
                       and 'container=""' in line and 'interface="eth0"' in line
                       for line in ours)
            assert f'pod="{other}"' not in text  # the other node's pod is not ours
            resource = await asyncio.to_thread(get, address, "/metrics/resource")
            assert f'pod_cpu_usage_seconds_total{{namespace="default",pod="{name}"}}' in resource
            own = await asyncio.to_thread(get, address, "/metrics")
            # Other tests of the session may run pods on the node too: at least ours.
            running = [line for line in own.splitlines()
                       if line.startswith("kubelet_running_pods ")]
            assert running and float(running[0].split()[1]) >= 1, running
    finally:
        for name in ("metrics-a", "metrics-b"):
            await client.delete("pods", name, "default")
