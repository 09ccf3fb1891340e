"""Rate limiters: how long a failing key waits before its next try."""

from __future__ import annotations

import pytest

from jota.client.ratelimit import (
    Backoff,
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (1, 0.005),
        (2, 0.01),
        (3, 0.02),
        (4, 0.04),
        (11, 5.12),
        (19, 1000.0),  # 0.005 * 2**18 = 1310.72 -> capped
        (200, 1000.0),  # no overflow however long it fails
    ],
)
def test_exponential_doubles_from_5ms_to_1000s(failures: int, expected: float) -> None:
    limiter = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("default/web") for _ in range(failures)]
    assert delays[-1] == pytest.approx(expected)
    assert limiter.num_requeues("default/web") == failures


def test_exponential_is_per_item_and_forget_starts_over() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    limiter.when("a")
    limiter.when("a")
    assert limiter.when("b") == pytest.approx(0.005)
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


def test_fast_slow() -> None:
    limiter = ItemFastSlowRateLimiter(fast=0.1, slow=5.0, max_fast_attempts=2)
    assert [limiter.when("x") for _ in range(4)] == [0.1, 0.1, 5.0, 5.0]
    assert limiter.num_requeues("x") == 4
    limiter.forget("x")
    assert limiter.when("x") == 0.1


def test_bucket_allows_burst_then_spreads_at_qps() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10, burst=100, clock=clock)
    assert all(bucket.when(i) == 0.0 for i in range(100))
    assert bucket.when("101") == pytest.approx(0.1)
    assert bucket.when("102") == pytest.approx(0.2)
    clock.now += 1.0  # ten tokens back, two of them already promised
    assert [bucket.when(i) for i in range(8)] == [0.0] * 8
    assert bucket.when("next") == pytest.approx(0.1)
    assert bucket.num_requeues("x") == 0


def test_bucket_refill_is_capped_at_burst() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=1, burst=2, clock=clock)
    clock.now += 3600
    assert [bucket.when(i) for i in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_max_of_takes_longest_and_every_limiter_counts() -> None:
    fast = ItemExponentialFailureRateLimiter(0.001, 10)
    slow = ItemFastSlowRateLimiter(1.0, 2.0, 1)
    limiter = MaxOfRateLimiter(fast, slow)
    assert limiter.when("k") == 1.0
    assert limiter.when("k") == 2.0
    assert fast.num_requeues("k") == 2
    assert limiter.num_requeues("k") == 2
    limiter.forget("k")
    assert fast.num_requeues("k") == slow.num_requeues("k") == 0


def test_default_controller_rate_limiter() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    # One key failing: the per-item backoff dominates.
    assert [limiter.when("ns/a") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    # A storm of 100 distinct keys exhausts the bucket: the 101st waits for a token.
    for i in range(97):
        limiter.when(f"ns/{i}")
    assert limiter.when("ns/storm") == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("rand", "expected"),
    [
        (0.0, [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]),
        (1.0, [1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0]),
    ],
)
def test_backoff_is_jittered_and_capped_at_30s(rand: float, expected: list[float]) -> None:
    b = Backoff(rand=lambda: rand)
    assert [b.next() for _ in expected] == pytest.approx(expected)
    b.reset()
    assert b.next() == pytest.approx(expected[0])
