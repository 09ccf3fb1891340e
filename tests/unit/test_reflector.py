"""The reflector against a scripted in-memory apiserver: lists, watches, recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from jota.api import errors
from jota.api.meta import Obj
from jota.client.listwatch import ListWatch
from jota.client.ratelimit import Backoff
from jota.client.reflector import Reflector
from jota.client.store import Store

pytestmark = pytest.mark.usefixtures("no_task_left_running")

def pod(name: str, rv: str, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": rv},
            "spec": dict(spec)}


def pod_list(rv: str, *items: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": rv},
            "items": list(items)}


Step = tuple[str, Obj] | Exception
Script = list[Step]  # `FakeLW.list` shadows the builtin in its class body


class FakeLW:
    """A ListerWatcher whose list answers and watch streams are scripted in order.

    A stream script is a list of events and exceptions (raised where they stand);
    once a stream's script ends it closes cleanly, unless it is the last one, which
    then stays open (an idle server) until the reflector is cancelled.
    """

    def __init__(self, lists: list[Obj | Exception], streams: list[list[Step]]) -> None:
        self.lists = list(lists)
        self.streams = list(streams)
        self.list_calls: list[dict[str, Any]] = []
        self.watch_calls: list[dict[str, Any]] = []
        self.open_streams = 0
        self.closed_streams = 0

    async def list(self, resource: str, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", resource_version: str = "") -> Obj:
        self.list_calls.append({"resource": resource, "namespace": namespace,
                                "label_selector": label_selector,
                                "resource_version": resource_version})
        answer = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def watch(self, resource: str, namespace: str = "", *, resource_version: str = "",
              label_selector: str = "", field_selector: str = "",
              allow_bookmarks: bool = True) -> AsyncIterator[tuple[str, Obj]]:
        self.watch_calls.append({"resource_version": resource_version,
                                 "allow_bookmarks": allow_bookmarks})
        last = len(self.streams) <= 1
        script = self.streams.pop(0) if self.streams else []
        return self._stream(script, hang=last)

    async def _stream(self, script: Script, hang: bool) -> AsyncIterator[tuple[str, Obj]]:
        self.open_streams += 1
        try:
            for step in script:
                await asyncio.sleep(0)
                if isinstance(step, Exception):
                    raise step
                yield step
            if hang:
                await asyncio.Event().wait()
        finally:
            self.closed_streams += 1


class CountingStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.resyncs = 0

    def resync(self) -> None:
        self.resyncs += 1


async def until(cond: Callable[[], bool], timeout: float = 1.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0)


class Run:
    """A reflector running in a task, with a recording fake sleep."""

    def __init__(self, lw: FakeLW, store: Store | None = None, **kw: Any) -> None:
        self.lw = lw
        self.store = store if store is not None else Store()
        self.delays: list[float] = []
        self.reflector = Reflector(
            ListWatch(lw, "pods", "default"), self.store,
            backoff=Backoff(initial=0.001, cap=0.004, jitter=0.0), sleep=self._sleep, **kw)

    async def _sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)

    async def __aenter__(self) -> Run:
        self.task = asyncio.create_task(self.reflector.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        await asyncio.wait([self.task])
        assert self.task.cancelled()


async def test_lists_then_watches_from_the_lists_resource_version() -> None:
    lw = FakeLW([pod_list("10", pod("a", "5"), pod("b", "6"))], [[
        ("ADDED", pod("c", "11")),
        ("MODIFIED", pod("a", "12", nodeName="n1")),
        ("DELETED", pod("b", "13")),
        ("BOOKMARK", {"kind": "Pod", "metadata": {"resourceVersion": "20"}}),
    ]])
    async with Run(lw) as run:
        await until(lambda: run.reflector.last_sync_resource_version == "20")
        assert lw.list_calls == [{"resource": "pods", "namespace": "default",
                                  "label_selector": "", "resource_version": ""}]
        assert lw.watch_calls == [{"resource_version": "10", "allow_bookmarks": True}]
        assert sorted(run.store.list_keys()) == ["default/a", "default/c"]
        assert run.store.get_by_key("default/a") == pod("a", "12", nodeName="n1")
        assert run.delays == []
    assert lw.closed_streams == lw.open_streams == 1


async def test_gone_relists_and_replaces_the_store() -> None:
    lw = FakeLW(
        [pod_list("10", pod("a", "5")), pod_list("30", pod("b", "25"))],
        [[("ADDED", pod("x", "11")), errors.Gone.too_old(11)], []],
    )
    async with Run(lw) as run:
        await until(lambda: len(lw.watch_calls) == 2)
        assert len(lw.list_calls) == 2
        assert run.store.list_keys() == ["default/b"]
        assert lw.watch_calls[1]["resource_version"] == "30"
        assert run.store.last_sync_resource_version == "30"


async def test_error_event_410_relists() -> None:
    status = {"kind": "Status", "code": 410, "reason": "Expired",
              "message": "too old resource version: 3"}
    lw = FakeLW([pod_list("10"), pod_list("40")], [[("ERROR", status)], []])
    async with Run(lw) as run:
        await until(lambda: len(lw.watch_calls) == 2)
        assert [c["resource_version"] for c in lw.watch_calls] == ["10", "40"]
        assert run.reflector.lists == 2


async def test_gone_right_after_each_list_backs_off_between_relists() -> None:
    lw = FakeLW([pod_list("10")], [[errors.Gone.too_old(10)], [errors.Gone.too_old(10)], []])
    async with Run(lw) as run:
        await until(lambda: len(lw.watch_calls) == 3)
        assert len(lw.list_calls) == 3
        assert run.delays == pytest.approx([0.001, 0.002])


@pytest.mark.parametrize(
    "failure",
    [
        errors.ServiceUnavailable("the connection to the server was refused"),
        errors.InternalError("stream reset"),
        ConnectionResetError("broken pipe"),
    ],
)
async def test_broken_stream_rewatches_from_last_rv_with_backoff(failure: Exception) -> None:
    lw = FakeLW([pod_list("10")], [
        [("ADDED", pod("a", "11")), failure],
        [failure],
        [failure],
        [failure],
        [("ADDED", pod("b", "15"))],
    ])
    async with Run(lw) as run:
        await until(lambda: "default/b" in run.store)
        assert len(lw.list_calls) == 1  # nothing was lost: no relist
        assert [c["resource_version"] for c in lw.watch_calls] == ["10", "11", "11", "11", "11"]
        assert run.delays == pytest.approx([0.001, 0.002, 0.004, 0.004])  # capped
        assert "default/a" in run.store


async def test_failed_list_is_retried_with_backoff() -> None:
    lw = FakeLW([errors.ServiceUnavailable("down"), errors.ServiceUnavailable("down"),
                 pod_list("7", pod("a", "7"))], [[]])
    async with Run(lw) as run:
        await until(lambda: len(lw.watch_calls) == 1)
        assert len(lw.list_calls) == 3
        assert run.delays == pytest.approx([0.001, 0.002])
        assert run.store.list_keys() == ["default/a"]


async def test_clean_end_rewatches_at_once_and_an_empty_one_backs_off() -> None:
    lw = FakeLW([pod_list("10")], [[("ADDED", pod("a", "11"))], [], []])
    async with Run(lw) as run:
        await until(lambda: len(lw.watch_calls) == 3)
        assert [c["resource_version"] for c in lw.watch_calls] == ["10", "11", "11"]
        assert run.delays == pytest.approx([0.001])  # only the stream that brought nothing


async def test_list_items_get_kind_and_api_version() -> None:
    bare = {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "3"}}
    lw = FakeLW([pod_list("10", bare)], [[]])
    async with Run(lw) as run:
        await until(lambda: len(lw.watch_calls) == 1)
        obj = run.store.get_by_key("default/a")
        assert obj is not None
        assert (obj["kind"], obj["apiVersion"]) == ("Pod", "v1")


async def test_resync_period_calls_store_resync() -> None:
    store = CountingStore()
    lw = FakeLW([pod_list("10", pod("a", "1"))], [[]])
    async with Run(lw, store, resync_period=0.002):
        await until(lambda: store.resyncs >= 2)


async def test_cancel_closes_stream_and_resync_timer() -> None:
    lw = FakeLW([pod_list("10")], [[("ADDED", pod("a", "11"))]])
    async with Run(lw, CountingStore(), resync_period=10) as run:
        await until(lambda: "default/a" in run.store)
        assert lw.open_streams == 1 and lw.closed_streams == 0
    assert lw.closed_streams == 1
    # the fixture checks the resync task is gone too


async def test_cancel_during_backoff_sleep_is_clean() -> None:
    lw = FakeLW([errors.ServiceUnavailable("down")], [])
    reflector = Reflector(ListWatch(lw, "pods"), Store(), backoff=Backoff(initial=10))
    task = asyncio.create_task(reflector.run())
    await until(lambda: len(lw.list_calls) == 1)
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()
