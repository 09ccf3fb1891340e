"""The workqueue: one worker per key, nothing lost, failing keys backed off."""

from __future__ import annotations

import asyncio

import pytest

from jota.client.ratelimit import ItemExponentialFailureRateLimiter
from jota.client.workqueue import (
    DelayingQueue,
    RateLimitingQueue,
    WorkQueue,
    WorkQueueMetrics,
    run_worker,
)

pytestmark = pytest.mark.usefixtures("no_task_left_running")

async def drain(q: WorkQueue) -> list[str]:
    """Every key queued right now, each marked done."""
    keys = []
    while len(q):
        key, shutdown = await q.get()
        assert not shutdown
        keys.append(key)
        q.done(key)
    return keys


@pytest.mark.parametrize(
    ("adds", "expected"),
    [
        (["default/a"], ["default/a"]),
        (["default/a", "default/b", "default/a"], ["default/a", "default/b"]),
        (["b", "a", "b", "a", "c"], ["b", "a", "c"]),
    ],
)
async def test_keys_are_kept_once_in_fifo_order(adds: list[str], expected: list[str]) -> None:
    q = WorkQueue()
    for key in adds:
        q.add(key)
    assert len(q) == len(expected)
    assert await drain(q) == expected


async def test_key_added_while_processing_is_requeued_after_done() -> None:
    q = WorkQueue()
    q.add("ns/a")
    key, _ = await q.get()
    q.add("ns/a")
    q.add("ns/a")
    assert len(q) == 0  # not handed to a second worker while the first holds it
    q.done(key)
    assert len(q) == 1
    assert await drain(q) == ["ns/a"]
    assert len(q) == 0


async def test_two_workers_never_hold_the_same_key() -> None:
    q = WorkQueue()
    holding: set[str] = set()
    seen: list[str] = []

    async def worker() -> None:
        async for key in q:
            assert key not in holding
            holding.add(key)
            seen.append(key)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            holding.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(3)]
    for _ in range(5):
        q.add("ns/a")
        q.add("ns/b")
        await asyncio.sleep(0)
    await q.shut_down_with_drain()
    await asyncio.gather(*workers)
    assert set(seen) == {"ns/a", "ns/b"}
    assert not holding


async def test_get_waits_for_a_key() -> None:
    q = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("ns/a")
    assert await getter == ("ns/a", False)


async def test_shut_down_releases_waiting_workers_after_draining() -> None:
    q = WorkQueue()
    waiting = [asyncio.create_task(q.get()) for _ in range(2)]
    await asyncio.sleep(0)
    q.shut_down()
    assert await asyncio.gather(*waiting) == [("", True), ("", True)]

    q2 = WorkQueue()
    q2.add("ns/left")
    q2.shut_down()
    q2.add("ns/ignored")
    assert q2.shutting_down()
    assert await q2.get() == ("ns/left", False)
    assert await q2.get() == ("", True)


async def test_iterator_stops_at_shut_down() -> None:
    q = WorkQueue()
    for key in ("a", "b"):
        q.add(key)
    got: list[str] = []

    async def consume() -> None:
        async for key in q:
            got.append(key)
            q.done(key)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    q.shut_down()
    await task
    assert got == ["a", "b"]


async def test_a_cancelled_getter_passes_its_wake_up_on() -> None:
    q = WorkQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("ns/a")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await second == ("ns/a", False)
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_shut_down_with_drain_waits_for_held_keys() -> None:
    q = WorkQueue()
    q.add("ns/a")
    key, _ = await q.get()
    drained = asyncio.create_task(q.shut_down_with_drain())
    await asyncio.sleep(0)
    assert not drained.done()
    q.done(key)
    await asyncio.wait_for(drained, 1)


async def test_add_after_queues_later_and_keeps_the_earlier_deadline() -> None:
    q = DelayingQueue()
    q.add_after("ns/soon", 0.01)
    q.add_after("ns/late", 10)
    q.add_after("ns/late", 0.01)  # an earlier deadline replaces the later one
    q.add_after("ns/soon", 10)  # a later one does not
    q.add_after("ns/now", 0)
    assert await drain(q) == ["ns/now"]
    assert q.num_waiting() == 2
    await asyncio.sleep(0.03)
    assert sorted(await drain(q)) == ["ns/late", "ns/soon"]
    assert q.num_waiting() == 0


