"""jota-node runs pods in Docker: real etcd, apiserver, dockerd and agent.

There is no scheduler yet (issue C): pods name their node in spec.nodeName.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from jota.api import errors
from jota.client.client import Client
from tests.integration.conftest import NODE

pytestmark = pytest.mark.usefixtures("node_agent")

IMAGE = "jota/busybox:latest"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 90,
                     what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")


def pod(name: str, *containers: dict, **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 2,
                     "containers": list(containers), **spec}}


def container(name: str, *command: str, **extra: Any) -> dict:
    return {"name": name, "image": IMAGE, "imagePullPolicy": "Never",
            "command": list(command), **extra}


async def phase_and_ready(client: Client, name: str, ns: str) -> tuple[str, list[bool]]:
    p = await client.get("pods", name, ns)
    status = p.get("status") or {}
    return status.get("phase", ""), [c.get("ready", False)
                                     for c in status.get("containerStatuses") or []]


async def test_node_registers_with_capacity_and_lease(client: Client):
    node = await eventually(lambda: _get(client, "nodes", NODE), what="node registered")
    status = node["status"]
    assert status["capacity"]["pods"] == "110"
    assert status["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.1"}
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("docker://")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    lease = await eventually(lambda: _get(client, "leases", NODE, "kube-node-lease"),
                             what="lease")
    assert lease["spec"]["holderIdentity"] == NODE


async def _get(client: Client, resource: str, name: str, ns: str = "") -> Any:
    try:
        return await client.get(resource, name, ns)
    except errors.NotFound:
        return None


async def test_a_pod_runs_and_shows_running(client: Client, namespace: str):
    await client.create("pods", pod("one", container("main", "sleep", "3600")), namespace)

    async def running() -> bool:
        phase, ready = await phase_and_ready(client, "one", namespace)
        return phase == "Running" and ready == [True]

    await eventually(running, what="pod Running 1/1")
    p = await client.get("pods", "one", namespace)
    status = p["status"]
    assert status["podIP"] and status["hostIP"] == "127.0.0.1" and status["startTime"]
    cs = status["containerStatuses"][0]
    assert cs["containerID"].startswith("docker://") and "running" in cs["state"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodReadyToStartContainers": "True", "PodScheduled": "True", "Initialized": "True",
        "ContainersReady": "True", "Ready": "True"}


async def test_two_containers_share_localhost(client: Client, namespace: str):
    web = container("web", "httpd", "-f", "-p", "8080", "-h", "/www")
    probe = container("client", "sh", "-c",
                      "while ! wget -q -O /tmp/got http://127.0.0.1:8080/; do sleep 1; done;"
                      " touch /tmp/ok; sleep 3600",
                      readinessProbe={"exec": {"command": ["cat", "/tmp/ok"]},
                                      "periodSeconds": 1})
    await client.create("pods", pod("pair", web, probe), namespace)

    async def both_ready() -> bool:
        phase, ready = await phase_and_ready(client, "pair", namespace)
        return phase == "Running" and ready == [True, True]

    await eventually(both_ready, what="pod Running 2/2")


async def test_crashing_container_backs_off(client: Client, namespace: str):
    await client.create("pods", pod("crash", container("main", "sh", "-c", "exit 3")),
                        namespace)

    async def crashlooping() -> Any:
        p = await client.get("pods", "crash", namespace)
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            waiting = cs.get("state", {}).get("waiting", {})
            if waiting.get("reason") == "CrashLoopBackOff" and cs["restartCount"] >= 1:
                return cs
        return None

    cs = await eventually(crashlooping, what="CrashLoopBackOff")
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert cs["lastState"]["terminated"]["reason"] == "Error"


async def test_deleting_a_pod_stops_its_containers(client: Client, namespace: str,
                                                   docker_engine: str):
    await client.create("pods", pod("bye", container("main", "sleep", "3600")), namespace)
    await eventually(lambda: _running(client, "bye", namespace), what="pod running")
    await client.delete("pods", "bye", namespace)
    await eventually(lambda: _gone(client, "bye", namespace), what="pod deleted", timeout=60)


async def _running(client: Client, name: str, ns: str) -> bool:
    phase, _ = await phase_and_ready(client, name, ns)
    return phase == "Running"


async def _gone(client: Client, name: str, ns: str) -> bool:
    return await _get(client, "pods", name, ns) is None
