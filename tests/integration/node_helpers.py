"""Helpers shared by the node agent's integration tests (test_node*.py).

Pods name their node in spec.nodeName (no scheduler needed); containers use the
locally built busybox image with imagePullPolicy Never unless a test says
otherwise; every wait is on a condition with a generous deadline, so a slow
machine makes the suite slower, not flaky.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import docker

from jota.api import errors
from jota.client.client import Client
from tests.integration.conftest import NODE

IMAGE = "jota/busybox:latest"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 90,
                     what: str = "condition", interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")


def pod(name: str, *containers: dict[str, Any], node: str = NODE, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 2,
                     "containers": list(containers), **spec}}


def container(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "imagePullPolicy": "Never",
            "command": list(command), **extra}


async def get(client: Client, resource: str, name: str, ns: str = "") -> Any:
    try:
        return await client.get(resource, name, ns)
    except errors.NotFound:
        return None


async def status_of(client: Client, name: str, ns: str) -> dict[str, Any]:
    p = await get(client, "pods", name, ns)
    return (p or {}).get("status") or {}


async def phase_and_ready(client: Client, name: str, ns: str) -> tuple[str, list[bool]]:
    status = await status_of(client, name, ns)
    return status.get("phase", ""), [c.get("ready", False)
                                     for c in status.get("containerStatuses") or []]


async def container_status(client: Client, name: str, ns: str,
                           container_name: str = "") -> dict[str, Any]:
    status = await status_of(client, name, ns)
    for cs in status.get("containerStatuses") or []:
        if not container_name or cs.get("name") == container_name:
            return dict(cs)
    return {}


async def wait_running(client: Client, name: str, ns: str, timeout: float = 90) -> None:
    async def running() -> bool:
        phase, ready = await phase_and_ready(client, name, ns)
        return phase == "Running" and bool(ready) and all(ready)

    await eventually(running, timeout=timeout, what=f"pod {name} Running and ready")


async def wait_phase(client: Client, name: str, ns: str, *phases: str,
                     timeout: float = 90) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        status = await status_of(client, name, ns)
        return status if status.get("phase") in phases else None

    result: dict[str, Any] = await eventually(reached, timeout=timeout,
                                              what=f"pod {name} phase in {phases}")
    return result


async def gone(client: Client, name: str, ns: str) -> bool:
    return await get(client, "pods", name, ns) is None


async def events_for(client: Client, name: str, ns: str) -> list[dict[str, Any]]:
    listed = await client.list("events", ns, field_selector=f"involvedObject.name={name}")
    return list(listed.get("items") or [])


def docker_id(cs: dict[str, Any]) -> str:
    return str(cs.get("containerID", "")).removeprefix("docker://")


def docker_logs(container_id: str) -> str:
    """What a container printed, read straight from the Docker engine."""
    engine = docker.from_env()
    try:
        return str(engine.containers.get(container_id).logs().decode(errors="replace"))
    finally:
        engine.close()


def pod_containers(uid: str) -> list[Any]:
    """Every Docker container (sandbox or not, any state) of the pod with this uid."""
    engine = docker.from_env()
    try:
        return list(engine.containers.list(
            all=True, filters={"label": f"io.kubernetes.pod.uid={uid}"}))
    finally:
        engine.close()
