"""The pod garbage collector against the session's control plane.

Nodes here are plain Node objects with no agent behind them, as a machine that died:
nothing would ever finish deleting their pods but the pod GC. The orphan case waits
out kube's fixed 40 s quarantine plus a 20 s check period, so its deadline is long.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon
from tests.integration.node_helpers import eventually

OUT_OF_SERVICE = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown",
                  "effect": "NoExecute"}
HOLD = "jota.example.com/hold"  # a finalizer, so a force-deleted pod can still be read


async def make_node(client: Client, name: str, *, ready: str,
                    taints: list[dict[str, Any]] | None = None) -> None:
    await client.create("nodes", {"apiVersion": "v1", "kind": "Node",
                                  "metadata": {"name": name},
                                  "spec": {"taints": taints} if taints else {}})
    status = {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady"}]}
    await client.patch("nodes", name, {"status": status}, patch_type="merge", status=True)


async def make_pod(client: Client, ns: str, name: str, node: str,
                   finalizers: list[str] | None = None) -> None:
    """A pod its (dead) node once started: bound, Running and Ready."""
    md: dict[str, Any] = {"name": name, **({"finalizers": finalizers} if finalizers else {})}
    await client.create("pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": md,
        "spec": {"nodeName": node, "tolerations": [{"operator": "Exists"}],
                 "containers": [{"name": "c", "image": "jota/busybox:latest",
                                 "imagePullPolicy": "Never"}]}}, ns)
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    await client.patch("pods", name, {"status": status}, ns, patch_type="merge", status=True)


async def delete_node(client: Client, name: str) -> None:
    with contextlib.suppress(errors.NotFound):
        await client.delete("nodes", name)


async def gone(client: Client, ns: str, name: str) -> bool:
    try:
        await client.get("pods", name, ns)
    except errors.NotFound:
        return True
    return False


async def test_terminating_pods_on_an_out_of_service_node_are_force_deleted(
        controller_manager: Daemon, client: Client, namespace: str) -> None:
    node = f"podgc-oos-{uuid.uuid4().hex[:6]}"
    await make_node(client, node, ready="False", taints=[OUT_OF_SERVICE])
    try:
        await make_pod(client, namespace, "stuck", node)
        deleted = await client.delete("pods", "stuck", namespace)
        assert deleted["metadata"].get("deletionTimestamp")  # Terminating: nobody to finish
        await eventually(lambda: gone(client, namespace, "stuck"), timeout=90,
                         what="the terminating pod force-deleted")
    finally:
        await delete_node(client, node)


async def test_pods_of_a_deleted_node_are_failed_and_force_deleted(
        controller_manager: Daemon, client: Client, namespace: str) -> None:
    node = f"podgc-lost-{uuid.uuid4().hex[:6]}"
    await make_node(client, node, ready="True")
    try:
        await make_pod(client, namespace, "orphan", node)
        await make_pod(client, namespace, "held", node, finalizers=[HOLD])
    finally:
        await delete_node(client, node)

    async def held_failed() -> dict[str, Any] | None:
        p = await client.get("pods", "held", namespace)
        return p if p["metadata"].get("deletionTimestamp") else None
    try:
        held = await eventually(held_failed, timeout=180,
                                what="the deleted node's pod force-deleted")
        assert held["metadata"]["deletionGracePeriodSeconds"] == 0
        assert held["status"]["phase"] == "Failed"
        target = next(c for c in held["status"]["conditions"]
                      if c["type"] == "DisruptionTarget")
        assert (target["status"], target["reason"], target["message"]) == (
            "True", "DeletionByPodGC", "PodGC: node no longer exists")
        await eventually(lambda: gone(client, namespace, "orphan"), timeout=60,
                         what="the orphaned pod gone")
    finally:
        await client.patch("pods", "held", {"metadata": {"finalizers": None}}, namespace,
                           patch_type="merge")
    await eventually(lambda: gone(client, namespace, "held"), timeout=30,
                     what="the held pod gone once its finalizer is removed")
