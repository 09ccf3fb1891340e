"""kube-scheduler's own series, with its names, labels and buckets.

Counters are bumped where a cycle ends (`scheduler.py`); `scheduler_pending_pods`
is read from the live queue at scrape time, so the queue stays pure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

SCHEDULED = "scheduled"
UNSCHEDULABLE = "unschedulable"
ERROR = "error"

SCHEDULE_ATTEMPTS = Counter(
    "scheduler_schedule_attempts", "Number of attempts to schedule pods, by the result. "
    "'unschedulable' means a pod could not be scheduled, while 'error' means an internal "
    "scheduler problem.", ["result", "profile"])
ATTEMPT_DURATION = Histogram(
    "scheduler_scheduling_attempt_duration_seconds", "Scheduling attempt latency in seconds "
    "(scheduling algorithm + binding)", ["result", "profile"],
    buckets=tuple(0.001 * 2**i for i in range(15)))  # ExponentialBuckets(0.001, 2, 15)

QUEUES = ("active", "backoff", "unschedulable", "gated")


def observe_attempt(result: str, profile: str, seconds: float) -> None:
    children = _children.get((result, profile))
    if children is None:
        children = _children[(result, profile)] = (
            SCHEDULE_ATTEMPTS.labels(result, profile), ATTEMPT_DURATION.labels(result, profile))
    children[0].inc()
    children[1].observe(seconds)


# Label children found once per (result, profile): `labels()` costs as much as the rest.
_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}


class _Counts(Protocol):
    def counts(self) -> dict[str, int]: ...


class PendingPods(Collector):
    """`scheduler_pending_pods{queue}` of the scheduler that runs in this process."""

    def __init__(self) -> None:
        self.queue: _Counts | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("scheduler_pending_pods", "Number of pending pods, by the queue "
                              "type. 'active' means number of pods in activeQ; 'backoff' "
                              "means number of pods in backoffQ; 'unschedulable' means number "
                              "of pods in unschedulablePods that the scheduler attempted to "
                              "schedule and failed; 'gated' is the number of unschedulable "
                              "pods that the scheduler never attempted to schedule because "
                              "they are gated.", labels=["queue"])
        counts = self.queue.counts() if self.queue is not None else {}
        for name in QUEUES:
            g.add_metric([name], counts.get(name, 0))
        yield g


PENDING_PODS = PendingPods()
REGISTRY.register(PENDING_PODS)
