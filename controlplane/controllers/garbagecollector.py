"""The garbage collector: ownerReferences decide what goes when an owner goes.

As Kubernetes' garbage collector, with the three propagation policies:
- Background: the owner is deleted at once; a dependent whose owners are all
  gone is then deleted (one still owned by someone else just loses the reference).
- Foreground: the owner waits (finalizer `foregroundDeletion`) while its
  dependents are deleted, foreground too; when none is left, the finalizer goes
  and the apiserver deletes the owner.
- Orphan: the owner waits (finalizer `orphan`) while its references are removed
  from its dependents, which stay.

The decisions are pure functions (`plan_dependent`, `plan_owner`) over objects
read from informers; `GarbageCollector` only watches and carries them out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.api.registry import RESOURCES, ResourceType, by_kind
from jota.client import (
    OWNER_UID_INDEX,
    Client,
    RateLimitingQueue,
    RetryLater,
    SharedInformer,
    SharedInformerFactory,
    index_by_owner_uid,
    object_of,
    run_workers,
)
from jota.client.informer import DeletedObj

logger = logging.getLogger(__name__)

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
UID_INDEX = "uid"


def uid_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def owner_refs(obj: Obj) -> list[Obj]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [r for r in refs if isinstance(r, dict) and r.get("uid")]


def finalizers_of(obj: Obj) -> list[str]:
    return list((obj.get("metadata") or {}).get("finalizers") or [])


@dataclass(frozen=True)
class Plan:
    """What to do with one dependent."""

    delete: str = ""  # "" (keep), "Background" or "Foreground"
    drop_owner_uids: tuple[str, ...] = ()


def plan_dependent(dependent: Obj, owners: dict[str, Obj | None]) -> Plan:
    """Decide a dependent's fate from the state of each of its owners (by uid;
    None = the owner no longer exists)."""
    refs = owner_refs(dependent)
    if not refs or (dependent.get("metadata") or {}).get("deletionTimestamp"):
        return Plan()
    gone = [r["uid"] for r in refs if owners.get(r["uid"]) is None]
    alive = [owners[r["uid"]] for r in refs if owners.get(r["uid"]) is not None]
    waiting_foreground = [o for o in alive if o is not None and
                          (o["metadata"].get("deletionTimestamp") and
                           FOREGROUND in finalizers_of(o))]
    if not alive:
        return Plan(delete="Background")
    if len(waiting_foreground) == len(alive):
        return Plan(delete="Foreground")
    return Plan(drop_owner_uids=tuple(gone)) if gone else Plan()


@dataclass
class OwnerPlan:
    """What to do for an owner being deleted with a GC finalizer."""

    orphan: list[Obj] = field(default_factory=list)  # dependents to drop our reference from
    delete: list[Obj] = field(default_factory=list)  # dependents to delete (foreground)
    waiting: int = 0  # dependents still there: the owner must wait for them
    remove_finalizer: str = ""


def plan_owner(owner: Obj, dependents: list[Obj]) -> OwnerPlan:
    md = owner.get("metadata") or {}
    if not md.get("deletionTimestamp"):
        return OwnerPlan()
    finalizers = finalizers_of(owner)
    if ORPHAN in finalizers:
        return OwnerPlan(orphan=dependents, remove_finalizer=ORPHAN)
    if FOREGROUND in finalizers:
        if not dependents:
            return OwnerPlan(remove_finalizer=FOREGROUND)
        return OwnerPlan(waiting=len(dependents),
                         delete=[d for d in dependents
                                 if not (d.get("metadata") or {}).get("deletionTimestamp")])
    return OwnerPlan()


class DependentsRemaining(RetryLater):
    """A foreground deletion waits for dependents to go: try again later."""


def _index_uid(obj: Obj) -> list[str]:
    uid = uid_of(obj)
    return [uid] if uid else []


class GarbageCollector:
    name = "garbagecollector"

    def __init__(self, client: Client, factory: SharedInformerFactory,
                 resources: tuple[ResourceType, ...] = RESOURCES) -> None:
        self.client = client
        self.queue = RateLimitingQueue("garbagecollector")
        self.informers: dict[str, SharedInformer] = {}
        for rt in resources:
            if rt.plural == "events":
                continue
            inf = factory.informer_for(rt.plural, indexers={
                UID_INDEX: _index_uid, OWNER_UID_INDEX: index_by_owner_uid})
            inf.add_event_handler(on_add=self._observe(rt), on_update=self._observe_update(rt),
                                  on_delete=self._deleted(rt))
            self.informers[rt.plural] = inf

    # Keys are "plural|namespace/name": the queue holds strings, never objects.
    def _observe(self, rt: ResourceType) -> Callable[[Obj], None]:
        def handler(obj: Obj) -> None:
            if owner_refs(obj) or (obj["metadata"].get("deletionTimestamp") and
                                   {FOREGROUND, ORPHAN} & set(finalizers_of(obj))):
                self.queue.add(f"{rt.plural}|{namespace_of(obj)}/{name_of(obj)}")
        return handler

    def _observe_update(self, rt: ResourceType) -> Callable[[Obj, Obj], None]:
        observe = self._observe(rt)
        return lambda _old, new: observe(new)

    def _deleted(self, rt: ResourceType) -> Callable[[DeletedObj], None]:
        def handler(obj: DeletedObj) -> None:
            gone = object_of(obj)
            # Its dependents may now be orphans, and an owner waiting in the foreground
            # for it may now be free to go.
            for plural, dep in self.dependents_of(uid_of(gone)):
                self.queue.add(f"{plural}|{namespace_of(dep)}/{name_of(dep)}")
            for ref in owner_refs(gone):
                for plural, inf in self.informers.items():
                    for owner in inf.store.by_index(UID_INDEX, ref["uid"]):
                        self.queue.add(f"{plural}|{namespace_of(owner)}/{name_of(owner)}")
        return handler

    def dependents_of(self, uid: str) -> list[tuple[str, Obj]]:
        found: list[tuple[str, Obj]] = []
        for plural, inf in self.informers.items():
            found.extend((plural, d) for d in inf.store.by_index(OWNER_UID_INDEX, uid))
        return found

    async def _owner(self, dependent: Obj, ref: Obj) -> Obj | None:
        """The owner a reference names, if it still exists with that uid."""
        for inf in self.informers.values():
            found = inf.store.by_index(UID_INDEX, ref["uid"])
            if found:
                return found[0]
        # Not cached (yet): ask the apiserver, as Kubernetes' GC verifies before deleting.
        try:
            rt = by_kind(str(ref.get("kind", "")), str(ref.get("apiVersion", "")))
        except errors.APIError:
            return None
        try:
            live = await self.client.get(rt.plural, str(ref.get("name", "")),
                                         namespace_of(dependent) if rt.namespaced else "")
        except errors.NotFound:
            return None
        return live if uid_of(live) == ref["uid"] else None

    async def run(self, workers: int = 2) -> None:
        await run_workers(self.queue, self.sync, workers)

    async def sync(self, key: str) -> None:
        plural, _, ref = key.partition("|")
        ns, _, name = ref.rpartition("/")
        try:
            obj = await self.client.get(plural, name, ns)
        except errors.NotFound:
            return
        await self._sync_as_owner(plural, obj)
        await self._sync_as_dependent(plural, obj)

    async def _sync_as_owner(self, plural: str, owner: Obj) -> None:
        dependents = self.dependents_of(uid_of(owner))
        plan = plan_owner(owner, [d for _, d in dependents])
        plural_of = {id(d): p for p, d in dependents}
        for dep in plan.orphan:
            refs = [r for r in owner_refs(dep) if r["uid"] != uid_of(owner)]
            await self._set_owner_refs(plural_of[id(dep)], dep, refs)
        for dep in plan.delete:
            await self._delete(plural_of[id(dep)], dep, "Foreground")
        if plan.waiting:
            raise DependentsRemaining(f"waiting for {plan.waiting} dependents of "
                                      f"{plural}/{name_of(owner)}")
        if plan.remove_finalizer:
            remaining = [f for f in finalizers_of(owner) if f != plan.remove_finalizer]
            patch = {"metadata": {"finalizers": remaining or None,
                                  "resourceVersion": owner["metadata"]["resourceVersion"]}}
            await self.client.patch(plural, name_of(owner), patch, namespace_of(owner),
                                    patch_type="merge")
            logger.info("removed finalizer", extra={
                "resource": plural, "namespace": namespace_of(owner),
                "object": name_of(owner), "finalizer": plan.remove_finalizer})

    async def _sync_as_dependent(self, plural: str, dep: Obj) -> None:
        owners = {r["uid"]: await self._owner(dep, r) for r in owner_refs(dep)}
        plan = plan_dependent(dep, owners)
        if plan.delete:
            await self._delete(plural, dep, plan.delete)
        elif plan.drop_owner_uids:
            refs = [r for r in owner_refs(dep) if r["uid"] not in plan.drop_owner_uids]
            await self._set_owner_refs(plural, dep, refs)

    async def _delete(self, plural: str, dep: Obj, propagation: str) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(plural, name_of(dep), namespace_of(dep),
                                     propagation_policy=propagation,
                                     precondition_resource_version=dep["metadata"]
                                     ["resourceVersion"])
            logger.info("deleted dependent", extra={
                "resource": plural, "namespace": namespace_of(dep), "object": name_of(dep),
                "propagation": propagation})

    async def _set_owner_refs(self, plural: str, dep: Obj, refs: list[Obj]) -> None:
        patch = {"metadata": {"ownerReferences": refs or None,
                              "resourceVersion": dep["metadata"]["resourceVersion"]}}
        with contextlib.suppress(errors.NotFound):
            await self.client.patch(plural, name_of(dep), patch, namespace_of(dep),
                                    patch_type="merge")
