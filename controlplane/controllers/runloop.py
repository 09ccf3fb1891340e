"""A controller's run loop, written once.

`run_controller` is the `run` of every queue-driven controller: its workers over its
queue (`run_workers`), and its event recorder flushed when they stop, so events
written just before a shutdown are not lost.

`ObjectController` is the whole loop of a controller of one resource whose objects
are each handled on their own (the csrapproving, csrsigning, csrcleaner and
tokencleaner controllers): every add or update queues the object's key, a worker
reads the object back from the informer's cache (level-triggered: ten updates, one
reconcile) and hands it to `reconcile`. A key gone from the cache is skipped, and so
is an object deleted while `reconcile` wrote it (NotFound), as kube's controllers
return nil on IsNotFound. Controllers that watch several resources or keep
expectations (replicaset, job, ...) keep their own handlers and call `run_controller`.
"""

from __future__ import annotations

from jota.api import errors
from jota.api.meta import Obj
from jota.client import (
    Client,
    EventRecorder,
    RateLimitingQueue,
    SharedInformer,
    meta_namespace_key,
    object_of,
    run_workers,
)
from jota.client.workqueue import SyncFunc


async def run_controller(queue: RateLimitingQueue, sync: SyncFunc, workers: int,
                         recorder: EventRecorder | None = None) -> None:
    """`workers` workers syncing `queue`'s keys until cancelled; then `recorder` flushed."""
    try:
        await run_workers(queue, sync, workers)
    finally:
        if recorder is not None:
            await recorder.shutdown()


class ObjectController:
    """A controller that reconciles each object of one informer's resource by itself.

    Subclasses set `name`, pass their informer and queue name, and write `reconcile`;
    `wants` narrows which objects are queued at all.
    """

    name: str

    def __init__(self, client: Client, informer: SharedInformer, queue_name: str) -> None:
        self.client = client
        self.informer = informer
        self.queue = RateLimitingQueue(queue_name)
        informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new))

    def wants(self, obj: Obj) -> bool:
        """Whether `obj` is this controller's to look at (every object, unless narrowed)."""
        return True

    def _enqueue(self, obj: Obj) -> None:
        obj = object_of(obj)
        if self.wants(obj):
            self.queue.add(meta_namespace_key(obj))

    async def run(self, workers: int = 1) -> None:
        await run_controller(self.queue, self.sync, workers)

    async def sync(self, key: str) -> None:
        obj = self.informer.store.get_by_key(key)
        if obj is None:
            return
        try:
            await self.reconcile(key, obj)
        except errors.NotFound:
            return  # deleted while being written: nothing left to do

    async def reconcile(self, key: str, obj: Obj) -> None:
        """Act on `obj`, the cache's own object: copy it before changing it."""
        raise NotImplementedError