async def test_shut_down_cancels_pending_delays() -> None:
    q = DelayingQueue()
    q.add_after("ns/a", 0.01)
    q.shut_down()
    assert q.num_waiting() == 0
    await asyncio.sleep(0.02)
    assert len(q) == 0
    q.add_after("ns/b", 0.001)
    assert q.num_waiting() == 0


async def test_add_rate_limited_backs_off_per_key_until_forgotten() -> None:
    q = RateLimitingQueue(rate_limiter=ItemExponentialFailureRateLimiter(0.002, 1.0))
    q.add_rate_limited("ns/a")
    q.add_rate_limited("ns/a")
    assert q.num_requeues("ns/a") == 2
    assert len(q) == 0
    await asyncio.sleep(0.02)
    assert await drain(q) == ["ns/a"]
    q.forget("ns/a")
    assert q.num_requeues("ns/a") == 0
    assert q.metrics.retries == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_metrics_count_depth_adds_retries_and_latency() -> None:
    clock = FakeClock()
    metrics = WorkQueueMetrics("deployments", clock)
    q = RateLimitingQueue("deployments", metrics=metrics)
    q.add("ns/a")
    q.add("ns/b")
    q.add("ns/a")
    assert (metrics.depth, metrics.adds) == (2, 2)
    clock.now = 1.5
    key, _ = await q.get()
    assert metrics.depth == 1
    assert metrics.last_queue_latency == pytest.approx(1.5)
    clock.now = 2.0
    assert metrics.unfinished_work_seconds() == pytest.approx(0.5)
    assert metrics.longest_running_processor_seconds() == pytest.approx(0.5)
    q.done(key)
    assert metrics.work_duration_count == 1
    assert metrics.work_duration_sum == pytest.approx(0.5)
    q.add_rate_limited("ns/c")
    assert metrics.retries == 1
    q.shut_down()


async def test_metrics_hooks_can_be_overridden() -> None:
    observed: list[float] = []

    class Recording(WorkQueueMetrics):
        def observe_queue_latency(self, seconds: float) -> None:
            super().observe_queue_latency(seconds)
            observed.append(seconds)

    q = WorkQueue(metrics=Recording(clock=FakeClock()))
    q.add("a")
    await q.get()
    assert observed == [0.0]


async def test_run_worker_retries_failures_and_forgets_successes() -> None:
    q = RateLimitingQueue(rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01))
    attempts: dict[str, int] = {}

    async def sync(key: str) -> None:
        attempts[key] = attempts.get(key, 0) + 1
        if key == "ns/flaky" and attempts[key] < 3:
            raise RuntimeError("conflict")
        if key == "ns/broken":
            raise RuntimeError("always")

    worker = asyncio.create_task(run_worker(q, sync, max_retries=2))
    q.add("ns/ok")
    q.add("ns/flaky")
    q.add("ns/broken")
    for _ in range(50):
        await asyncio.sleep(0.002)
        if attempts.get("ns/flaky") == 3 and attempts.get("ns/broken") == 3:
            break
    q.shut_down()
    await worker
    assert attempts == {"ns/ok": 1, "ns/flaky": 3, "ns/broken": 3}
    assert q.num_requeues("ns/flaky") == 0
    assert q.num_requeues("ns/broken") == 0  # dropped after max_retries, and forgotten


async def test_cancelled_worker_releases_its_key() -> None:
    q = RateLimitingQueue()
    started = asyncio.Event()

    async def sync(key: str) -> None:
        started.set()
        await asyncio.sleep(10)

    worker = asyncio.create_task(run_worker(q, sync))
    q.add("ns/a")
    await started.wait()
    worker.cancel()
    await asyncio.wait([worker])
    q.add("ns/a")
    assert len(q) == 1  # no longer held, so queued again at once
    q.shut_down()
