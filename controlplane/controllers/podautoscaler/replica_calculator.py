"""How many replicas a metric asks for: Kubernetes' replica_calculator.go, pure.

`resource_replicas` (a target utilization, percent of request) and
`plain_replicas` (a target average value) take the pods the scale selector
matches and their usage from the metrics API, and answer as upstream:

- desired = ceil(ready pods * current / target); within the tolerance (0.1 of the
  target) nothing changes;
- pods being deleted or Failed are ignored; Pending pods, and (cpu only) pods
  not Ready or still starting (the cpu initialization period, 5 min) count as
  unready: left out, and on a scale up counted as using 0;
- pods with no metrics yet count, conservatively, as using 100% of their
  request (target value) on a scale down and 0 on a scale up;
- a correction that would flip the direction of the change cancels it.

Values are in milli-units (millicores, milli-bytes) as upstream's MilliValue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from jota.api.meta import Obj, name_of
from jota.api.quantity import parse_quantity

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0
DELAY_OF_INITIAL_READINESS_STATUS = 30.0


class MetricsError(Exception):
    """No replica count can be computed from this metric (upstream's error text)."""


@dataclass(frozen=True)
class PodMetric:
    value: int  # milli-units
    timestamp: datetime
    window: float  # seconds


@dataclass(frozen=True)
class Recommendation:
    replicas: int
    utilization: int  # percent of request (0 for an average-value target)
    raw_average: int  # milli-units per pod


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def milli_value(q: object) -> int:
    return math.ceil(parse_quantity(q).scaleb(3))  # type: ignore[arg-type]


def pod_metrics(items: list[Obj], resource: str) -> dict[str, PodMetric]:
    """PodMetrics objects -> pod name -> the sum of its containers' usage of `resource`;
    a pod with a container lacking that figure is left out, as upstream's client does."""
    out: dict[str, PodMetric] = {}
    for m in items:
        total = 0
        missing = False
        containers = m.get("containers") or []
        for c in containers:
            usage = (c or {}).get("usage") or {}
            if resource not in usage:
                missing = True
                break
            total += milli_value(usage[resource])
        ts = parse_time(m.get("timestamp"))
        if missing or not containers or ts is None:
            continue
        window = str(m.get("window") or "0s").rstrip("s")
        try:
            seconds = float(window)
        except ValueError:
            seconds = 0.0
        out[name_of(m)] = PodMetric(total, ts, seconds)
    return out


def _ready_condition(pod: Obj) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c
    return None


def group_pods(pods: list[Obj], metrics: dict[str, PodMetric], resource: str, now: datetime,
               cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD,
               delay_of_initial_readiness: float = DELAY_OF_INITIAL_READINESS_STATUS,
               ) -> tuple[int, set[str], set[str], set[str]]:
    """(ready pod count, unready, missing, ignored), as upstream's groupPods."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        name = name_of(pod)
        phase = (pod.get("status") or {}).get("phase")
        if (pod.get("metadata") or {}).get("deletionTimestamp") or phase == "Failed":
            ignored.add(name)
            continue
        if phase == "Pending":
            unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            missing.add(name)
            continue
        if resource == "cpu":
            condition = _ready_condition(pod)
            start = parse_time((pod.get("status") or {}).get("startTime"))
            transition = parse_time((condition or {}).get("lastTransitionTime")) or start
            if condition is None or start is None or transition is None:
                is_unready = True
            elif start + timedelta(seconds=cpu_initialization_period) > now:
                # Still starting: skip it if unready, or if no full metric window has
                # passed since it became ready (the sample mixes in start-up burn).
                is_unready = (condition.get("status") == "False" or metric.timestamp <
                              transition + timedelta(seconds=metric.window))
            else:
                # Unready and never been ready since it started.
                is_unready = (condition.get("status") == "False" and start + timedelta(
                    seconds=delay_of_initial_readiness) > transition)
            if is_unready:
                unready.add(name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def pod_requests(pods: list[Obj], resource: str) -> dict[str, int]:
    """Pod name -> the sum of its containers' requests (milli-units)."""
    out: dict[str, int] = {}
    for pod in pods:
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            req = ((c or {}).get("resources") or {}).get("requests") or {}
            if resource not in req:
                raise MetricsError(f"missing request for {resource} in container "
                                   f"{c.get('name', '')} of Pod {name_of(pod)}")
            total += milli_value(req[resource])
        out[name_of(pod)] = total
    return out


def utilization_ratio(metrics: dict[str, int], requests: dict[str, int], target: int
                      ) -> tuple[float, int, int]:
    """(usage ratio, utilization %, raw average) over the pods that have requests."""
    metrics_total = requests_total = entries = 0
    for name, value in metrics.items():
        if name in requests:
            metrics_total += value
            requests_total += requests[name]
            entries += 1
    if requests_total == 0:
        raise MetricsError("no metrics returned matched known pods")
    utilization = int(metrics_total * 100 / requests_total)
    return utilization / target, utilization, metrics_total // entries


def _decide(current: int, ready: int, usage_ratio: float, new_ratio: float | None,
            counted: int, unready: bool, missing: bool) -> int:
    if not unready and not missing:
        if abs(1.0 - usage_ratio) <= TOLERANCE:
            return current
        return math.ceil(usage_ratio * ready)
    assert new_ratio is not None
    if abs(1.0 - new_ratio) <= TOLERANCE or (usage_ratio < 1.0 < new_ratio) or (
            usage_ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def resource_replicas(current: int, target_utilization: int, resource: str, pods: list[Obj],
                      metrics: dict[str, PodMetric], now: datetime, *,
                      cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD
                      ) -> Recommendation:
    """GetResourceReplicas: a target utilization (percent of request)."""
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(pods, metrics, resource, now,
                                                  cpu_initialization_period)
    values = {n: m.value for n, m in metrics.items() if n not in ignored and n not in unready}
    requests = pod_requests(pods, resource)
    if not values:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, utilization, raw = utilization_ratio(values, requests, target_utilization)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    new_ratio = None
    if scale_up_with_unready or missing:
        for name in missing:
            if ratio != 1.0:
                values[name] = requests.get(name, 0) if ratio < 1.0 else 0
        if scale_up_with_unready:
            for name in unready:
                values[name] = 0
        new_ratio, _, _ = utilization_ratio(values, requests, target_utilization)
    replicas = _decide(current, ready, ratio, new_ratio, len(values), scale_up_with_unready,
                       bool(missing))
    return Recommendation(replicas, utilization, raw)


def plain_replicas(current: int, target_value: int, resource: str, pods: list[Obj],
                   metrics: dict[str, PodMetric], now: datetime, *,
                   cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD
                   ) -> Recommendation:
    """GetRawResourceReplicas: a target average value per pod (milli-units)."""
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(pods, metrics, resource, now,
                                                  cpu_initialization_period)
    values = {n: m.value for n, m in metrics.items() if n not in ignored and n not in unready}
    if not values:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")

    def ratio_of(vals: dict[str, int]) -> tuple[float, int]:
        average = sum(vals.values()) // len(vals)
        return average / target_value, average

    ratio, average = ratio_of(values)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    new_ratio = None
    if scale_up_with_unready or missing:
        for name in missing:
            if ratio != 1.0:
                values[name] = target_value if ratio < 1.0 else 0
        if scale_up_with_unready:
            for name in unready:
                values[name] = 0
        new_ratio, _ = ratio_of(values)
    replicas = _decide(current, ready, ratio, new_ratio, len(values), scale_up_with_unready,
                       bool(missing))
    return Recommendation(replicas, 0, average)
