"""One etcd watch per resource, fanned out to every client watcher.

As kube-apiserver's cacher: the cache lists a resource once, then follows one
etcd watch, keeping the current objects (to serve lists without touching etcd)
and a window of recent events (so a watcher that resumes from a recent
resourceVersion is replayed what it missed). 100 watchers of pods cost one etcd
watch. A watcher that asks for a version older than the window gets events
straight from etcd (see `rest.py`), or Gone if etcd has compacted it.

Each event is serialized once, however many watchers receive it. As
kube-apiserver's "indexed triggers", a pods watcher that selects one node
(`spec.nodeName=X`, every node agent's) is offered only the events of pods on
that node, so a thousand agents cost a pod event two lookups, not a thousand
selector checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from controlplane.storage import keys
from controlplane.storage.codec import Codec
from controlplane.storage.etcd import DELETE, Etcd, prefix_end
from jota.api import errors
from jota.api.meta import Obj, namespace_of
from jota.api.registry import ResourceType

logger = logging.getLogger(__name__)

Predicate = Callable[[Obj], bool]
TRIGGER_FIELDS = {"pods": "spec.nodeName"}  # resource -> the field watchers are indexed by


def node_name_of(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("nodeName") or "")


@dataclass(slots=True)
class CachedObject:
    obj: Obj
    revision: int
    _body: bytes | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = json.dumps(self.obj, separators=(",", ":")).encode()
        return self._body


@dataclass(slots=True)
class CacheEvent:
    type: str  # ADDED, MODIFIED, DELETED
    current: CachedObject  # for DELETED: the last state, at the deletion's revision
    prev: CachedObject | None

    @property
    def revision(self) -> int:
        return self.current.revision


@dataclass(eq=False)  # identity semantics: watchers live in a set
class Watcher:
    namespace: str
    predicate: Predicate
    after: int  # deliver only events with a revision above this
    bookmarks: bool
    trigger: str | None = None  # the exact value of the cache's trigger field it selects
    queue: asyncio.Queue[tuple[str, bytes] | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=WatchCache.WATCHER_QUEUE))
    closed: bool = False

    def offer(self, event: CacheEvent) -> None:
        if self.closed or event.revision <= self.after:
            return
        if self.namespace and namespace_of(event.current.obj) != self.namespace:
            return
        now = self.predicate(event.current.obj) if event.type != "DELETED" else False
        before = event.prev is not None and self.predicate(event.prev.obj)
        if event.type == "DELETED":
            if self.predicate(event.current.obj):
                self._put("DELETED", event.current.body)
        elif now and before:
            self._put("MODIFIED", event.current.body)
        elif now:
            self._put("ADDED", event.current.body)
        elif before:
            # It no longer matches the selector: to this watcher it is gone.
            gone = dict(event.prev.obj) if event.prev else {}
            gone["metadata"] = {**gone.get("metadata", {}),
                                "resourceVersion": str(event.revision)}
            self._put("DELETED", json.dumps(gone, separators=(",", ":")).encode())

    def _put(self, kind: str, body: bytes) -> None:
        try:
            self.queue.put_nowait((kind, body))
        except asyncio.QueueFull:
            # A watcher too slow to keep up is cut off, as kube-apiserver does; its
            # client resumes from the last resourceVersion it saw.
            logger.warning("closing a watcher that fell behind")
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)
            if self.queue.full():
                # Make room for the end-of-stream marker.
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
                self.queue.put_nowait(None)


class WatchCache:
    HISTORY = 10_000
    WATCHER_QUEUE = 10_000

    def __init__(self, rt: ResourceType, etcd: Etcd, codec: Codec,
                 *, bookmark_interval: float = 30.0) -> None:
        self.rt = rt
        self.etcd = etcd
        self.codec = codec
        self.prefix = keys.resource_prefix(rt)
        self.bookmark_interval = bookmark_interval
        self.objects: dict[bytes, CachedObject] = {}
        # The same objects by namespace, so a namespaced list touches only its own.
        self.by_namespace: dict[str, dict[bytes, CachedObject]] = {}
        self.history: deque[CacheEvent] = deque()
        self.revision = 0  # everything up to here is in `objects`
        self.oldest = 0  # history holds every event after this revision
        self.watchers: set[Watcher] = set()  # all of them
        # The same watchers split for fan-out: those with a trigger value by that value.
        self.trigger_field = TRIGGER_FIELDS.get(rt.plural)
        self.untriggered: set[Watcher] = set()
        self.by_trigger: dict[str, set[Watcher]] = {}
        self.ready = asyncio.Event()
        self._advanced = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"watchcache-{self.rt.plural}"),
                       asyncio.create_task(self._bookmarks(),
                                           name=f"bookmarks-{self.rt.plural}")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close_all()

    def _close_all(self) -> None:
        for w in list(self.watchers):
            w.close()
        self.watchers.clear()
        self.untriggered.clear()
        self.by_trigger.clear()

    # ---- following etcd ----------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                if not self.ready.is_set():
                    await self._relist()
                async for revision, events in self.etcd.watch(self.prefix, self.revision + 1):
                    for ev in events:
                        self._apply(ev.type, ev.kv.key, ev.kv.value, ev.kv.mod_revision,
                                    ev.prev.value if ev.prev else None)
                    # A response without events is a progress notification.
                    await self._advance(self.revision if events else revision)
                    delay = 0.1
            except asyncio.CancelledError:
                raise
            except errors.Gone:
                logger.warning("watch cache fell behind a compaction; relisting",
                               extra={"resource": self.rt.plural})
                self.ready.clear()
                self._close_all()
            except Exception as e:  # etcd down, stream broken: resume where we were
                logger.warning("etcd watch broke: %s; resuming", e,
                               extra={"resource": self.rt.plural})
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)

    async def _relist(self) -> None:
        result = await self.etcd.range(self.prefix, prefix_end(self.prefix))
        self.objects = {}
        self.by_namespace = {}
        for kv in result.kvs:
            self._store(kv.key, CachedObject(
                self.codec.decode(kv.value, kv.key, kv.mod_revision), kv.mod_revision))
        self.history.clear()
        self.oldest = result.revision
        self.ready.set()
        await self._advance(result.revision)

    def _apply(self, kind: str, key: bytes, value: bytes, revision: int,
               prev_value: bytes | None) -> None:
        prev = self.objects.get(key)
        if kind == DELETE:
            if prev is None:
                if prev_value is None:
                    return
                prev = CachedObject(self.codec.decode(prev_value, key, revision), revision)
            self._forget(key, prev)
            last = dict(prev.obj)
            last["metadata"] = {**last.get("metadata", {}), "resourceVersion": str(revision)}
            event = CacheEvent("DELETED", CachedObject(last, revision), prev)
        else:
            current = CachedObject(self.codec.decode(value, key, revision), revision)
            self._store(key, current)
            event = CacheEvent("MODIFIED" if prev else "ADDED", current, prev)
        self.history.append(event)
        if len(self.history) > self.HISTORY:
            self.oldest = self.history.popleft().revision
        self.revision = max(self.revision, revision)
        for w in self._candidates(event):
            w.offer(event)
            if w.closed:
                self._drop(w)

    def _candidates(self, event: CacheEvent) -> list[Watcher]:
        """The watchers that may match: a triggered one only for its own value."""
        if not self.by_trigger:
            return list(self.untriggered)
        values = {node_name_of(event.current.obj)}
        if event.prev is not None:
            values.add(node_name_of(event.prev.obj))
        found = list(self.untriggered)
        for value in values:
            found.extend(self.by_trigger.get(value, ()))
        return found

    def _add(self, w: Watcher) -> None:
        self.watchers.add(w)
        if w.trigger is None:
            self.untriggered.add(w)
        else:
            self.by_trigger.setdefault(w.trigger, set()).add(w)

    def _drop(self, w: Watcher) -> None:
        self.watchers.discard(w)
        if w.trigger is None:
            self.untriggered.discard(w)
            return
        group = self.by_trigger.get(w.trigger)
        if group is not None:
            group.discard(w)
            if not group:
                del self.by_trigger[w.trigger]

    def _store(self, key: bytes, cached: CachedObject) -> None:
        self.objects[key] = cached
        self.by_namespace.setdefault(namespace_of(cached.obj), {})[key] = cached

    def _forget(self, key: bytes, cached: CachedObject) -> None:
        self.objects.pop(key, None)
        bucket = self.by_namespace.get(namespace_of(cached.obj))
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self.by_namespace[namespace_of(cached.obj)]

    async def _advance(self, revision: int) -> None:
        async with self._advanced:
            self.revision = max(self.revision, revision)
            self._advanced.notify_all()

    async def wait_until(self, revision: int, timeout: float = 3.0) -> bool:
        """Wait until the cache has seen `revision`; False on timeout."""
        await asyncio.wait_for(self.ready.wait(), timeout)

        async def fresh() -> None:
            async with self._advanced:
                await self._advanced.wait_for(lambda: self.revision >= revision)
        try:
            await asyncio.wait_for(fresh(), timeout)
            return True
        except TimeoutError:
            return False

    async def _bookmarks(self) -> None:
        while True:
            await asyncio.sleep(self.bookmark_interval)
            self.send_bookmarks()

    def send_bookmarks(self) -> None:
        body = self.bookmark_body(self.revision)
        for w in list(self.watchers):
            if w.bookmarks and not w.closed and self.revision > w.after:
                w._put("BOOKMARK", body)

    def bookmark_body(self, revision: int, *, initial_events_end: bool = False) -> bytes:
        md: dict[str, object] = {"resourceVersion": str(revision)}
        if initial_events_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return json.dumps({"apiVersion": self.rt.api_version, "kind": self.rt.kind,
                           "metadata": md}, separators=(",", ":")).encode()

    # ---- serving -----------------------------------------------------------------------

    def list(self, namespace: str, predicate: Predicate) -> tuple[list[CachedObject], int]:
        pool = self.by_namespace.get(namespace, {}) if namespace else self.objects
        items = [c for _, c in sorted(pool.items()) if predicate(c.obj)]
        return items, self.revision

    def watch(self, namespace: str, predicate: Predicate, after: int, *,
              bookmarks: bool, initial: bool, trigger: str | None = None) -> Watcher:
        """A watcher of events after `after`; with `initial`, first an ADDED per object.

        `trigger`: the value the predicate requires the cache's trigger field
        (TRIGGER_FIELDS) to equal, when it does; it only narrows the fan-out.
        Raises Gone when `after` is older than the window the cache holds: the
        caller then watches etcd directly.
        """
        if self.trigger_field is None:
            trigger = None
        w = Watcher(namespace, predicate, after, bookmarks, trigger)
        if initial:
            items, revision = self.list(namespace, predicate)
            for c in items:
                w._put("ADDED", c.body)
            w.after = revision
        elif after < self.oldest:
            raise errors.Gone.too_old(after)
        else:
            for event in self.history:
                w.offer(event)
        self._add(w)
        return w

    def forget(self, w: Watcher) -> None:
        self._drop(w)
        w.close()
