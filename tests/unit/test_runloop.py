"""The shared run loop: what every per-object controller relies on (runloop.py)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from controlplane.controllers.runloop import ObjectController, run_controller
from jota.api import errors
from jota.api.meta import Obj
from jota.client import RateLimitingQueue, SharedInformerFactory


def secret(name: str, kind: str = "wanted") -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"}}


class Deleter(ObjectController):
    """Deletes every "wanted" Secret it is handed; `fail` is what the delete raises."""

    name = "deleter"

    def __init__(self, factory: SharedInformerFactory) -> None:
        super().__init__(None, factory.informer_for("secrets"), "deleter")  # type: ignore[arg-type]
        self.seen: list[str] = []
        self.fail: Exception | None = None

    def wants(self, obj: Obj) -> bool:
        return obj.get("type") == "wanted"

    async def reconcile(self, key: str, obj: Obj) -> None:
        if self.fail is not None:
            raise self.fail
        self.seen.append(key)


@pytest.fixture
def deleter() -> Deleter:
    return Deleter(SharedInformerFactory(None))  # type: ignore[arg-type]


def test_only_the_objects_it_wants_are_queued(deleter: Deleter) -> None:
    deleter._enqueue(secret("a"))
    deleter._enqueue(secret("b", kind="Opaque"))
    deleter._enqueue(secret("a"))
    assert len(deleter.queue) == 1
    deleter.queue.shut_down()


async def test_an_object_gone_from_the_cache_is_skipped(deleter: Deleter) -> None:
    await deleter.sync("ns/a")
    deleter.informer.store.update(secret("a"))
    await deleter.sync("ns/a")
    assert deleter.seen == ["ns/a"]


async def test_an_object_deleted_while_written_is_done_but_other_errors_are_retried(
        deleter: Deleter) -> None:
    deleter.informer.store.update(secret("a"))
    deleter.fail = errors.NotFound.of("secrets", "a")
    await deleter.sync("ns/a")
    deleter.fail = errors.Conflict.stale("secrets", "a")
    with pytest.raises(errors.Conflict):
        await deleter.sync("ns/a")


class Recorder:
    def __init__(self) -> None:
        self.flushed = False

    async def shutdown(self) -> None:
        self.flushed = True


async def test_the_recorder_is_flushed_when_the_workers_stop() -> None:
    queue = RateLimitingQueue()
    recorder = Recorder()
    synced: list[str] = []

    async def sync(key: str) -> None:
        synced.append(key)

    queue.add("ns/a")
    task = asyncio.ensure_future(run_controller(queue, sync, 2, recorder))  # type: ignore[arg-type]
    while not synced:
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert synced == ["ns/a"]
    assert recorder.flushed
    assert queue.shutting_down()
