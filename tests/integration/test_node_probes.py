"""Probes against real containers: liveness restarts, readiness flips Ready."""

from __future__ import annotations

from typing import Any

import pytest

from jota.client.client import Client
from tests.integration.node_helpers import (
    container,
    container_status,
    events_for,
    eventually,
    pod,
    status_of,
    wait_running,
)

pytestmark = pytest.mark.usefixtures("node_agent")


async def test_failing_liveness_probe_restarts_the_container(client: Client, namespace: str):
    # Healthy for ~2 s after each start, then the file goes and the probe fails.
    script = "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 3600"
    probe = {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1,
             "failureThreshold": 1}
    await client.create("pods", pod("liveness", container("main", "sh", "-c", script,
                                                          livenessProbe=probe)), namespace)

    async def restarted() -> dict[str, Any] | None:
        cs = await container_status(client, "liveness", namespace)
        return cs if cs.get("restartCount", 0) >= 1 else None

    cs = await eventually(restarted, what="a restart after the liveness failure")
    assert cs["lastState"]["terminated"]["exitCode"] == 137

    async def unhealthy() -> list[dict[str, Any]]:
        return [e for e in await events_for(client, "liveness", namespace)
                if e["reason"] in ("Unhealthy", "Killing")]

    async def both() -> bool:
        return {e["reason"] for e in await unhealthy()} == {"Unhealthy", "Killing"}

    await eventually(both, timeout=30, what="Unhealthy and Killing events")
    by_reason = {e["reason"]: e for e in await unhealthy()}
    assert by_reason["Unhealthy"]["type"] == "Warning"
    assert by_reason["Unhealthy"]["message"].startswith(
        "Liveness probe failed: cat: can't open '/tmp/alive'")
    assert by_reason["Killing"]["message"] == \
        "Container main failed liveness probe, will be restarted"


async def test_readiness_probe_flips_ready(client: Client, namespace: str):
    # Not ready for 3 s, ready for 6 s, then not ready again; the container keeps running.
    script = "sleep 3; touch /tmp/ready; sleep 6; rm /tmp/ready; sleep 3600"
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}
    await client.create("pods", pod("readiness", container("main", "sh", "-c", script,
                                                           readinessProbe=probe)), namespace)

    async def ready_is(value: str) -> bool:
        status = await status_of(client, "readiness", namespace)
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        cs = (status.get("containerStatuses") or [{}])[0]
        return (status.get("phase") == "Running" and conditions.get("Ready") == value
                and conditions.get("ContainersReady") == value
                and cs.get("ready") is (value == "True"))

    await eventually(lambda: ready_is("False"), what="running, not ready yet")
    await wait_running(client, "readiness", namespace)
    await eventually(lambda: ready_is("False"), what="not ready again")
    cs = await container_status(client, "readiness", namespace)
    assert cs["restartCount"] == 0 and "running" in cs["state"]
    ready = {c["type"]: c for c in (await status_of(client, "readiness", namespace))[
        "conditions"]}["Ready"]
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [main]"
