"""The scheduling queue: order, backoff, and when unschedulable pods come back."""

from __future__ import annotations

from controlplane.scheduler import queue as q
from tests.unit.scheduler_helpers import pod


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _created(name: str, ts: str) -> dict[str, object]:
    p = pod(name)
    p["metadata"]["creationTimestamp"] = ts
    return p


def _names(queue: q.SchedulingQueue) -> list[str]:
    out = []
    while (info := queue.pop()) is not None:
        out.append(info.pod["metadata"]["name"])
        queue.done(info.key)
    return out


def test_higher_priority_first_then_older() -> None:
    queue = q.SchedulingQueue(Clock())
    queue.add(_created("new", "2026-01-01T00:00:02Z"), 0)
    queue.add(_created("old", "2026-01-01T00:00:01Z"), 0)
    queue.add(_created("vip", "2026-01-01T00:00:09Z"), 1000)
    assert _names(queue) == ["vip", "old", "new"]


def test_unschedulable_pods_wait_for_a_cluster_event() -> None:
    clock = Clock()
    queue = q.SchedulingQueue(clock)
    queue.add(pod("p"))
    info = queue.pop()
    assert info is not None
    queue.requeue(info, queue.scheduling_cycle, unschedulable=True)
    assert queue.counts() == {"active": 0, "backoff": 0, "unschedulable": 1}
    clock.now += 60
    assert queue.pop() is None
    assert queue.move_all_to_active_or_backoff(q.NODE_ADD) == 1
    assert _names(queue) == ["p"]


def test_backoff_doubles_up_to_ten_seconds() -> None:
    clock = Clock()
    queue = q.SchedulingQueue(clock)
    queue.add(pod("p"))
    waits = []
    for _ in range(6):
        info = queue.pop()
        assert info is not None
        queue.requeue(info, queue.scheduling_cycle, unschedulable=False)
        wake = queue.next_wakeup()
        assert wake is not None
        waits.append(wake - clock.now)
        clock.now += waits[-1] - 0.01
        assert queue.pop() is None  # not yet
        clock.now += 0.01
    assert waits == [1, 2, 4, 8, 10, 10]


def test_event_during_backoff_moves_to_backoff_not_active() -> None:
    clock = Clock()
    queue = q.SchedulingQueue(clock)
    queue.add(pod("p"))
    info = queue.pop()
    assert info is not None
    queue.requeue(info, queue.scheduling_cycle, unschedulable=True)
    queue.move_all_to_active_or_backoff(q.NODE_UPDATE)
    assert queue.counts()["backoff"] == 1
    clock.now += 1
    assert _names(queue) == ["p"]


def test_event_during_the_cycle_sends_the_pod_to_backoff() -> None:
    """The event may be the one the pod needed: it must not wait for another."""
    queue = q.SchedulingQueue(Clock())
    queue.add(pod("p"))
    info = queue.pop()
    assert info is not None
    cycle = queue.scheduling_cycle
    queue.move_all_to_active_or_backoff(q.NODE_ADD)
    queue.requeue(info, cycle, unschedulable=True)
    assert queue.counts() == {"active": 0, "backoff": 1, "unschedulable": 0}


def test_status_only_updates_leave_unschedulable_pods_waiting() -> None:
    queue = q.SchedulingQueue(Clock())
    p = pod("p")
    queue.add(p)
    info = queue.pop()
    assert info is not None
    queue.requeue(info, queue.scheduling_cycle, unschedulable=True)
    with_status = {**p, "status": {"conditions": [{"type": "PodScheduled"}]}}
    queue.update(p, with_status)
    assert queue.counts()["unschedulable"] == 1
    tolerant = {**p, "spec": {**p["spec"], "tolerations": [{"operator": "Exists"}]}}
    queue.update(with_status, tolerant)
    assert queue.counts()["unschedulable"] == 0


def test_leftover_unschedulable_pods_retry_after_five_minutes() -> None:
    clock = Clock()
    queue = q.SchedulingQueue(clock)
    queue.add(pod("p"))
    info = queue.pop()
    assert info is not None
    queue.requeue(info, queue.scheduling_cycle, unschedulable=True)
    clock.now += 299
    queue.flush_unschedulable_left_over()
    assert queue.counts()["unschedulable"] == 1
    clock.now += 2
    queue.flush_unschedulable_left_over()
    assert _names(queue) == ["p"]


def test_deleted_pods_leave_every_queue() -> None:
    queue = q.SchedulingQueue(Clock())
    queue.add(pod("a"))
    queue.add(pod("b"))
    queue.delete(pod("a"))
    assert _names(queue) == ["b"]
    assert len(queue) == 0


def test_an_update_while_in_flight_is_not_lost() -> None:
    queue = q.SchedulingQueue(Clock())
    p = pod("p")
    queue.add(p)
    info = queue.pop()
    assert info is not None
    changed = {**p, "metadata": {**p["metadata"], "labels": {"x": "y"}}}
    queue.update(p, changed)
    queue.requeue(info, queue.scheduling_cycle, unschedulable=True)
    assert queue.counts()["active"] == 1
