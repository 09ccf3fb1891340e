"""Rate limiters for the workqueue, and the jittered backoff of reconnecting loops.

A controller that fails on a key retries it later, not in a hot loop: the rate
limiter answers "how long should this item wait before its next try?". The
default is client-go's `DefaultControllerRateLimiter`: the larger of a per-item
exponential backoff (5 ms doubling up to 1000 s) and an overall token bucket
(10 qps, burst 100) so that a storm of failing keys cannot flood the apiserver.

Everything here is pure arithmetic over an injected `clock`, so tests drive time
by hand; the workqueue is what actually waits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable
from typing import Protocol

Clock = Callable[[], float]
"""Seconds on a monotonic scale; `time.monotonic` unless a test injects its own."""


class RateLimiter(Protocol):
    """What the rate-limiting workqueue asks of a limiter (client-go's RateLimiter)."""

    def when(self, item: Hashable) -> float:
        """Seconds `item` should wait before being queued again; records one failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking `item` (it succeeded): its next failure starts from the base delay."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """Failures recorded for `item` since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """`base * 2**failures` per item, capped at `max_delay`."""

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        # 2**exp overflows a float long after the cap applies; stop computing early.
        if exp > 64:
            return self.max_delay
        return min(self.base * 2.0**exp, self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class ItemFastSlowRateLimiter:
    """`fast` for the first `max_fast_attempts` failures of an item, then `slow`."""

    def __init__(self, fast: float, slow: float, max_fast_attempts: int) -> None:
        self.fast = fast
        self.slow = slow
        self.max_fast_attempts = max_fast_attempts
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        n = self._failures.get(item, 0) + 1
        self._failures[item] = n
        return self.fast if n <= self.max_fast_attempts else self.slow

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """An overall token bucket, as golang.org/x/time/rate's `Reserve`.

    Every call takes a token, even one not yet there: the answer is how long until
    it will be, so a burst beyond `burst` is spread out at `qps`.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100,
                 clock: Clock = time.monotonic) -> None:
        if qps <= 0:
            raise ValueError("qps must be > 0")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, item: Hashable) -> float:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        """The bucket is shared by all items: nothing per item to forget."""

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest wait any of its limiters asks for (client-go's MaxOfRateLimiter)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        # Every limiter must see the failure, so no short-circuit here.
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock = time.monotonic) -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter: 5 ms..1000 s per item, 10 qps / 100 burst."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )


class Backoff:
    """Jittered exponential backoff for reconnect loops (the reflector's, the recorder's).

    Each `next()` is `delay * (1 + jitter * rand)`, capped at `cap`; the delay doubles
    until it reaches `cap`. `reset()` after a success, so the next outage starts short.
    """

    def __init__(self, initial: float = 0.8, cap: float = 30.0, factor: float = 2.0,
                 jitter: float = 1.0, rand: Callable[[], float] = random.random) -> None:
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self._rand = rand
        self._current = initial
        self.attempts = 0

    def next(self) -> float:
        delay = min(self._current, self.cap)
        self._current = min(self._current * self.factor, self.cap)
        self.attempts += 1
        return min(self.cap, delay * (1.0 + self.jitter * self._rand()))

    def reset(self) -> None:
        self._current = self.initial
        self.attempts = 0
