"""Turning raw timings into the figures BENCHMARKS.md prints.

Kept free of I/O and of asyncio so the arithmetic can be unit-tested on its own:
a wrong percentile would silently make every table in BENCHMARKS.md lie.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks.

    The same method as numpy's default, so figures can be checked with numpy;
    nearest-rank would jump between samples on the small counts (30 lists) we take.
    """
    if not samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """One measured case: how many operations, how fast, how long each took."""

    count: int
    seconds: float  # wall time of the whole run, all workers together
    p50: float  # seconds
    p99: float  # seconds
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def ops_per_s(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.inf

    @property
    def p50_ms(self) -> float:
        return self.p50 * 1e3

    @property
    def p99_ms(self) -> float:
        return self.p99 * 1e3


def summarize(latencies: Sequence[float], seconds: float) -> Summary:
    """Latencies of each operation (seconds) and the wall time they were run in."""
    return Summary(len(latencies), seconds, percentile(latencies, 50),
                   percentile(latencies, 99), tuple(latencies))


def merge(parts: Sequence[Summary]) -> Summary:
    """One case measured in several rounds (taking turns with others) as if run at once."""
    return summarize([x for p in parts for x in p.samples], sum(p.seconds for p in parts))


def ratio(ours: float, baseline: float) -> float:
    """ours / baseline, infinite when the baseline is zero (never a ZeroDivisionError)."""
    if baseline == 0:
        return math.inf
    return ours / baseline


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isinf(value) or math.isnan(value) else f"{value:.2f}x"


def fmt_ms(seconds: float) -> str:
    """Milliseconds with precision that suits the size (0.312, 4.21, 38.4, 1204)."""
    ms = seconds * 1e3
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def fmt_rate(per_s: float) -> str:
    if math.isinf(per_s):
        return "n/a"
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.1f}"
