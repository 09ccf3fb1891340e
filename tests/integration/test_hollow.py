"""Hollow nodes: the real agent on the in-memory runtime, many per process."""

from __future__ import annotations

import asyncio
import time

from jota.client.client import Client
from jota.local.processes import Daemon, start_hollow_nodes


async def test_twenty_hollow_nodes_register_and_run_pods(apiserver: Daemon, client: Client,
                                                          namespace: str, tmp_path):
    hollow = start_hollow_nodes(apiserver.address, tmp_path, count=20, prefix="hollow-t-")
    try:
        deadline = time.monotonic() + 120
        while True:
            nodes = (await client.list("nodes", label_selector="jota.io/hollow=true"))["items"]
            ready = [n for n in nodes if n["metadata"]["name"].startswith("hollow-t-") and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n["status"]["conditions"])]
            if len(ready) == 20:
                break
            assert time.monotonic() < deadline, f"{len(ready)} of 20 hollow nodes ready"
            await asyncio.sleep(0.5)
        for i in range(5):
            await client.create("pods", {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"h{i}"},
                "spec": {"nodeName": f"hollow-t-{i * 3}", "containers": [
                    {"name": "c", "image": "jota/busybox:latest"}]}}, namespace)
        while True:
            pods = (await client.list("pods", namespace))["items"]
            running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
            if len(running) == 5:
                break
            assert time.monotonic() < deadline, f"{len(running)} of 5 hollow pods running"
            await asyncio.sleep(0.5)
        assert all(p["status"]["podIP"].startswith("10.88.") for p in running)
    finally:
        hollow.stop()
        for n in range(20):  # leave no nodes behind for other tests to schedule onto
            await client.delete("nodes", f"hollow-t-{n}")
    assert "Traceback" not in hollow.log.read_text()
