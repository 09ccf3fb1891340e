"""The event recorder: Events as `kubectl describe` shows them, repeats folded into counts."""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jota.api import errors
from jota.api.meta import Obj
from jota.client.events import (
    NORMAL,
    WARNING,
    EventCorrelator,
    EventRecorder,
    make_event,
    reference_of,
)

pytestmark = pytest.mark.usefixtures("no_task_left_running")

T0 = datetime(2026, 11, 24, 13, 0, 0, tzinfo=UTC)

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1",
                    "resourceVersion": "12"},
       "spec": {}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "uid": "u-n"}}


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeEvents:
    """The events resource in memory; `failures` are raised by the next calls, in order."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], Obj] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.failures: list[Exception] = []
        self.rv = 0

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        assert resource == "events"
        self.calls.append(("create", namespace, copy.deepcopy(obj)))
        self._maybe_fail()
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.stored[(namespace, obj["metadata"]["name"])] = obj
        return copy.deepcopy(obj)

    async def patch(self, resource: str, name: str, patch: Any, namespace: str = "", *,
                    patch_type: str = "strategic") -> Obj:
        self.calls.append(("patch", f"{namespace}/{name}", (patch_type, patch)))
        self._maybe_fail()
        obj = self.stored.get((namespace, name))
        if obj is None:
            raise errors.NotFound.of("events", name)
        obj.update(patch)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(obj)

    def kinds(self) -> list[str]:
        return [c[0] for c in self.calls]

    def only(self) -> Obj:
        [event] = self.stored.values()
        return event


class Retries:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def recorder(sink: FakeEvents, clock: FakeClock, **kw: Any) -> EventRecorder:
    kw.setdefault("sleep", Retries())
    return EventRecorder(sink, "default-scheduler", "node-1", clock=clock, **kw)


def test_make_event_is_a_core_v1_event() -> None:
    ev = make_event(reference_of(POD), WARNING, "FailedScheduling",
                    "0/3 nodes are available: 3 Insufficient cpu.",
                    component="default-scheduler", host="cp-1", now=T0)
    assert ev == {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"web-1.{int(T0.timestamp()) * 10**9:x}", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1",
                           "uid": "u-1", "apiVersion": "v1", "resourceVersion": "12"},
        "reason": "FailedScheduling",
        "message": "0/3 nodes are available: 3 Insufficient cpu.",
        "type": "Warning",
        "source": {"component": "default-scheduler", "host": "cp-1"},
        "firstTimestamp": "2026-11-24T13:00:00Z",
        "lastTimestamp": "2026-11-24T13:00:00Z",
        "count": 1,
        "reportingComponent": "default-scheduler",
        "reportingInstance": "cp-1",
    }


def test_events_of_cluster_scoped_objects_go_to_default() -> None:
    ev = make_event(reference_of(NODE), NORMAL, "NodeReady", "Node node-1 status is now: "
                    "NodeReady", component="jota-node", host="node-1", now=T0)
    assert ev["metadata"]["namespace"] == "default"
    assert ev["involvedObject"] == {"kind": "Node", "name": "node-1", "uid": "u-n",
                                    "apiVersion": "v1"}


def test_reference_of_keeps_an_object_reference_as_is() -> None:
    ref = {"kind": "Pod", "namespace": "default", "name": "web-1",
           "fieldPath": "spec.containers{web}"}
    assert reference_of(ref) == ref


async def test_event_returns_at_once_and_is_written_in_the_background() -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock)
    rec.event(POD, NORMAL, "Scheduled", "Successfully assigned default/web-1 to node-1")
    assert sink.calls == []  # nothing written yet: the caller did not wait
    await rec.flush()
    ev = sink.only()
    assert (ev["reason"], ev["type"], ev["count"]) == ("Scheduled", "Normal", 1)
    assert ev["message"] == "Successfully assigned default/web-1 to node-1"
    assert ev["source"] == {"component": "default-scheduler", "host": "node-1"}
    assert ev["involvedObject"]["name"] == "web-1"
    await rec.shutdown()


async def test_repeats_patch_count_and_last_timestamp() -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock)
    for _ in range(3):
        rec.event(POD, WARNING, "BackOff", "Back-off restarting failed container")
        await rec.flush()
        clock.tick(10)
    await rec.shutdown()
    assert sink.kinds() == ["create", "patch", "patch"]
    name = sink.calls[0][2]["metadata"]["name"]
    assert sink.calls[2] == ("patch", f"default/{name}", ("merge", {
        "count": 3, "lastTimestamp": "2026-11-24T13:00:20Z",
        "message": "Back-off restarting failed container"}))
    ev = sink.only()
    assert (ev["count"], ev["firstTimestamp"], ev["lastTimestamp"]) == (
        3, "2026-11-24T13:00:00Z", "2026-11-24T13:00:20Z")


@pytest.mark.parametrize(
    ("second", "writes"),
    [
        ((WARNING, "BackOff", "Back-off restarting failed container"), ["create", "patch"]),
        ((WARNING, "BackOff", "another message"), ["create", "create"]),
        ((WARNING, "Failed", "Back-off restarting failed container"), ["create", "create"]),
        ((NORMAL, "BackOff", "Back-off restarting failed container"), ["create", "create"]),
    ],
)
async def test_only_the_same_object_reason_and_message_are_folded(
        second: tuple[str, str, str], writes: list[str]) -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock)
    rec.event(POD, WARNING, "BackOff", "Back-off restarting failed container")
    clock.tick(1)
    rec.event(POD, *second)
    await rec.shutdown()
    assert sink.kinds() == writes


async def test_many_similar_messages_are_combined() -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock)
    for i in range(12):
        rec.event(POD, WARNING, "FailedMount", f"volume {i} not ready")
        clock.tick(1)
    await rec.shutdown()
    assert sink.kinds() == ["create"] * 10 + ["patch", "patch"]
    combined = sink.calls[9][2]
    assert combined["message"] == "(combined from similar events): volume 9 not ready"
    assert sink.calls[11][2][1]["message"] == (
        "(combined from similar events): volume 11 not ready")
    assert sink.calls[11][2][1]["count"] == 3


async def test_spam_filter_drops_beyond_25_then_refills() -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock)
    for _ in range(30):
        rec.event(POD, WARNING, "Unhealthy", "Readiness probe failed")
    await rec.flush()
    assert sink.kinds() == ["create"] + ["patch"] * 24
    clock.tick(300)  # one token back every five minutes
    rec.event(POD, WARNING, "Unhealthy", "Readiness probe failed")
    rec.event(POD, WARNING, "Unhealthy", "Readiness probe failed")
    await rec.shutdown()
    assert len(sink.calls) == 26
    assert sink.only()["count"] == 26 + 5  # dropped ones still counted, as client-go


async def test_unsupported_type_is_logged_not_written(caplog: pytest.LogCaptureFixture) -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock)
    with caplog.at_level(logging.ERROR, logger="jota.client.events"):
        rec.event(POD, "Info", "Scheduled", "x")
    await rec.shutdown()
    assert sink.calls == []
    assert "Unsupported event type: 'Info'" in caplog.text


async def test_unreachable_apiserver_is_retried_then_given_up() -> None:
    sink, clock, sleeps = FakeEvents(), FakeClock(), Retries()
    rec = recorder(sink, clock, sleep=sleeps, max_tries=3, retry_interval=10)
    sink.failures = [errors.ServiceUnavailable("refused"), ConnectionError("reset")]
    rec.event(POD, NORMAL, "Pulled", "Container image already present on machine")
    await rec.flush()
    assert sink.kinds() == ["create"] * 3
    assert len(sink.stored) == 1
    assert len(sleeps.sleeps) == 2 and all(10 <= s <= 12.5 for s in sleeps.sleeps)

    sink.failures = [errors.ServiceUnavailable("refused")] * 3
    rec.event(POD, NORMAL, "Started", "Started container web")
    await rec.shutdown()
    assert sink.kinds() == ["create"] * 6  # three tries, then dropped


async def test_rejected_event_is_not_retried() -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock)
    sink.failures = [errors.Forbidden('unable to create new content in namespace default '
                                      'because it is being terminated')]
    rec.event(POD, NORMAL, "Killing", "Stopping container web")
    await rec.shutdown()
    assert sink.kinds() == ["create"]


async def test_patch_of_a_vanished_event_creates_it_again() -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock)
    rec.event(POD, WARNING, "BackOff", "Back-off")
    await rec.flush()
    sink.stored.clear()  # expired by its TTL
    clock.tick(5)
    rec.event(POD, WARNING, "BackOff", "Back-off")
    await rec.shutdown()
    assert sink.kinds() == ["create", "patch", "create"]
    recreated = sink.only()
    assert recreated["count"] == 2
    assert "resourceVersion" not in sink.calls[2][2]["metadata"]


async def test_caller_never_sees_an_error() -> None:
    class Broken:
        async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
            raise RuntimeError("bug in the sink")

        async def patch(self, resource: str, name: str, patch: Any, namespace: str = "", *,
                        patch_type: str = "strategic") -> Obj:
            raise RuntimeError("bug in the sink")

    rec = EventRecorder(Broken(), "c", clock=FakeClock(), max_tries=2, sleep=Retries())
    rec.event(POD, NORMAL, "Scheduled", "ok")
    rec.event({"garbage": object()}, NORMAL, "Weird", "object without metadata")
    rec.eventf(POD, NORMAL, "Bad", "%d format", "not a number")
    await rec.shutdown()


async def test_eventf_formats_and_full_queue_drops() -> None:
    sink, clock = FakeEvents(), FakeClock()
    rec = recorder(sink, clock, max_queued=2)
    rec.eventf(POD, NORMAL, "Created", "Created container %s", "web")
    rec.event(POD, NORMAL, "Started", "a")
    rec.event(POD, NORMAL, "Started", "b")
    assert rec.dropped == 1
    await rec.shutdown()
    assert sink.calls[0][2]["message"] == "Created container web"
    assert len(sink.calls) == 2


async def test_shutdown_gives_up_on_a_stuck_sink_after_its_timeout() -> None:
    class Stuck(FakeEvents):
        async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
            await asyncio.Event().wait()
            raise AssertionError

    rec = recorder(Stuck(), FakeClock())
    rec.event(POD, NORMAL, "Scheduled", "x")
    await rec.shutdown(timeout=0.01)


def test_correlator_alone_is_pure() -> None:
    clock = FakeClock()
    corr = EventCorrelator(clock)
    ev = make_event(reference_of(POD), NORMAL, "Pulled", "m", component="c", host="h", now=T0)
    first = corr.correlate(ev)
    assert first.patch is None and not first.skip
    corr.update_state(first.key, {**first.event, "metadata": {
        **first.event["metadata"], "resourceVersion": "9"}})
    second = corr.correlate(ev)
    assert second.patch == {"count": 2, "lastTimestamp": "2026-11-24T13:00:00Z", "message": "m"}
    assert second.event["metadata"]["resourceVersion"] == "9"
    assert second.event["metadata"]["name"] == first.event["metadata"]["name"]
