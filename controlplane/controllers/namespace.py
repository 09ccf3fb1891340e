"""The namespace controller: a deleted namespace empties, then goes.

Deleting a namespace marks it Terminating (the apiserver keeps it while
`spec.finalizers` holds "kubernetes"). This controller deletes everything in
it, kind by kind, and once nothing is left removes the "kubernetes" finalizer,
upon which the apiserver deletes the namespace itself. Objects that take time to
go (graceful pods, objects with finalizers) make it try again later.
"""

from __future__ import annotations

import logging

from jota.api import errors
from jota.api.meta import Obj, name_of
from jota.api.registry import RESOURCES, ResourceType
from jota.client import (
    Client,
    RateLimitingQueue,
    RetryLater,
    SharedInformerFactory,
    run_workers,
)

logger = logging.getLogger(__name__)

FINALIZER = "kubernetes"
# Deleted first so their controllers stop recreating what is deleted after them.
ORDER = ("deployments", "statefulsets", "daemonsets", "cronjobs", "jobs", "replicasets")


class NamespaceContentRemaining(RetryLater):
    """Objects are still going away: try again after a backoff."""


def deletion_order(resources: tuple[ResourceType, ...] = RESOURCES) -> list[ResourceType]:
    namespaced = [rt for rt in resources if rt.namespaced and rt.plural != "events"]
    first = [rt for p in ORDER for rt in namespaced if rt.plural == p]
    rest = [rt for rt in namespaced if rt not in first]
    # Events last, so the deletions above can still be recorded while the namespace drains.
    return first + rest + [rt for rt in resources if rt.plural == "events"]


def is_terminating(ns: Obj) -> bool:
    return bool((ns.get("metadata") or {}).get("deletionTimestamp"))


def without_finalizer(ns: Obj) -> Obj | None:
    """The namespace with "kubernetes" removed from spec.finalizers, or None if absent."""
    finalizers = list((ns.get("spec") or {}).get("finalizers") or [])
    if FINALIZER not in finalizers:
        return None
    ns.setdefault("spec", {})["finalizers"] = [f for f in finalizers if f != FINALIZER]
    return ns


class NamespaceController:
    name = "namespace"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        self.client = client
        self.informer = factory.informer_for("namespaces")
        self.queue = RateLimitingQueue("namespace")
        self.informer.add_event_handler(on_add=self._enqueue,
                                        on_update=lambda _old, new: self._enqueue(new))

    def _enqueue(self, ns: Obj) -> None:
        if is_terminating(ns):
            self.queue.add(name_of(ns))

    async def run(self, workers: int = 2) -> None:
        await run_workers(self.queue, self.sync, workers)

    async def sync(self, name: str) -> None:
        try:
            ns = await self.client.get("namespaces", name)
        except errors.NotFound:
            return
        if not is_terminating(ns):
            return
        remaining = 0
        for rt in deletion_order():
            listing = await self.client.list(rt.plural, name)
            for obj in listing["items"]:
                remaining += 1
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    await self.client.delete(rt.plural, name_of(obj), name)
                except errors.NotFound:
                    remaining -= 1
        if remaining:
            raise NamespaceContentRemaining(f"{remaining} objects remain in namespace {name}")
        updated = without_finalizer(ns)
        if updated is not None:
            await self.client.update("namespaces", updated)
            logger.info("namespace emptied and finalized", extra={"namespace": name})
