"""The generic verbs every kind shares, as kube-apiserver's generic registry store.

Create, get, list, update, update-status, patch, delete and watch, with what
Kubernetes does around them: system metadata (uid, creationTimestamp,
generation), defaults then validation (admission), the status subresource,
finalizers and graceful deletion, namespace lifecycle. Storage is reached only
through `Store` (etcd, with optimistic concurrency) and `WatchCache`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from controlplane.apiserver import admission
from controlplane.apiserver import certificates as csr_strategy
from controlplane.apiserver import eviction as eviction_mod
from controlplane.apiserver.allocators import ServiceAllocator, drop_type_dependent_fields
from controlplane.apiserver.watchcache import CachedObject, Predicate, WatchCache
from controlplane.storage import keys
from controlplane.storage.codec import Codec
from controlplane.storage.etcd import DELETE, Etcd
from controlplane.storage.store import Store
from jota.api import errors, patch, strategic
from jota.api.meta import Obj, name_of
from jota.api.registry import RESOURCES, ResourceType, by_plural
from jota.api.selectors import (
    from_label_selector_object,
    parse_field_selector,
    parse_label_selector,
)

logger = logging.getLogger(__name__)

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
SCALABLE = {"deployments", "replicasets", "statefulsets"}


def now_rfc3339(delta: float = 0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _copy(obj: Obj) -> Obj:
    return copy.deepcopy(obj)


def _spec_of(obj: Obj) -> Obj:
    """Everything but metadata and status: what a change of bumps `generation`."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class API:
    """The whole object API over one etcd; the gRPC service is a thin layer on this."""

    def __init__(self, etcd: Etcd, *, codec: Codec | None = None,
                 bookmark_interval: float = 30.0,
                 services: ServiceAllocator | None = None, event_ttl: int = 0) -> None:
        self.etcd = etcd
        self.services = services or ServiceAllocator(etcd)
        self.codec = codec or Codec()
        self.store = Store(etcd, self.codec,
                           ttls={"events": event_ttl} if event_ttl > 0 else None)
        self.caches = {rt.plural: WatchCache(rt, etcd, self.codec,
                                             bookmark_interval=bookmark_interval)
                       for rt in RESOURCES}

    async def start(self) -> None:
        for cache in self.caches.values():
            cache.start()
        await admission.ensure_system_namespaces(self)

    async def stop(self) -> None:
        for cache in self.caches.values():
            await cache.stop()

    # ---- reads ---------------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        return await self.store.get(rt, _ns(rt, namespace), name)

    async def list(self, rt: ResourceType, namespace: str, *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> bytes:
        """A `<Kind>List` document, as JSON bytes (items are not re-serialized)."""
        namespace = _ns(rt, namespace)
        predicate = make_predicate(rt, label_selector, field_selector)
        cache = self.caches[rt.plural]
        metadata: dict[str, object]
        if not limit and not continue_token and await self._cache_serves(cache,
                                                                         resource_version):
            items, revision = cache.list(namespace, predicate)
            metadata = {"resourceVersion": str(revision)}
            bodies = [c.body for c in items]
        else:
            result = await self.store.list(rt, namespace, limit=limit,
                                           continue_token=continue_token)
            matched = [o for o in result.items if predicate(o)]
            metadata = {"resourceVersion": str(result.revision)}
            if result.continue_token:
                metadata["continue"] = result.continue_token
                if result.remaining is not None and not (label_selector or field_selector):
                    metadata["remainingItemCount"] = result.remaining
            bodies = [json.dumps(o, separators=(",", ":")).encode() for o in matched]
        head = json.dumps({"apiVersion": rt.api_version, "kind": f"{rt.kind}List",
                           "metadata": metadata}, separators=(",", ":"))
        # One copy of a possibly large body: the items are already serialized.
        return b"".join((head[:-1].encode(), b',"items":[', b",".join(bodies), b"]}"))

    async def _cache_serves(self, cache: WatchCache, resource_version: str) -> bool:
        """Serve from memory for "any version" (rv=0) or a version the cache has reached.

        A list with no resourceVersion is a consistent read: the cache serves it
        once it has caught up with etcd's current revision (as Kubernetes'
        consistent reads from cache), otherwise etcd does.
        """
        if not cache.ready.is_set():
            return False
        if resource_version == "0":
            return True
        target = int(resource_version) if resource_version.isdigit() else \
            await self.etcd.revision()
        return cache.revision >= target or await cache.wait_until(target, timeout=0.25)

    async def watch(self, rt: ResourceType, namespace: str, *, label_selector: str = "",
                    field_selector: str = "", resource_version: str = "",
                    bookmarks: bool = False,
                    send_initial_events: bool = False) -> AsyncIterator[tuple[str, bytes]]:
        namespace = _ns(rt, namespace)
        predicate = make_predicate(rt, label_selector, field_selector)
        cache = self.caches[rt.plural]
        await cache.ready.wait()
        initial = resource_version in ("", "0")
        after = 0
        if not initial:
            if not resource_version.isdigit():
                raise errors.BadRequest(f'invalid resourceVersion "{resource_version}"')
            after = int(resource_version)
        try:
            watcher = cache.watch(namespace, predicate, after, bookmarks=bookmarks,
                                  initial=initial,
                                  trigger=_trigger(cache, field_selector, rt.kind))
        except errors.Gone:
            # Older than the cache's window: etcd may still have it.
            async for event in self._watch_etcd(rt, namespace, predicate, after):
                yield event
            return
        if initial and send_initial_events and bookmarks:
            watcher._put("BOOKMARK", cache.bookmark_body(watcher.after,
                                                         initial_events_end=True))
        try:
            while (item := await watcher.queue.get()) is not None:
                yield item
        finally:
            cache.forget(watcher)

    async def _watch_etcd(self, rt: ResourceType, namespace: str, predicate: Predicate,
                          after: int) -> AsyncIterator[tuple[str, bytes]]:
        prefix = keys.namespace_prefix(rt, namespace)
        async for _, events in self.etcd.watch(prefix, after + 1, progress_notify=False):
            for ev in events:
                if ev.type == DELETE:
                    if ev.prev is None:
                        continue
                    obj = self.codec.decode(ev.prev.value, ev.kv.key, ev.kv.mod_revision)
                    kind = "DELETED"
                else:
                    obj = self.codec.decode(ev.kv.value, ev.kv.key, ev.kv.mod_revision)
                    kind = "MODIFIED" if ev.prev is not None else "ADDED"
                if predicate(obj):
                    yield kind, CachedObject(obj, ev.kv.mod_revision).body

    # ---- writes --------------------------------------------------------------------------

    async def create(self, rt: ResourceType, namespace: str, obj: Obj, *,
                     dry_run: bool = False) -> Obj:
        obj = admission.check_document(rt, obj)
        md = obj["metadata"]
        if rt.namespaced:
            body_ns = md.get("namespace")
            namespace = namespace or body_ns or "default"
            if body_ns and body_ns != namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request")
            md["namespace"] = namespace
            await admission.check_namespace_open(self, namespace)
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = str(md["generateName"]) + _random_suffix()
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            md.pop(field, None)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_rfc3339()
        if _spec_of(obj):
            md["generation"] = 1
        admission.prepare_for_create(rt, obj)
        await admission.admit(self, rt, obj, None)
        admission.default_and_validate(rt, obj, None)
        if dry_run:
            if rt.plural == "services":
                self.services.check_ranges(obj)
            return obj
        if rt.plural != "services":
            created = await self.store.create(rt, obj)
        else:
            tx = await self.services.on_create(obj)
            try:
                created = await self.store.create(rt, obj)
            except BaseException:
                await tx.rollback()
                raise
        logger.debug("created", extra={"resource": rt.plural, "namespace": namespace,
                                       "object": md["name"]})
        return created

    async def update(self, rt: ResourceType, namespace: str, name: str, obj: Obj, *,
                     dry_run: bool = False, subresource: str = "") -> Obj:
        """Replace an object (spec and metadata, or only status with subresource="status")."""
        obj = admission.check_document(rt, obj)
        namespace = _ns(rt, namespace)
        _check_identity(rt, namespace, name, obj)
        old = await self.store.get(rt, namespace, name)
        rv = obj["metadata"].get("resourceVersion")
        if not rv:
            if subresource in ("status", "approval") or not _allows_unconditional_update(rt):
                raise errors.Invalid.of(rt.kind, name, [errors.invalid(
                    "metadata.resourceVersion", "",
                    "must be specified for an update")])
            rv = old["metadata"]["resourceVersion"]
        if str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.Conflict.stale(rt.qualified, name)
        new = self._merge_update(rt, old, obj, subresource)
        return await self._write_update(rt, old, new, dry_run=dry_run)

    def _merge_update(self, rt: ResourceType, old: Obj, obj: Obj, subresource: str) -> Obj:
        if rt.plural == csr_strategy.RESOURCE:
            if subresource:
                return csr_strategy.merge_update(old, obj, subresource)
            return csr_strategy.merge_update(old, self._merge_generic(rt, old, obj, ""), "")
        return self._merge_generic(rt, old, obj, subresource)

    def _merge_generic(self, rt: ResourceType, old: Obj, obj: Obj, subresource: str) -> Obj:
        if subresource == "status":
            new = _copy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            return new
        new = _copy(obj)
        md, old_md = new["metadata"], old["metadata"]
        for field in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "namespace", "name"):
            if field in old_md:
                md[field] = old_md[field]
            else:
                md.pop(field, None)
        md["resourceVersion"] = old_md["resourceVersion"]
        if rt.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    async def _write_update(self, rt: ResourceType, old: Obj, new: Obj, *,
                            dry_run: bool = False) -> Obj:
        admission.prepare_for_update(rt, new, old)
        await admission.admit(self, rt, new, old)
        if rt.plural == "services":
            drop_type_dependent_fields(new, old)
        admission.default_and_validate(rt, new, old)
        md = new["metadata"]
        if _spec_of(new) != _spec_of(old):
            md["generation"] = int(old["metadata"].get("generation") or 0) + 1
        if new == old:
            return old  # nothing changed: no write, same resourceVersion (as Kubernetes)
        if dry_run:
            if rt.plural == "services":
                self.services.check_ranges(new)
            return new
        if _finalized(rt, new, old):
            return await self._remove(rt, new)
        if rt.plural != "services":
            return await self.store.update(rt, new)
        tx = await self.services.on_update(new, old)
        try:
            updated = await self.store.update(rt, new)
        except BaseException:
            await tx.rollback()
            raise
        await tx.commit()
        return updated

    async def _remove(self, rt: ResourceType, obj: Obj) -> Obj:
        """Delete from etcd; a Service's IPs and ports go back to their ranges."""
        removed = await self.store.delete(rt, obj)
        if rt.plural == "services":
            await self.services.on_delete(removed)
        return removed

    async def patch(self, rt: ResourceType, namespace: str, name: str, patch_type: str,
                    patch_body: bytes, *, dry_run: bool = False,
                    subresource: str = "") -> Obj:
        try:
            doc = json.loads(patch_body)
        except (ValueError, UnicodeDecodeError) as e:
            raise errors.BadRequest(f"the patch is not valid JSON: {e}") from None
        except RecursionError:
            raise errors.BadRequest("the patch is nested too deeply") from None
        namespace = _ns(rt, namespace)
        for _ in range(16):
            old = await self.store.get(rt, namespace, name)
            patched = apply_patch(rt, old, patch_type, doc)
            if not isinstance(patched, dict):
                raise errors.BadRequest("the patch does not produce an object")
            patched = admission.check_document(rt, patched)
            _check_identity(rt, namespace, name, patched)
            # A patch that sets metadata.resourceVersion makes it a precondition; one that
            # leaves it alone carries the version just read, and is simply applied again
            # to the newer object when another writer got in between (as Kubernetes does).
            if patched["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
                raise errors.Conflict.stale(rt.qualified, name)
            new = self._merge_update(rt, old, patched, subresource)
            with contextlib.suppress(errors.Conflict):
                return await self._write_update(rt, old, new, dry_run=dry_run)
        raise errors.Conflict.stale(rt.qualified, name)

    async def delete(self, rt: ResourceType, namespace: str, name: str, *,
                     propagation: str = "", grace_period: int = -1,
                     precondition_rv: str = "", dry_run: bool = False) -> Obj:
        namespace = _ns(rt, namespace)
        admission.check_deletable(rt, name)
        for _ in range(16):
            obj = await self.store.get(rt, namespace, name)
            if precondition_rv and precondition_rv != obj["metadata"]["resourceVersion"]:
                raise errors.Conflict(
                    f'Operation cannot be fulfilled on {rt.qualified} "{name}": '
                    f"Precondition failed: ResourceVersion in precondition: "
                    f"{precondition_rv}, ResourceVersion in object meta: "
                    f"{obj['metadata']['resourceVersion']}")
            new = _mark_for_deletion(rt, obj, propagation, grace_period)
            if dry_run:
                return new or obj
            try:
                if new is None:
                    return await self._remove(rt, obj)
                if new == obj:
                    return obj
                return await self.store.update(rt, new)
            except errors.Conflict:
                continue
        raise errors.Conflict.stale(rt.qualified, name)

    # ---- subresources --------------------------------------------------------------------

    async def bind(self, namespace: str, name: str, binding: Obj) -> Obj:
        """pods/binding: set spec.nodeName once, as the scheduler's commit."""
        target = (binding.get("target") or {}) if isinstance(binding, dict) else {}
        node = target.get("name") if isinstance(target, dict) else None
        if not node or not isinstance(node, str):
            raise errors.Invalid.of("Binding", name, [errors.required("target.name")])
        rt = by_plural("pods")

        async def assign(pod: Obj) -> Obj:
            if pod["metadata"].get("deletionTimestamp"):
                raise errors.Conflict(f'pod {name} is being deleted, cannot be assigned '
                                      f'to a host')
            current = pod.get("spec", {}).get("nodeName")
            if current:
                raise errors.Conflict(f'pod {name} is already assigned to node "{current}"')
            pod.setdefault("spec", {})["nodeName"] = node
            conditions = pod.setdefault("status", {}).setdefault("conditions", [])
            conditions[:] = [c for c in conditions if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True",
                               "lastProbeTime": None,
                               "lastTransitionTime": now_rfc3339()})
            return pod

        return await self.store.guaranteed_update(rt, namespace, name, assign)

    async def evict(self, namespace: str, name: str, eviction: object) -> Obj:
        """pods/eviction: a delete that honours the pod's PodDisruptionBudget."""
        return await eviction_mod.evict(self, namespace, name, eviction, now_rfc3339())

    async def get_scale(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        _check_scalable(rt)
        return _scale_of(rt, await self.get(rt, namespace, name))

    async def update_scale(self, rt: ResourceType, namespace: str, name: str,
                           scale: Obj) -> Obj:
        _check_scalable(rt)
        replicas = (scale.get("spec") or {}).get("replicas") if isinstance(scale, dict) \
            else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.Invalid.of("Scale", name, [errors.invalid(
                "spec.replicas", replicas, "must be greater than or equal to 0")])
        obj = await self.patch(rt, namespace, name, "merge",
                               json.dumps({"spec": {"replicas": replicas}}).encode())
        return _scale_of(rt, obj)


def make_predicate(rt: ResourceType, label_selector: str, field_selector: str) -> Predicate:
    labels = parse_label_selector(label_selector) if label_selector else None
    fields = parse_field_selector(field_selector, rt.kind) if field_selector else None
    if labels is None and fields is None:
        return lambda _obj: True

    def predicate(obj: Obj) -> bool:
        if labels is not None and not labels.matches(
                (obj.get("metadata") or {}).get("labels") or {}):
            return False
        return fields is None or fields.matches(obj)

    return predicate


def _trigger(cache: WatchCache, field_selector: str, kind: str) -> str | None:
    """The value a watch selects the cache's indexed field by (`spec.nodeName=X`), if any."""
    if not field_selector or cache.trigger_field is None:
        return None
    return parse_field_selector(field_selector, kind).exact(cache.trigger_field)


def apply_patch(rt: ResourceType, obj: Obj, patch_type: str, doc: object) -> object:
    if patch_type == "merge":
        return patch.merge_patch(obj, doc)
    if patch_type == "json":
        return patch.json_patch(obj, doc)
    if patch_type in ("strategic", ""):
        return strategic.strategic_merge_patch(obj, doc, rt)
    raise errors.BadRequest(f'unsupported patch type "{patch_type}": use json, merge or '
                            f"strategic")


def _ns(rt: ResourceType, namespace: str) -> str:
    return namespace if rt.namespaced else ""


def _random_suffix() -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # kube's: no vowels, no ambiguous digits
    return "".join(secrets.choice(alphabet) for _ in range(5))


def _allows_unconditional_update(rt: ResourceType) -> bool:
    # As Kubernetes: most kinds accept an update without resourceVersion (last write wins).
    return rt.plural not in ("leases",)


def _check_identity(rt: ResourceType, namespace: str, name: str, obj: Obj) -> None:
    md = obj["metadata"]
    if md.get("name") and md["name"] != name:
        raise errors.BadRequest(
            f'the name of the object ({md["name"]}) does not match the name on the URL '
            f"({name})")
    md["name"] = name
    if rt.namespaced:
        if md.get("namespace") and md["namespace"] != namespace:
            raise errors.BadRequest("the namespace of the provided object does not match "
                                    "the namespace sent on the request")
        md["namespace"] = namespace


def _pending_finalizers(rt: ResourceType, obj: Obj) -> bool:
    if obj["metadata"].get("finalizers"):
        return True
    return rt.plural == "namespaces" and bool((obj.get("spec") or {}).get("finalizers"))


def _mark_for_deletion(rt: ResourceType, obj: Obj, propagation: str,
                       grace_period: int) -> Obj | None:
    """What deleting `obj` means now: None to remove it from etcd at once, or the
    object marked with deletionTimestamp (finalizers pending, or a graceful pod)."""
    new = _copy(obj)
    md = new["metadata"]
    finalizers: list[str] = list(md.get("finalizers") or [])
    if propagation == "Orphan" and ORPHAN not in finalizers:
        finalizers.append(ORPHAN)
    elif propagation == "Foreground" and FOREGROUND not in finalizers:
        finalizers.append(FOREGROUND)
    elif propagation not in ("", "Background", "Orphan", "Foreground"):
        raise errors.BadRequest(f'unsupported propagation policy "{propagation}": use '
                                f"Background, Foreground or Orphan")
    if finalizers != list(md.get("finalizers") or []):
        md["finalizers"] = finalizers
    if rt.plural == "namespaces":
        new.setdefault("status", {})["phase"] = "Terminating"
    if rt.plural == "pods" and (new.get("spec") or {}).get("nodeName"):
        # A pod on a node is deleted gracefully: its node stops the containers and then
        # deletes it with grace 0. Unscheduled pods go at once.
        default = (new.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        grace = default if grace_period < 0 else grace_period
        current = md.get("deletionGracePeriodSeconds")
        if grace > 0 and (current is None or grace < current):
            md["deletionGracePeriodSeconds"] = grace
            md["deletionTimestamp"] = now_rfc3339(grace)
            return new
        if grace > 0:
            return new
    if _pending_finalizers(rt, new):
        if not md.get("deletionTimestamp"):
            md["deletionTimestamp"] = now_rfc3339()
        # Past any grace period now: the update that drops the last finalizer removes it.
        md["deletionGracePeriodSeconds"] = 0
        return new
    return None


def _finalized(rt: ResourceType, new: Obj, old: Obj) -> bool:
    """Whether an update removes the object, as kube-apiserver's shouldDeleteDuringUpdate:
    it drops the last pending finalizer of an object being deleted with no grace period
    left. A pod in its graceful termination stays, whatever is written to it (its node's
    status reports), until its node deletes it with grace 0."""
    md = new["metadata"]
    return (bool(md.get("deletionTimestamp")) and not _pending_finalizers(rt, new)
            and _pending_finalizers(rt, old)
            and not md.get("deletionGracePeriodSeconds"))


def _check_scalable(rt: ResourceType) -> None:
    if rt.plural not in SCALABLE:
        raise errors.NotFound(f"the server could not find the requested resource "
                              f"({rt.qualified}/scale)")


def _scale_of(rt: ResourceType, obj: Obj) -> Obj:
    md = obj["metadata"]
    return {
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": md["name"], "namespace": md.get("namespace", ""),
                     "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion"),
                     "creationTimestamp": md.get("creationTimestamp")},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": str(from_label_selector_object(
                       (obj.get("spec") or {}).get("selector") or {}))},
    }


__all__ = ["API", "apply_patch", "make_predicate", "name_of"]
