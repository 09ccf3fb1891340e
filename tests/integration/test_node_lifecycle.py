"""Lifecycle against real Docker: grace periods, image pull failures, OOM kills."""

from __future__ import annotations

import time
from typing import Any

import pytest

from jota.client.client import Client
from tests.integration.node_helpers import (
    container,
    container_status,
    events_for,
    eventually,
    gone,
    pod,
    pod_containers,
    status_of,
    wait_phase,
    wait_running,
)

pytestmark = pytest.mark.usefixtures("node_agent")


async def _delete_and_time(client: Client, name: str, ns: str) -> float:
    uid = (await client.get("pods", name, ns))["metadata"]["uid"]
    started = time.monotonic()
    await client.delete("pods", name, ns)
    await eventually(lambda: gone(client, name, ns), timeout=90, what=f"pod {name} deleted",
                     interval=0.1)
    took = time.monotonic() - started
    assert pod_containers(uid) == []
    return took


async def test_a_container_that_handles_sigterm_stops_within_its_grace(client: Client,
                                                                       namespace: str):
    # sh as PID 1 runs its trap once the backgrounded sleep's wait is interrupted.
    script = "trap 'sleep 1; exit 0' TERM; sleep 3600 & wait"
    await client.create("pods", pod("polite", container("main", "sh", "-c", script),
                                    terminationGracePeriodSeconds=60), namespace)
    await wait_running(client, "polite", namespace)
    took = await _delete_and_time(client, "polite", namespace)
    assert took < 40, f"took {took:.1f}s; the grace period is 60s"


async def test_a_container_that_ignores_sigterm_is_killed_after_its_grace(client: Client,
                                                                          namespace: str):
    # sleep as PID 1 has no handler: the kernel drops SIGTERM, only SIGKILL ends it.
    await client.create("pods", pod("stubborn", container("main", "sleep", "3600"),
                                    container("side", "sleep", "3600"),
                                    terminationGracePeriodSeconds=4), namespace)
    await wait_running(client, "stubborn", namespace)
    took = await _delete_and_time(client, "stubborn", namespace)
    assert 3 <= took < 30, f"took {took:.1f}s; the grace period is 4s"
    events = await events_for(client, "stubborn", namespace)
    killing = sorted(e["message"] for e in events if e["reason"] == "Killing")
    assert killing == ["Stopping container main", "Stopping container side"]


async def test_unknown_image_backs_off_and_other_pods_keep_running(client: Client,
                                                                   namespace: str):
    missing = {"name": "main", "image": "jota/does-not-exist:1",
               "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]}
    await client.create("pods", pod("nopull", missing), namespace)
    await client.create("pods", pod("fine", container("main", "sleep", "3600")), namespace)
    seen: dict[str, str] = {}

    async def both_reasons() -> bool:
        cs = await container_status(client, "nopull", namespace)
        waiting = cs.get("state", {}).get("waiting", {})
        if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
            seen.setdefault(waiting["reason"], waiting.get("message", ""))
        return set(seen) == {"ErrImagePull", "ImagePullBackOff"}

    await eventually(both_reasons, what="ErrImagePull then ImagePullBackOff", interval=0.1)
    assert seen["ImagePullBackOff"] == 'Back-off pulling image "jota/does-not-exist:1"'
    assert seen["ErrImagePull"].startswith("Error response from daemon: ")
    status = await status_of(client, "nopull", namespace)
    assert status["phase"] == "Pending" and status["containerStatuses"][0]["ready"] is False
    await wait_running(client, "fine", namespace)
    messages = {(e["reason"], e["message"]) for e in await events_for(client, "nopull",
                                                                       namespace)}
    assert ("Pulling", 'Pulling image "jota/does-not-exist:1"') in messages
    assert ("Failed", "Error: ErrImagePull") in messages
    assert any(reason == "Failed" and m.startswith(
        'Failed to pull image "jota/does-not-exist:1": ') for reason, m in messages)
    assert ("BackOff", 'Back-off pulling image "jota/does-not-exist:1"') in messages


async def test_a_memory_hog_is_oom_killed(client: Client, namespace: str):
    hog = container("hog", "sh", "-c", "x=$(yes | head -c 100000000); echo done",
                    resources={"limits": {"memory": "16Mi"}})
    await client.create("pods", pod("hog", hog, restartPolicy="Never"), namespace)
    status: dict[str, Any] = await wait_phase(client, "hog", namespace, "Failed", "Succeeded")
    assert status["phase"] == "Failed"
    term = status["containerStatuses"][0]["state"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137)
    assert status["qosClass"] == "Burstable"
