"""Leader election: the pure decision first, then the elector against a fake Lease API."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jota.api import errors
from jota.api.meta import Obj
from jota.client.leaderelection import (
    Action,
    LeaderElectionRecord,
    LeaderElector,
    Observation,
    decide,
    format_micro_time,
    parse_time,
    released,
)

pytestmark = pytest.mark.usefixtures("no_task_left_running")

T0 = datetime(2026, 11, 24, 13, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def lease(holder: str, *, renew: float = 0, acquire: float = 0, transitions: int = 3,
          duration: int = 15, rv: str = "7") -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "jota-scheduler", "namespace": "kube-system",
                     "resourceVersion": rv},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                 "acquireTime": format_micro_time(at(acquire)),
                 "renewTime": format_micro_time(at(renew)), "leaseTransitions": transitions},
    }


def test_micro_time_format() -> None:
    assert format_micro_time(T0) == "2026-11-24T13:00:00.000000Z"
    assert format_micro_time(at(0.5)) == "2026-11-24T13:00:00.500000Z"
    assert parse_time("2026-11-24T13:00:00.500000Z") == at(0.5)
    assert parse_time("2026-11-24T13:00:00Z") == T0
    assert parse_time("") is None
    assert parse_time("yesterday") is None


def test_no_lease_creates_one_held_by_us() -> None:
    d = decide(None, T0, "me", lease_duration=15, namespace="kube-system",
               name="jota-scheduler")
    assert d.action is Action.CREATE
    assert d.leader == "me"
    assert d.lease == {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "jota-scheduler", "namespace": "kube-system"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15, "leaseTransitions": 0,
                 "acquireTime": "2026-11-24T13:00:00.000000Z",
                 "renewTime": "2026-11-24T13:00:00.000000Z"},
    }


SEEN_AT_0 = Observation(LeaderElectionRecord.from_lease(lease("other")), T0)


@pytest.mark.parametrize(
    ("current", "now", "observed", "action", "leader", "transitions", "acquire"),
    [
        # we hold it: renew, keeping acquireTime and transitions
        (lease("me"), 5, None, Action.RENEW, "me", 3, 0),
        # someone else renewed recently: wait
        (lease("other"), 5, SEEN_AT_0, Action.WAIT, "other", None, None),
        # first sight of someone's lease, however old its renewTime: a full duration to go
        (lease("other", renew=-3600), 0, None, Action.WAIT, "other", None, None),
        # unchanged for a whole leaseDurationSeconds on our clock: take over
        (lease("other"), 15, SEEN_AT_0, Action.ACQUIRE, "me", 4, 15),
        # it changed since we last looked (a renewal): wait again
        (lease("other", renew=10), 15, SEEN_AT_0, Action.WAIT, "other", None, None),
        # released (empty holder): take it at once
        (lease("", duration=1), 0, None, Action.ACQUIRE, "me", 4, 0),
    ],
)
def test_decide(current: Obj, now: float, observed: Observation | None, action: Action,
                leader: str, transitions: int | None, acquire: float | None) -> None:
    d = decide(current, at(now), "me", lease_duration=15, observed=observed)
    assert (d.action, d.leader) == (action, leader)
    if action is Action.WAIT:
        assert d.lease is None
        return
    assert d.lease is not None
    spec = d.lease["spec"]
    assert spec["holderIdentity"] == "me"
    assert spec["renewTime"] == format_micro_time(at(now))
    assert spec["acquireTime"] == format_micro_time(at(acquire or 0))
    assert spec["leaseTransitions"] == transitions
    assert spec["leaseDurationSeconds"] == 15
    assert d.lease["metadata"]["resourceVersion"] == "7"  # the write is conditional
    assert current["spec"]["holderIdentity"] != "me" or action is Action.RENEW  # input intact


def test_decide_keeps_the_first_observation_while_unchanged() -> None:
    d1 = decide(lease("other"), at(0), "me", lease_duration=15)
    d2 = decide(lease("other"), at(14), "me", lease_duration=15, observed=d1.observation)
    assert d2.action is Action.WAIT
    assert d2.observation == d1.observation
    d3 = decide(lease("other"), at(15), "me", lease_duration=15, observed=d2.observation)
    assert d3.action is Action.ACQUIRE


def test_released_lease() -> None:
    out = released(lease("me", transitions=5), at(30))
    assert out["spec"] == {
        "holderIdentity": "", "leaseDurationSeconds": 1, "leaseTransitions": 5,
        "acquireTime": format_micro_time(at(30)), "renewTime": format_micro_time(at(30))}


# ---- the elector ----------------------------------------------------------------------


class FakeLeases:
    """Leases in memory with resourceVersion checks, as the apiserver does them."""

    def __init__(self) -> None:
        self.objs: dict[tuple[str, str], Obj] = {}
        self.rv = 100
        self.fail: Exception | None = None

    async def get(self, resource: str, name: str, namespace: str = "") -> Obj:
        assert resource == "leases"
        await asyncio.sleep(0)  # lets concurrent candidates interleave
        if self.fail is not None:
            raise self.fail
        obj = self.objs.get((namespace, name))
        if obj is None:
            raise errors.NotFound.of("leases.coordination.k8s.io", name)
        return copy.deepcopy(obj)

    def _stamp(self, obj: Obj) -> Obj:
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return obj

    async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        if self.fail is not None:
            raise self.fail
        key = (namespace, obj["metadata"]["name"])
        if key in self.objs:
            raise errors.AlreadyExists.of("leases.coordination.k8s.io", key[1])
        self.objs[key] = self._stamp(obj)
        return copy.deepcopy(self.objs[key])

    async def update(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        if self.fail is not None:
            raise self.fail
        key = (namespace, obj["metadata"]["name"])
        if self.objs[key]["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise errors.Conflict.stale("leases.coordination.k8s.io", key[1])
        self.objs[key] = self._stamp(obj)
        return copy.deepcopy(self.objs[key])

    def spec(self) -> dict[str, Any]:
        return dict(self.objs[("kube-system", "jota-scheduler")]["spec"])


class FakeTime:
    """A clock that `sleep` moves forward: the elector's waits cost no real time."""

    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


