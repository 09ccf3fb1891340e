"""Evictions honour PodDisruptionBudgets: the disruption controller keeps the budget's
status, the apiserver's pods/eviction refuses with 429 while it allows nothing, and
`jota drain` retries until it does.

Pods run on a hollow node (the real agent on the in-memory runtime), so they become
Running and Ready, and go away when evicted, as on a real node.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon, start_hollow_nodes
from tests.integration.conftest import CLI
from tests.integration.node_helpers import eventually

VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture
def hollow_node(apiserver: Daemon, tmp_path: Path) -> Iterator[str]:
    prefix = f"hollow-ev{uuid.uuid4().hex[:4]}-"
    daemon = start_hollow_nodes(apiserver.address, tmp_path, count=1, prefix=prefix)
    try:
        yield f"{prefix}0"
    finally:
        daemon.stop()
        asyncio.run(_delete_node(apiserver.address, f"{prefix}0"))
        assert "Traceback" not in daemon.log.read_text()


async def _delete_node(server: str, name: str) -> None:
    async with Client(server) as c:
        with contextlib.suppress(errors.NotFound):
            await c.delete("nodes", name)


def replicaset(node: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "nodeName": node, "terminationGracePeriodSeconds": 1,
                         "tolerations": [{"operator": "Exists"}],
                         "containers": [{"name": "c", "image": "jota/busybox:latest"}]}}}}


def budget(min_available: int | str) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": min_available,
                     "selector": {"matchLabels": {"app": "web"}}}}


def _ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or [])


async def test_eviction_waits_for_the_disruption_budget(
        controller_manager: Daemon, client: Client, namespace: str, jota: CLI,
        hollow_node: str) -> None:
    await client.create("replicasets", replicaset(hollow_node, 2), namespace)

    async def ready_pods() -> list[dict[str, Any]]:
        pods = (await client.list("pods", namespace))["items"]
        ready = [p for p in pods if _ready(p)]
        return ready if len(ready) == 2 else []
    pods = await eventually(ready_pods, 90, "2 ready pods")
    await client.create("poddisruptionbudgets", budget(2), namespace)

    async def status() -> dict[str, Any] | None:
        st = (await client.get("poddisruptionbudgets", "web", namespace)).get("status") or {}
        return st if st.get("observedGeneration") and st.get("currentHealthy") == 2 else None
    st = await eventually(status, 60, "the budget's status")
    assert (st["currentHealthy"], st["desiredHealthy"], st["expectedPods"],
            st["disruptionsAllowed"]) == (2, 2, 2, 0)
    assert [(c["type"], c["status"], c["reason"]) for c in st["conditions"]] == [
        ("DisruptionAllowed", "False", "InsufficientPods")]

    # The subresource itself: 429 TooManyRequests, nothing deleted.
    victim = pods[0]["metadata"]["name"]
    with pytest.raises(errors.TooManyRequests) as e:
        await client.evict(victim, namespace)
    assert e.value.message == VIOLATION
    assert (await client.get("pods", victim, namespace))["metadata"].get(
        "deletionTimestamp") is None

    # drain retries every 5 s, and gives up at its timeout.
    r = jota("drain", hollow_node, "--timeout", "7s")
    assert r.code == 1
    assert r.out.startswith(f"node/{hollow_node} cordoned\nevicting pod {namespace}/")
    for p in pods:  # both pods are evicted at once, and both refused
        assert (f'error when evicting pods/"{p["metadata"]["name"]}" -n "{namespace}" (will '
                f"retry after 5s): {VIOLATION}\n") in r.err
    assert "global timeout reached: 7s" in r.err
    assert len(await ready_pods()) == 2

    # Once the budget allows one disruption, drain evicts both, one after the other
    # (the ReplicaSet's replacement becomes ready in between).
    drain = jota.popen("drain", hollow_node, "--timeout", "120s")
    await asyncio.sleep(1)
    await client.patch("poddisruptionbudgets", "web", {"spec": {"minAvailable": 1}},
                       namespace, patch_type="merge")
    out, err = await asyncio.to_thread(drain.communicate, timeout=150)
    assert drain.returncode == 0, err
    names = sorted(p["metadata"]["name"] for p in pods)
    for name in names:
        assert f"evicting pod {namespace}/{name}\n" in out
        assert f"pod/{name} evicted\n" in out
    assert out.startswith(f"node/{hollow_node} already cordoned\n")
    assert out.endswith(f"node/{hollow_node} drained\n")
    for name in names:
        with pytest.raises(errors.NotFound):
            await client.get("pods", name, namespace)
    await client.delete("replicasets", "web", namespace)
