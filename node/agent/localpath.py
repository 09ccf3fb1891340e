"""The node's half of the local-path provisioner: where its volumes live, and
removing them when their PV is deleted.

The agent publishes its base directory (`<root-dir>/local-path`) in the Node
annotation `local-path.jota.io/base-dir`; the provisioner in the
controller-manager makes this node's PVs under it. A PV it provisioned with
reclaimPolicy Delete carries the external-provisioner finalizer, so deleting the
PV (the binder does when its claim is gone) leaves it Terminating until this
node has removed the directory and dropped the finalizer, as k3s's provisioner
runs a helper pod on the node before it lets the PV go. A PV whose policy was
changed to Retain only loses the finalizer; its data stays. Only directories
strictly inside the base directory are ever removed.

A node that is gone for good leaves its PVs Terminating: remove the finalizer by
hand (`jota patch pv NAME -p '{"metadata":{"finalizers":null}}'`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from jota.api import errors
from jota.api.localpath import BASE_DIR_ANNOTATION, FINALIZER, PROVISIONED_BY, PROVISIONER
from jota.api.meta import Obj, annotations_of, name_of
from jota.client import Client, RateLimitingQueue, SharedInformer, run_workers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cleanup:
    remove: str  # the directory to remove ("" for none)
    release: bool  # drop the finalizer


NOTHING = Cleanup("", False)


def node_of(pv: Obj) -> str:
    """The node a local-path PV is pinned to (its hostname nodeAffinity)."""
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") == "kubernetes.io/hostname" and expr.get("operator") == "In":
                values = expr.get("values") or []
                if len(values) == 1:
                    return str(values[0])
    return ""


def inside(path: str, base: Path) -> bool:
    p, b = Path(path).resolve(), base.resolve()
    return p != b and b in p.parents


def plan_cleanup(pv: Obj, node: str, base: Path) -> Cleanup:
    md = pv.get("metadata") or {}
    if not md.get("deletionTimestamp") or FINALIZER not in (md.get("finalizers") or []):
        return NOTHING
    if annotations_of(pv).get(PROVISIONED_BY) != PROVISIONER or node_of(pv) != node:
        return NOTHING
    spec = pv.get("spec") or {}
    path = str((spec.get("hostPath") or {}).get("path") or "")
    if spec.get("persistentVolumeReclaimPolicy") == "Delete" and path and inside(path, base):
        return Cleanup(path, True)
    return Cleanup("", True)


class LocalPathCleaner:
    """Publishes the base directory, then removes the directories of this node's
    deleted Delete-policy PVs."""

    def __init__(self, client: Client, node: str, base: Path) -> None:
        self.client = client
        self.node = node
        self.base = base
        self.queue = RateLimitingQueue("local-path-cleaner")
        self.informer = SharedInformer(client, "persistentvolumes")
        self.informer.add_event_handler(
            on_add=lambda pv: self.queue.add(name_of(pv)),
            on_update=lambda _old, new: self.queue.add(name_of(new)))

    async def publish(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        await self.client.patch("nodes", self.node, {"metadata": {"annotations": {
            BASE_DIR_ANNOTATION: str(self.base.resolve())}}}, patch_type="merge")

    async def run(self) -> None:
        while True:
            try:
                await self.publish()
                break
            except errors.APIError as e:
                logger.warning("cannot publish the local-path directory: %s", e)
                await asyncio.sleep(5)
        self.informer.start()
        try:
            await run_workers(self.queue, self.sync, 1)
        finally:
            await self.informer.stop()

    async def sync(self, name: str) -> None:
        pv = self.informer.store.get_by_key(name)
        if pv is None:
            return
        plan = plan_cleanup(pv, self.node, self.base)
        if plan.remove:
            await asyncio.to_thread(shutil.rmtree, plan.remove, True)
            logger.info("removed a local-path volume", extra={"volume": name,
                                                             "path": plan.remove})
        if plan.release:
            fresh = copy.deepcopy(pv)
            fresh["metadata"]["finalizers"] = [
                f for f in pv["metadata"].get("finalizers") or [] if f != FINALIZER]
            with contextlib.suppress(errors.NotFound):
                await self.client.update("persistentvolumes", fresh)