class Leading:
    """on_started_leading / on_stopped_leading that record what happened."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False
        self.stopped = 0

    async def run(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def stop(self) -> None:
        self.stopped += 1


def elector(api: FakeLeases, time: FakeTime, identity: str, leading: Leading | None = None,
            **kw: Any) -> LeaderElector:
    leading = leading or Leading()
    return LeaderElector(
        api, namespace="kube-system", name="jota-scheduler", identity=identity,
        on_started_leading=leading.run, on_stopped_leading=leading.stop,
        clock=time.clock, sleep=time.sleep, rand=lambda: 0.0, **kw)


async def test_leads_renews_then_steps_down_when_renewals_fail_past_the_deadline() -> None:
    api, time, leading = FakeLeases(), FakeTime(), Leading()
    renewed: list[str] = []
    original_sleep = time.sleep

    async def sleep(seconds: float) -> None:
        await original_sleep(seconds)
        if ("kube-system", "jota-scheduler") in api.objs:
            renewed.append(api.spec()["renewTime"])
        if len(time.sleeps) == 3:
            api.fail = errors.ServiceUnavailable("the connection to the server was refused")

    time.sleep = sleep  # type: ignore[method-assign]
    el = elector(api, time, "node-a_1234", leading)
    task = asyncio.create_task(el.run())
    await leading.started.wait()
    assert el.is_leader()
    await asyncio.wait_for(task, 1)
    assert leading.cancelled and leading.stopped == 1
    assert not el.is_leader()
    spec = api.spec()
    assert spec["holderIdentity"] == "node-a_1234"
    assert spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == "2026-11-24T13:00:00.000000Z"
    assert spec["renewTime"] == "2026-11-24T13:00:04.000000Z"  # last good renewal
    # renewals at 2 s and 4 s; failures at 6..14 s: 10 s (the renew deadline) after 4 s
    assert time.sleeps == [2.0] * 7
    # renewTime as each sleep ends: moved on by every good renewal, then stuck
    assert renewed[:4] == [format_micro_time(at(t)) for t in (0, 2, 4, 4)]


async def test_waits_for_anothers_lease_to_expire_then_takes_over() -> None:
    api, time = FakeLeases(), FakeTime()
    api.objs[("kube-system", "jota-scheduler")] = lease("node-b", rv="100")
    leaders: list[str] = []
    leading = Leading()
    el = elector(api, time, "node-a", leading, on_new_leader=leaders.append)
    task = asyncio.create_task(el.run())
    await leading.started.wait()
    spec = api.spec()
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("node-a", 4)
    # seen at 0, unchanged for 15 s, retried every 2 s: taken at 16 s
    assert spec["acquireTime"] == format_micro_time(at(16))
    assert leaders == ["node-b", "node-a"]
    assert el.get_leader() == "node-a"
    task.cancel()
    await asyncio.wait([task])
    assert leading.stopped == 1


async def test_release_on_cancel_frees_the_lease_for_a_successor() -> None:
    api, time = FakeLeases(), FakeTime()
    leading = Leading()
    a = elector(api, time, "node-a", leading, release_on_cancel=True)
    task = asyncio.create_task(a.run())
    await leading.started.wait()
    b = elector(api, time, "node-b")
    assert await b.try_acquire_or_renew() is False
    assert b.get_leader() == "node-a"
    task.cancel()
    await asyncio.wait([task])
    assert leading.cancelled and leading.stopped == 1
    assert api.spec()["holderIdentity"] == ""
    assert api.spec()["leaseDurationSeconds"] == 1
    assert await b.try_acquire_or_renew() is True  # no need to wait out 15 s
    assert (api.spec()["holderIdentity"], api.spec()["leaseTransitions"]) == ("node-b", 1)


async def test_racing_candidates_one_wins_the_other_conflicts() -> None:
    api, time = FakeLeases(), FakeTime()
    api.objs[("kube-system", "jota-scheduler")] = lease("", duration=1, rv="100")
    a, b = elector(api, time, "node-a"), elector(api, time, "node-b")
    results = await asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew())
    assert sorted(results) == [False, True]
    winner = "node-a" if results[0] else "node-b"
    assert api.spec()["holderIdentity"] == winner
    assert api.spec()["leaseTransitions"] == 4


async def test_creates_the_lease_when_missing_and_survives_get_errors() -> None:
    api, time = FakeLeases(), FakeTime()
    el = elector(api, time, "node-a")
    api.fail = errors.Timeout("context deadline exceeded")
    assert await el.try_acquire_or_renew() is False
    api.fail = None
    assert await el.try_acquire_or_renew() is True
    assert api.spec()["holderIdentity"] == "node-a"


async def test_cancel_while_acquiring_calls_no_callbacks() -> None:
    api, time = FakeLeases(), FakeTime()
    api.objs[("kube-system", "jota-scheduler")] = lease("node-b", rv="100")
    leading = Leading()
    el = elector(api, time, "node-a", leading, lease_duration=1e9, renew_deadline=10)
    task = asyncio.create_task(el.run())
    while len(time.sleeps) < 3:
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait([task])
    assert not leading.started.is_set() and leading.stopped == 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"lease_duration": 10, "renew_deadline": 10}, "leaseDuration must be greater than"),
        ({"renew_deadline": 2, "retry_period": 2}, "renewDeadline must be greater than"),
        ({"identity": ""}, "Lock identity is empty"),
    ],
)
def test_config_is_validated(kw: dict[str, Any], message: str) -> None:
    async def lead() -> None:
        return None

    args: dict[str, Any] = {"namespace": "kube-system", "name": "x", "identity": "a",
                            "on_started_leading": lead, **kw}
    with pytest.raises(ValueError, match=message):
        LeaderElector(FakeLeases(), **args)
