"""The shared informer: one list+watch per resource, a cache, and many event handlers.

A controller-manager runs many controllers that all look at pods; one informer per
resource feeds one `Store` and fans every change out to each registered handler,
in registration order, *after* the cache holds the new state (a handler may read
the cache). A handler's exception is logged and the next handler still runs.

What handlers see, as client-go's shared informer:

- `on_add(obj)`: new in the cache (also for every cached object when a handler is
  registered late, so each handler sees the whole world once).
- `on_update(old, new)`: changed; on every resync period also `(obj, obj)` for every
  cached object, so a level-triggered controller re-checks what it may have missed.
- `on_delete(obj)`: gone. After a relist, objects that vanished while the watch was
  down arrive as a `DeletedFinalStateUnknown(key, last_known_obj)` tombstone.

Handlers are plain functions: they should only enqueue a key and return.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from jota.api.meta import Obj, resource_version_of
from jota.client.listwatch import ListerWatcher, ListWatch
from jota.client.ratelimit import Backoff
from jota.client.reflector import Reflector, Sleep
from jota.client.store import (
    DeletedFinalStateUnknown,
    IndexFunc,
    Store,
    meta_namespace_key,
)

logger = logging.getLogger(__name__)

DeletedObj = Obj | DeletedFinalStateUnknown
AddFunc = Callable[[Obj], None]
UpdateFunc = Callable[[Obj, Obj], None]
DeleteFunc = Callable[[DeletedObj], None]
FilterFunc = Callable[[Obj], bool]


class ResourceEventHandler(Protocol):
    def on_add(self, obj: Obj) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: DeletedObj) -> None: ...


def object_of(obj: DeletedObj) -> Obj:
    """The object itself, or the last known state inside a tombstone."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


@dataclass(eq=False)
class HandlerRegistration:
    """One registered handler; pass it to `remove_event_handler` to stop its events.

    With `filter`, as client-go's FilteringResourceEventHandler: an update that moves
    an object into the filter is an add, out of it a delete.
    """

    on_add: AddFunc | None = None
    on_update: UpdateFunc | None = None
    on_delete: DeleteFunc | None = None
    filter: FilterFunc | None = None

    def _passes(self, obj: Obj) -> bool:
        return self.filter is None or self.filter(obj)

    def add(self, obj: Obj) -> None:
        if self.on_add is not None and self._passes(obj):
            self.on_add(obj)

    def update(self, old: Obj, new: Obj) -> None:
        if self.filter is None:
            if self.on_update is not None:
                self.on_update(old, new)
            return
        was, now = self.filter(old), self.filter(new)
        if was and now:
            if self.on_update is not None:
                self.on_update(old, new)
        elif now:
            self.add(new)
        elif was and self.on_delete is not None:
            self.on_delete(old)

    def delete(self, obj: DeletedObj) -> None:
        if self.on_delete is not None and self._passes(object_of(obj)):
            self.on_delete(obj)


