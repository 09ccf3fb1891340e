"""client-go's `workqueue_*` series, read from every named queue at scrape time.

Queues of the same name (a controller restarted after losing its lease, say)
are summed, so a name is one series, as Prometheus requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import accumulate

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from jota.client.workqueue import WORKQUEUE_BUCKETS, WorkQueueMetrics, named_queue_metrics

FAMILIES = ("workqueue_depth", "workqueue_adds_total", "workqueue_retries_total",
            "workqueue_queue_duration_seconds", "workqueue_work_duration_seconds",
            "workqueue_unfinished_work_seconds",
            "workqueue_longest_running_processor_seconds")


_BOUNDS = [floatToGoString(b) for b in WORKQUEUE_BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]


def _buckets(counts: Iterable[int]) -> list[tuple[str, float]]:
    """Per-bucket counts -> the cumulative (le, count) pairs of the exposition."""
    return list(zip(_BOUNDS, accumulate(counts), strict=True))


class WorkqueueCollector(Collector):
    """Exposes `named_queue_metrics()` (or the queues given) under client-go's names."""

    def __init__(self, source: Iterable[WorkQueueMetrics] | None = None) -> None:
        self._source = source

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily
                                  | HistogramMetricFamily]:
        queues = list(self._source) if self._source is not None else named_queue_metrics()
        by_name: dict[str, list[WorkQueueMetrics]] = {}
        for m in queues:
            by_name.setdefault(m.name, []).append(m)
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue",
                                  labels=["name"])
        adds = CounterMetricFamily("workqueue_adds", "Total number of adds handled by "
                                   "workqueue", labels=["name"])
        retries = CounterMetricFamily("workqueue_retries", "Total number of retries handled "
                                      "by workqueue", labels=["name"])
        wait = HistogramMetricFamily(
            "workqueue_queue_duration_seconds", "How long in seconds an item stays in "
            "workqueue before being requested.", labels=["name"])
        work = HistogramMetricFamily(
            "workqueue_work_duration_seconds", "How long in seconds processing an item from "
            "workqueue takes.", labels=["name"])
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds", "How many seconds of work has been done that "
            "is in progress and hasn't been observed by work_duration.", labels=["name"])
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds", "How many seconds has the longest "
            "running processor for workqueue been running.", labels=["name"])
        for name, ms in sorted(by_name.items()):
            depth.add_metric([name], sum(m.depth for m in ms))
            adds.add_metric([name], sum(m.adds for m in ms))
            retries.add_metric([name], sum(m.retries for m in ms))
            wait.add_metric([name], _buckets(map(sum, zip(
                *(m.queue_latency_buckets for m in ms), strict=True))),
                sum(m.queue_latency_sum for m in ms))
            work.add_metric([name], _buckets(map(sum, zip(
                *(m.work_duration_buckets for m in ms), strict=True))),
                sum(m.work_duration_sum for m in ms))
            unfinished.add_metric([name], sum(m.unfinished_work_seconds() for m in ms))
            longest.add_metric([name], max(m.longest_running_processor_seconds() for m in ms))
        yield from (depth, adds, retries, wait, work, unfinished, longest)
