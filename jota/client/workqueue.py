"""The controller workqueue: "ns/name" keys in, one worker per key at a time out.

Three layers, as client-go's `util/workqueue`:

- `WorkQueue` de-duplicates: a key added while queued is kept once; a key added
  while a worker holds it is queued again only after that worker calls `done(key)`,
  so two workers never reconcile the same object at once, and no change is lost.
- `DelayingQueue` adds `add_after(key, delay)` on the event loop's timers (no task).
- `RateLimitingQueue` adds `add_rate_limited(key)` / `forget(key)` / `num_requeues(key)`,
  spacing out retries of a failing key with a `RateLimiter`.

Handlers enqueue keys, never objects: the worker reads the latest state from the
informer's cache, so ten updates of one object cost one reconcile (level-triggered).
`WorkQueueMetrics` counts what Prometheus' `workqueue_*` series show, in plain
attributes and bucket arrays: `jota.metrics.workqueue` reads every named queue's at
scrape time, so a queue operation costs a few integer increments, not a
prometheus_client call (the scheduler and controllers push hundreds of keys a second).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Awaitable, Callable

from jota.api.errors import APIError
from jota.client.ratelimit import Clock, RateLimiter, default_controller_rate_limiter

logger = logging.getLogger(__name__)


# client-go's workqueue histogram buckets: prometheus.ExponentialBuckets(10e-9, 10, 12),
# 10ns to 1000s.
WORKQUEUE_BUCKETS: tuple[float, ...] = tuple(1e-8 * 10**i for i in range(12))

_named: weakref.WeakSet[WorkQueueMetrics] = weakref.WeakSet()


def named_queue_metrics() -> list[WorkQueueMetrics]:
    """The metrics of every live queue that has a name: what `/metrics` shows."""
    return [m for m in list(_named) if m.name]


class WorkQueueMetrics:
    """Counters of one queue, kept in plain attributes.

    The queue calls `added`, `got`, `finished` and `retried`; the two latencies are
    counted into `WORKQUEUE_BUCKETS` (`*_buckets[i]` counts values <= bucket i, the
    last slot is +Inf, not cumulative). A named queue registers itself, and the
    scrape reads it, so the queue never knows about Prometheus.
    """

    def __init__(self, name: str = "", clock: Clock = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self.depth = 0
        self.adds = 0
        self.retries = 0
        self.queue_latency_count = 0
        self.queue_latency_sum = 0.0
        self.last_queue_latency = 0.0
        self.queue_latency_buckets = [0] * (len(WORKQUEUE_BUCKETS) + 1)
        self.work_duration_count = 0
        self.work_duration_sum = 0.0
        self.work_duration_buckets = [0] * (len(WORKQUEUE_BUCKETS) + 1)
        self._added_at: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        if name:
            _named.add(self)

    def added(self, key: str) -> None:
        self.adds += 1
        self.depth += 1
        self._added_at.setdefault(key, self._clock())

    def got(self, key: str) -> None:
        self.depth -= 1
        now = self._clock()
        self._started_at[key] = now
        added = self._added_at.pop(key, None)
        if added is not None:
            self.observe_queue_latency(now - added)

    def finished(self, key: str) -> None:
        started = self._started_at.pop(key, None)
        if started is not None:
            self.observe_work_duration(self._clock() - started)

    def retried(self) -> None:
        self.retries += 1

    def observe_queue_latency(self, seconds: float) -> None:
        """How long a key waited between being added and handed to a worker."""
        self.queue_latency_count += 1
        self.queue_latency_sum += seconds
        self.last_queue_latency = seconds
        self.queue_latency_buckets[bisect_left(WORKQUEUE_BUCKETS, seconds)] += 1

    def observe_work_duration(self, seconds: float) -> None:
        """How long a worker held a key (get to done)."""
        self.work_duration_count += 1
        self.work_duration_sum += seconds
        self.work_duration_buckets[bisect_left(WORKQUEUE_BUCKETS, seconds)] += 1

    def unfinished_work_seconds(self) -> float:
        """Sum of how long every in-flight key has been held: grows when workers are stuck."""
        now = self._clock()
        return sum(now - t for t in self._started_at.values())

    def longest_running_processor_seconds(self) -> float:
        now = self._clock()
        return max((now - t for t in self._started_at.values()), default=0.0)


class WorkQueue:
    """A FIFO of unique keys with "processing" tracking (client-go's `Type`)."""

    def __init__(self, name: str = "", *, metrics: WorkQueueMetrics | None = None) -> None:
        self.name = name
        self.metrics = metrics if metrics is not None else WorkQueueMetrics(name)
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle: list[asyncio.Future[None]] = []
        self._shutting_down = False

    def add(self, key: str) -> None:
        """Queue `key` unless it is already queued; ignored once shut down."""
        if self._shutting_down or key in self._dirty:
            return
        self.metrics.added(key)
        self._dirty.add(key)
        if key in self._processing:
            return  # re-queued by done(), so one worker at a time holds it
        self._queue.append(key)
        self._wake_one()

    def __len__(self) -> int:
        return len(self._queue)

    def shutting_down(self) -> bool:
        return self._shutting_down

    async def get(self) -> tuple[str, bool]:
        """The next key, waiting for one; `("", True)` once shut down and drained.

        The caller owns the key until it calls `done(key)`.
        """
        while not self._queue and not self._shutting_down:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # Woken and cancelled at once: pass the wake-up on, or a key would sit.
                if fut.done() and not fut.cancelled():
                    self._wake_one()
                raise
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        if not self._queue:
            return "", True
        key = self._queue.popleft()
        self.metrics.got(key)
        self._processing.add(key)
        self._dirty.discard(key)
        return key, False

    def done(self, key: str) -> None:
        """The worker is finished with `key`; if it was added meanwhile, queue it again."""
        self.metrics.finished(key)
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()
        elif not self._processing:
            for fut in self._idle:
                if not fut.done():
                    fut.set_result(None)
            self._idle.clear()

    def shut_down(self) -> None:
        """Stop accepting keys and release every waiting worker (they get shutdown=True)."""
        self._shutting_down = True
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def shut_down_with_drain(self) -> None:
        """Shut down, then wait until workers are done with the keys they hold."""
        self.shut_down()
        while self._processing:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle.append(fut)
            await fut

    def __aiter__(self) -> WorkQueue:
        return self

    async def __anext__(self) -> str:
        key, shutdown = await self.get()
        if shutdown:
            raise StopAsyncIteration
        return key

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return


class DelayingQueue(WorkQueue):
    """A `WorkQueue` whose keys can be added later (client-go's DelayingInterface).

    A key waiting twice keeps the earlier deadline, as client-go does. Timers are the
    loop's own `call_later` handles, so nothing is left running after `shut_down`.
    """

    def __init__(self, name: str = "", *, metrics: WorkQueueMetrics | None = None) -> None:
        super().__init__(name, metrics=metrics)
        self._waiting: dict[str, tuple[float, asyncio.TimerHandle]] = {}

    def add_after(self, key: str, delay: float) -> None:
        """Add `key` after `delay` seconds (at once if `delay` <= 0)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        current = self._waiting.get(key)
        if current is not None:
            if current[0] <= ready_at:
                return
            current[1].cancel()
        handle = loop.call_at(ready_at, self._fire, key)
        self._waiting[key] = (ready_at, handle)

    def num_waiting(self) -> int:
        """Keys scheduled by `add_after` that are not queued yet."""
        return len(self._waiting)

    def _fire(self, key: str) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def shut_down(self) -> None:
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        super().shut_down()


class RateLimitingQueue(DelayingQueue):
    """A `DelayingQueue` that spaces out retries of a failing key."""

    def __init__(self, name: str = "", *, rate_limiter: RateLimiter | None = None,
                 metrics: WorkQueueMetrics | None = None) -> None:
        super().__init__(name, metrics=metrics)
        self.rate_limiter = (rate_limiter if rate_limiter is not None
                             else default_controller_rate_limiter())

    def add_rate_limited(self, key: str) -> None:
        """Add `key` once the rate limiter allows: each failure doubles its wait."""
        if self._shutting_down:
            return
        self.metrics.retried()
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: str) -> None:
        """`key` succeeded: stop its backoff (it still must be `done`)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        return self.rate_limiter.num_requeues(key)


SyncFunc = Callable[[str], Awaitable[None]]


class RetryLater(Exception):
    """Raised by a sync that is waiting for the world (objects still going away, a
    dependency not there yet): the key is retried with backoff, logged without alarm."""


async def run_worker(queue: RateLimitingQueue, sync: SyncFunc, *,
                     max_retries: int | None = None) -> None:
    """Reconcile keys until the queue shuts down: the `processNextWorkItem` loop.

    A key whose `sync` raises is retried rate-limited (dropped after `max_retries`
    if given); one that succeeds is forgotten. Errors are logged, never raised:
    `RetryLater` and API errors (a conflict, an object gone) as one line, anything
    else, a bug, with its traceback.
    """
    async for key in queue:
        try:
            await sync(key)
        except asyncio.CancelledError:
            queue.done(key)
            raise
        except Exception as e:
            retries = queue.num_requeues(key)
            expected = isinstance(e, RetryLater | APIError)
            fields = {"queue": queue.name, "key": key, "retries": retries}
            if max_retries is not None and retries >= max_retries:
                logger.error("dropping key out of the queue after retries: %s", e,
                             exc_info=not expected, extra=fields)
                queue.forget(key)
            else:
                log = logger.debug if isinstance(e, RetryLater) else logger.warning
                log("error syncing; requeuing: %s", e, exc_info=not expected, extra=fields)
                queue.add_rate_limited(key)
        else:
            queue.forget(key)
        queue.done(key)


async def run_workers(queue: RateLimitingQueue, sync: SyncFunc, workers: int = 2) -> None:
    """`workers` concurrent `run_worker` loops over one queue, as a controller's Run;
    the queue is shut down when they stop (cancelled or done)."""
    try:
        await asyncio.gather(*(run_worker(queue, sync) for _ in range(workers)))
    finally:
        queue.shut_down()