class SharedInformer:
    """Lists and watches one resource into `store`, notifying handlers of each change."""

    def __init__(
        self,
        lw: ListerWatcher,
        resource: str,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        resync_period: float = 0.0,
        indexers: dict[str, IndexFunc] | None = None,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.store = Store(indexers=indexers)
        self._handlers: list[HandlerRegistration] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reflector = Reflector(
            ListWatch(lw, resource, namespace, label_selector, field_selector),
            _Processor(self), resync_period=resync_period, backoff=backoff, sleep=sleep,
            name=f"{resource} informer")

    @property
    def indexer(self) -> Store:
        return self.store

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_sync_resource_version

    # -- handlers --

    def add_event_handler(
        self,
        handler: ResourceEventHandler | None = None,
        *,
        on_add: AddFunc | None = None,
        on_update: UpdateFunc | None = None,
        on_delete: DeleteFunc | None = None,
        filter: FilterFunc | None = None,
    ) -> HandlerRegistration:
        """Register a handler (an object with on_add/on_update/on_delete, or functions).

        Registered after the cache has items, it first gets `on_add` for each of them.
        """
        if handler is not None:
            on_add, on_update, on_delete = handler.on_add, handler.on_update, handler.on_delete
        reg = HandlerRegistration(on_add, on_update, on_delete, filter)
        self._handlers.append(reg)
        for obj in self.store.list():
            self._call(reg, "add", obj)
        return reg

    def remove_event_handler(self, reg: HandlerRegistration) -> None:
        if reg in self._handlers:
            self._handlers.remove(reg)

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    # -- lifecycle --

    def has_synced(self) -> bool:
        """True once the first list is in the cache and handlers were told about it."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until synced; False if `timeout` passed first or the informer stopped."""
        if self._synced.is_set():
            return True
        waiter = asyncio.ensure_future(self._synced.wait())
        watched: set[asyncio.Future[Any]] = {waiter}
        if self._task is not None:
            watched.add(self._task)
        try:
            await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            await asyncio.wait([waiter])
        return self._synced.is_set()

    async def run(self) -> None:
        """List and watch until cancelled."""
        await self.reflector.run()

    def start(self) -> asyncio.Task[None]:
        """Run in a background task (idempotent); `stop()` ends it."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer {self.resource}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    async def __aenter__(self) -> SharedInformer:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- delivery --

    def _distribute(self, what: str, *args: object) -> None:
        for reg in list(self._handlers):
            self._call(reg, what, *args)

    def _call(self, reg: HandlerRegistration, what: str, *args: object) -> None:
        try:
            getattr(reg, what)(*args)
        except Exception:
            obj = args[-1]
            key = meta_namespace_key(obj) if isinstance(obj, dict | DeletedFinalStateUnknown) \
                else ""
            ns, _, name = key.rpartition("/")
            logger.exception("event handler failed on %s", what, extra={
                "resource": self.resource, "namespace": ns, "object": name})


class _Processor:
    """The reflector's store: updates the cache, then tells the handlers (a DeltaFIFO
    consumer folded into one step, since asyncio runs it without interleaving)."""

    def __init__(self, informer: SharedInformer) -> None:
        self._inf = informer
        self._store = informer.store

    def add(self, obj: Obj) -> None:
        old = self._store.get(obj)
        self._store.update(obj)
        if old is None:
            self._inf._distribute("add", obj)
        else:
            self._inf._distribute("update", old, obj)

    def update(self, obj: Obj) -> None:
        self.add(obj)

    def delete(self, obj: Obj) -> None:
        old = self._store.get(obj)
        self._store.delete(obj)
        # The event carries the final state; fall back to the cache if it is bare.
        self._inf._distribute("delete", obj if obj.get("metadata") or old is None else old)

    def replace(self, items: list[Obj], resource_version: str) -> None:
        before = {self._store.key_func(o): o for o in self._store.list()}
        self._store.replace(items, resource_version)
        seen: set[str] = set()
        for obj in items:
            key = self._store.key_func(obj)
            seen.add(key)
            old = before.get(key)
            if old is None:
                self._inf._distribute("add", obj)
            elif (resource_version_of(old) != resource_version_of(obj)
                  or not resource_version_of(obj)):
                self._inf._distribute("update", old, obj)
        for key, old in before.items():
            if key not in seen:
                self._inf._distribute("delete", DeletedFinalStateUnknown(key, old))
        self._inf._synced.set()

    def resync(self) -> None:
        for obj in self._store.list():
            self._inf._distribute("update", obj, obj)


SharedIndexInformer = SharedInformer


class SharedInformerFactory:
    """One informer per (resource, namespace), shared by every controller in a process."""

    def __init__(self, lw: ListerWatcher, *, namespace: str = "",
                 resync_period: float = 0.0) -> None:
        self.lw = lw
        self.namespace = namespace
        self.resync_period = resync_period
        self._informers: dict[tuple[str, str], SharedInformer] = {}

    def informer_for(self, resource: str, namespace: str | None = None, *,
                     indexers: dict[str, IndexFunc] | None = None) -> SharedInformer:
        """The shared informer of `resource`; extra `indexers` are added to it."""
        ns = self.namespace if namespace is None else namespace
        inf = self._informers.get((resource, ns))
        if inf is None:
            inf = SharedInformer(self.lw, resource, ns, resync_period=self.resync_period)
            self._informers[(resource, ns)] = inf
        if indexers:
            known = inf.store.indexers()
            new = {k: v for k, v in indexers.items() if k not in known}
            if new:
                inf.add_indexers(new)
        return inf

    def start(self) -> None:
        """Start every informer asked for so far (again after asking for more)."""
        for inf in self._informers.values():
            inf.start()

    async def wait_for_cache_sync(self, timeout: float | None = None) -> dict[str, bool]:
        results = await asyncio.gather(
            *(inf.wait_for_sync(timeout) for inf in self._informers.values()))
        return {f"{r}/{ns}" if ns else r: ok
                for (r, ns), ok in zip(self._informers, results, strict=True)}

    async def shutdown(self) -> None:
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))
