"""The shared informer against an in-memory apiserver that tests drive event by event."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import jota.client
from jota.api import errors
from jota.api.meta import Obj, key_of
from jota.client.informer import SharedInformer, SharedInformerFactory, object_of
from jota.client.ratelimit import Backoff
from jota.client.store import (
    NODE_NAME_INDEX,
    DeletedFinalStateUnknown,
    index_by_node_name,
)

pytestmark = pytest.mark.usefixtures("no_task_left_running")

def pod(name: str, node: str = "", phase: str = "Pending") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node} if node else {}, "status": {"phase": phase}}


class FakeAPI:
    """One resource in memory; writes bump the resourceVersion and reach open watches."""

    def __init__(self, *objs: Obj) -> None:
        self.rv = 1
        self.items: dict[str, Obj] = {}
        self.streams: list[asyncio.Queue[tuple[str, Obj] | Exception]] = []
        self.list_calls = 0
        self.list_error: Exception | None = None
        for obj in objs:
            self.apply(obj, notify=False)

    def _stamp(self, obj: Obj) -> Obj:
        self.rv += 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
        return obj

    def apply(self, obj: Obj, notify: bool = True) -> Obj:
        obj = self._stamp(obj)
        kind = "MODIFIED" if key_of(obj) in self.items else "ADDED"
        self.items[key_of(obj)] = obj
        if notify:
            self._send((kind, obj))
        return obj

    def remove(self, name: str, notify: bool = True) -> None:
        obj = self._stamp(self.items.pop(f"default/{name}"))
        if notify:
            self._send(("DELETED", obj))

    def break_watches(self, exc: Exception) -> None:
        self._send(exc)

    def _send(self, step: tuple[str, Obj] | Exception) -> None:
        for q in self.streams:
            q.put_nowait(step)

    async def list(self, resource: str, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", resource_version: str = "") -> Obj:
        self.list_calls += 1
        if self.list_error is not None:
            raise self.list_error
        return {"kind": "PodList", "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self.rv)},
                "items": list(self.items.values())}

    async def watch(self, resource: str, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    allow_bookmarks: bool = True) -> AsyncIterator[tuple[str, Obj]]:
        q: asyncio.Queue[tuple[str, Obj] | Exception] = asyncio.Queue()
        self.streams.append(q)
        try:
            while True:
                step = await q.get()
                if isinstance(step, Exception):
                    raise step
                yield step
        finally:
            self.streams.remove(q)


class Recorder:
    """A handler writing `(name, what, pod names...)` into a shared log."""

    def __init__(self, name: str, log: list[tuple[str, ...]]) -> None:
        self.name = name
        self.log = log

    def on_add(self, obj: Obj) -> None:
        self.log.append((self.name, "add", obj["metadata"]["name"]))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.log.append((self.name, "update", old["metadata"]["name"],
                         old["metadata"].get("resourceVersion", ""),
                         new["metadata"].get("resourceVersion", "")))

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        tomb = "tombstone" if isinstance(obj, DeletedFinalStateUnknown) else "final"
        self.log.append((self.name, "delete", object_of(obj)["metadata"]["name"], tomb))


async def until(cond: Callable[[], bool], timeout: float = 1.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0)


def informer(api: FakeAPI, **kw: Any) -> SharedInformer:
    kw.setdefault("backoff", Backoff(initial=0.001, cap=0.002, jitter=0))
    return SharedInformer(api, "pods", **kw)


async def test_handlers_get_every_event_in_registration_order() -> None:
    api = FakeAPI(pod("a"))
    log: list[tuple[str, ...]] = []
    async with informer(api) as inf:
        inf.add_event_handler(Recorder("h1", log))
        inf.add_event_handler(Recorder("h2", log))
        assert await inf.wait_for_sync(1)
        await until(lambda: bool(api.streams))
        api.apply(pod("b"))
        api.apply(pod("a", node="n1"))
        api.remove("b")
        await until(lambda: len(log) == 8)
    assert log == [
        ("h1", "add", "a"), ("h2", "add", "a"),
        ("h1", "add", "b"), ("h2", "add", "b"),
        ("h1", "update", "a", "2", "4"), ("h2", "update", "a", "2", "4"),
        ("h1", "delete", "b", "final"), ("h2", "delete", "b", "final"),
    ]


async def test_cache_is_updated_before_handlers_run() -> None:
    api = FakeAPI()
    inf = informer(api, indexers={NODE_NAME_INDEX: index_by_node_name})
    seen: list[list[str]] = []
    inf.add_event_handler(on_add=lambda obj: seen.append(
        [p["metadata"]["name"] for p in inf.store.by_index(NODE_NAME_INDEX, "n1")]))
    async with inf:
        await inf.wait_for_sync(1)
        await until(lambda: bool(api.streams))
        api.apply(pod("a", node="n1"))
        await until(lambda: bool(seen))
    assert seen == [["a"]]


async def test_has_synced_only_after_the_first_list() -> None:
    api = FakeAPI(pod("a"))
    api.list_error = errors.ServiceUnavailable("down")
    inf = informer(api)
    assert not inf.has_synced()
    async with inf:
        assert await inf.wait_for_sync(timeout=0.01) is False
        assert not inf.has_synced()
        api.list_error = None
        assert await inf.wait_for_sync(timeout=1) is True
        assert inf.has_synced()
        assert inf.store.list_keys() == ["default/a"]
        assert inf.last_sync_resource_version == "2"


async def test_wait_for_sync_returns_false_once_stopped() -> None:
    api = FakeAPI()
    api.list_error = errors.ServiceUnavailable("down")
    inf = informer(api)
    inf.start()
    waiter = asyncio.create_task(inf.wait_for_sync())
    await asyncio.sleep(0)
    await inf.stop()
    assert await waiter is False


async def test_relist_delivers_changes_missed_and_tombstones() -> None:
    api = FakeAPI(pod("same"), pod("changed"), pod("deleted"))
    log: list[tuple[str, ...]] = []
    async with informer(api) as inf:
        inf.add_event_handler(Recorder("h", log))
        await inf.wait_for_sync(1)
        await until(lambda: bool(api.streams))
        log.clear()
        # While the watch is down, the world moves on without telling us...
        api.apply(pod("changed", phase="Running"), notify=False)
        api.remove("deleted", notify=False)
        api.apply(pod("new"), notify=False)
        api.break_watches(errors.Gone.too_old(2))
        await until(lambda: len(log) == 3)
        assert api.list_calls == 2
        deleted = inf.store.get_by_key("default/deleted")
    assert sorted(log) == [
        ("h", "add", "new"),
        ("h", "delete", "deleted", "tombstone"),
        ("h", "update", "changed", "3", "5"),
    ]
    assert deleted is None


async def test_tombstone_carries_key_and_last_known_state() -> None:
    api = FakeAPI(pod("gone", node="n1"))
    tombstones: list[Any] = []
    async with informer(api) as inf:
        inf.add_event_handler(on_delete=tombstones.append)
        await inf.wait_for_sync(1)
        await until(lambda: bool(api.streams))
        api.remove("gone", notify=False)
        api.break_watches(errors.Gone.too_old(1))
        await until(lambda: bool(tombstones))
    [t] = tombstones
    assert isinstance(t, DeletedFinalStateUnknown)
    assert t.key == "default/gone"
    assert t.obj["spec"] == {"nodeName": "n1"}
    assert jota.client.meta_namespace_key(t) == "default/gone"


async def test_a_failing_handler_is_logged_and_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    api = FakeAPI()
    log: list[tuple[str, ...]] = []

    def boom(obj: Obj) -> None:
        raise RuntimeError("handler bug")

    async with informer(api) as inf:
        inf.add_event_handler(on_add=boom)
        inf.add_event_handler(Recorder("after", log))
        await inf.wait_for_sync(1)
        await until(lambda: bool(api.streams))
        with caplog.at_level(logging.ERROR, logger="jota.client.informer"):
            api.apply(pod("a"))
            api.apply(pod("b"))
            await until(lambda: len(log) == 2)
    assert log == [("after", "add", "a"), ("after", "add", "b")]
    failures = [r for r in caplog.records if r.getMessage() == "event handler failed on add"]
    assert len(failures) == 2
    assert (failures[0].resource, failures[0].namespace, failures[0].object) == (  # type: ignore[attr-defined]
        "pods", "default", "a")


async def test_late_handler_first_sees_whole_cache_as_adds() -> None:
    api = FakeAPI(pod("a"), pod("b"))
    log: list[tuple[str, ...]] = []
    async with informer(api) as inf:
        await inf.wait_for_sync(1)
        inf.add_event_handler(Recorder("late", log))
        assert sorted(log) == [("late", "add", "a"), ("late", "add", "b")]


async def test_resync_redelivers_cached_objects_as_updates() -> None:
    api = FakeAPI(pod("a"))
    log: list[tuple[str, ...]] = []
    async with informer(api, resync_period=0.002) as inf:
        inf.add_event_handler(Recorder("h", log))
        await until(lambda: ("h", "update", "a", "2", "2") in log)
        assert api.list_calls == 1  # resync replays the cache; it does not relist


async def test_filtered_handler_sees_objects_move_in_and_out() -> None:
    api = FakeAPI(pod("scheduled", node="n1"), pod("pending"))
    log: list[tuple[str, ...]] = []
    unassigned = lambda obj: not obj.get("spec", {}).get("nodeName")  # noqa: E731
    async with informer(api) as inf:
        rec = Recorder("sched", log)
        inf.add_event_handler(rec, filter=unassigned)
        await inf.wait_for_sync(1)
        await until(lambda: bool(api.streams))
        api.apply(pod("pending", phase="Pending"))  # stays unassigned: update
        api.apply(pod("pending", node="n2"))  # bound: leaves the filter -> delete
        api.apply(pod("scheduled"))  # unbound: enters the filter -> add
        await until(lambda: len(log) == 4)
    assert [e[:3] for e in log] == [
        ("sched", "add", "pending"),
        ("sched", "update", "pending"),
        ("sched", "delete", "pending"),
        ("sched", "add", "scheduled"),
    ]


async def test_removed_handler_hears_nothing_more() -> None:
    api = FakeAPI()
    log: list[tuple[str, ...]] = []
    async with informer(api) as inf:
        reg = inf.add_event_handler(Recorder("h", log))
        keep = inf.add_event_handler(Recorder("k", log))
        await inf.wait_for_sync(1)
        await until(lambda: bool(api.streams))
        inf.remove_event_handler(reg)
        api.apply(pod("a"))
        await until(lambda: bool(log))
        inf.remove_event_handler(keep)
    assert log == [("k", "add", "a")]


async def test_factory_shares_one_informer_per_resource() -> None:
    api = FakeAPI(pod("a", node="n1"))
    factory = SharedInformerFactory(api)
    pods = factory.informer_for("pods")
    assert factory.informer_for("pods", indexers={NODE_NAME_INDEX: index_by_node_name}) is pods
    assert factory.informer_for("pods", "kube-system") is not pods
    factory.start()
    try:
        assert await factory.wait_for_cache_sync(1) == {"pods": True, "pods/kube-system": True}
        assert pods.store.index_keys(NODE_NAME_INDEX, "n1") == ["default/a"]
    finally:
        await factory.shutdown()


def test_public_names_are_exported() -> None:
    for name in jota.client.__all__:
        assert getattr(jota.client, name) is not None, name
    for name in ("Client", "SharedInformer", "WorkQueue", "RateLimitingQueue",
                 "LeaderElector", "EventRecorder", "DeletedFinalStateUnknown", "Store"):
        assert name in jota.client.__all__
