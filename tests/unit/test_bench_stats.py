"""The arithmetic behind BENCHMARKS.md: a wrong percentile would make every table lie."""

from __future__ import annotations

import math

import pytest

from bench.stats import fmt_ms, fmt_rate, fmt_ratio, merge, percentile, ratio, summarize


@pytest.mark.parametrize(("samples", "q", "expected"), [
    ([5.0], 50, 5.0),
    ([5.0], 99, 5.0),
    ([1.0, 2.0, 3.0, 4.0], 50, 2.5),  # between the middle two, as numpy
    ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order of arrival does not matter
    ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
    ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
    (list(map(float, range(1, 101))), 99, 99.01),
    (list(map(float, range(1, 101))), 50, 50.5),
    ([1.0] * 99 + [1000.0], 99, 10.99),  # one outlier in 100 barely moves p99
])
def test_percentile(samples: list[float], q: float, expected: float) -> None:
    assert percentile(samples, q) == pytest.approx(expected)


@pytest.mark.parametrize(("samples", "q"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_nonsense(samples: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        percentile(samples, q)


def test_summary_throughput_is_operations_over_wall_time() -> None:
    # 16 concurrent calls of 10 ms each, all done in 20 ms of wall time: 800 ops/s.
    s = summarize([0.01] * 16, 0.02)
    assert s.count == 16
    assert s.ops_per_s == pytest.approx(800.0)
    assert (s.p50_ms, s.p99_ms) == pytest.approx((10.0, 10.0))


def test_rounds_merge_as_if_run_at_once() -> None:
    # Two rounds of a case that took turns with others: 4 ops in 0.5 s, then 4 in 1.5 s.
    merged = merge([summarize([1.0, 2.0, 3.0, 4.0], 0.5), summarize([5.0, 6.0, 7.0, 8.0], 1.5)])
    assert merged.count == 8
    assert merged.ops_per_s == pytest.approx(4.0)
    assert merged.p50 == pytest.approx(4.5)


@pytest.mark.parametrize(("ours", "baseline", "text"), [
    (500.0, 1000.0, "0.50x"),
    (1000.0, 400.0, "2.50x"),
    (1.0, 0.0, "n/a"),
])
def test_ratio(ours: float, baseline: float, text: str) -> None:
    assert fmt_ratio(ratio(ours, baseline)) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.000312, "0.312"), (0.00421, "4.21"), (0.0384, "38.4"), (1.2041, "1204"),
])
def test_fmt_ms(seconds: float, text: str) -> None:
    assert fmt_ms(seconds) == text


@pytest.mark.parametrize(("rate", "text"), [
    (12.34, "12.3"), (1234.5, "1,234"), (math.inf, "n/a"),
])
def test_fmt_rate(rate: float, text: str) -> None:
    assert fmt_rate(rate) == text
