"""Deleting things: namespaces empty before they go; owners take (or leave) dependents."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest

from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon

pytestmark = pytest.mark.usefixtures("controller_manager")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


async def gone(client: Client, resource: str, name: str, namespace: str = "") -> bool:
    try:
        await client.get(resource, name, namespace)
    except errors.NotFound:
        return True
    return False


def cm(name: str, owner: dict | None = None) -> dict:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    if owner:
        obj["metadata"]["ownerReferences"] = [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"]}]
    return obj


async def test_deleting_a_namespace_deletes_its_content_then_itself(client: Client):
    ns = f"gone-{uuid.uuid4().hex[:6]}"
    await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": ns}})
    await client.create("configmaps", cm("a"), ns)
    held = cm("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await client.create("configmaps", held, ns)
    marked = await client.delete("namespaces", ns)
    assert marked["status"]["phase"] == "Terminating"
    with pytest.raises(errors.Forbidden, match="because it is being terminated"):
        await client.create("configmaps", cm("late"), ns)
    await eventually(lambda: gone(client, "configmaps", "a", ns))
    # The namespace waits for the object whose finalizer is still pending.
    await asyncio.sleep(1)
    assert not await gone(client, "namespaces", ns)
    obj = await client.get("configmaps", "held", ns)
    obj["metadata"]["finalizers"] = []
    await client.update("configmaps", obj, ns)
    await eventually(lambda: gone(client, "namespaces", ns))


async def test_background_cascade_deletes_dependents(client: Client, namespace: str):
    owner = await client.create("configmaps", cm("owner"), namespace)
    await client.create("configmaps", cm("dep-1", owner), namespace)
    await client.create("configmaps", cm("dep-2", owner), namespace)
    await client.delete("configmaps", "owner", namespace, propagation_policy="Background")
    assert await gone(client, "configmaps", "owner", namespace)
    await eventually(lambda: gone(client, "configmaps", "dep-1", namespace))
    await eventually(lambda: gone(client, "configmaps", "dep-2", namespace))


async def test_orphan_keeps_dependents_without_the_reference(client: Client, namespace: str):
    owner = await client.create("configmaps", cm("owner"), namespace)
    await client.create("configmaps", cm("dep", owner), namespace)
    await client.delete("configmaps", "owner", namespace, propagation_policy="Orphan")
    await eventually(lambda: gone(client, "configmaps", "owner", namespace))
    dep = await client.get("configmaps", "dep", namespace)
    assert not dep["metadata"].get("ownerReferences")


async def test_foreground_waits_for_dependents(client: Client, namespace: str):
    owner = await client.create("configmaps", cm("owner"), namespace)
    held = cm("dep", owner)
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await client.create("configmaps", held, namespace)
    await client.delete("configmaps", "owner", namespace, propagation_policy="Foreground")

    async def dep_marked() -> bool:
        d = await client.get("configmaps", "dep", namespace)
        return bool(d["metadata"].get("deletionTimestamp"))

    await eventually(dep_marked)
    waiting = await client.get("configmaps", "owner", namespace)
    assert "foregroundDeletion" in waiting["metadata"]["finalizers"]
    dep = await client.get("configmaps", "dep", namespace)
    dep["metadata"]["finalizers"] = []
    await client.update("configmaps", dep, namespace)
    await eventually(lambda: gone(client, "configmaps", "owner", namespace))


async def test_controller_manager_holds_the_lease(client: Client, controller_manager: Daemon):
    async def held() -> bool:
        try:
            lease = await client.get("leases", "kube-controller-manager", "kube-system")
        except errors.NotFound:
            return False
        return bool(lease["spec"].get("holderIdentity"))

    await eventually(held)


def bound_pod(name: str, finalizers: list[str] | None = None) -> dict:
    """A pod already on a node that has no agent: nothing but the test acts on it."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "finalizers": finalizers or []},
           "spec": {"nodeName": "no-agent-here", "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "c", "image": "busybox"}]}}
    if not finalizers:
        del pod["metadata"]["finalizers"]
    return pod


async def test_a_terminating_pod_stays_through_status_updates_until_deleted_with_grace_0(
        client: Client, namespace: str):
    await client.create("pods", bound_pod("graceful"), namespace)
    marked = await client.delete("pods", "graceful", namespace)
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    # Its node reports the containers stopping: the pod is still there afterwards.
    marked["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "False", "reason": "PodTerminating"}]}
    await client.update_status("pods", marked, namespace)
    assert not await gone(client, "pods", "graceful", namespace)
    # Then the node's final delete with grace 0 removes it.
    await client.delete("pods", "graceful", namespace, grace_period_seconds=0)
    assert await gone(client, "pods", "graceful", namespace)


async def test_dropping_the_last_finalizer_of_a_pod_deleted_with_grace_0_removes_it(
        client: Client, namespace: str):
    await client.create("pods", bound_pod("held", ["example.com/hold"]), namespace)
    await client.delete("pods", "held", namespace)
    marked = await client.delete("pods", "held", namespace, grace_period_seconds=0)
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    assert not await gone(client, "pods", "held", namespace)
    await client.patch("pods", "held", {"metadata": {"finalizers": None}}, namespace,
                       patch_type="merge")
    assert await gone(client, "pods", "held", namespace)
