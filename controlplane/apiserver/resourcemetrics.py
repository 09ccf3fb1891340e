"""The resource metrics API's figures (metrics.k8s.io/v1beta1), pure: what
metrics-server does between a scrape and an answer.

`parse` reads an agent's `/metrics/resource` (kubelet's names, Prometheus text);
`node_usage`/`pod_usage` turn two scrapes into usage as metrics-server does (CPU
is a rate: the cumulative core-seconds' difference over the samples' time
difference; memory is the latest working set); `node_metrics_object` and
`pod_metrics_object` build the NodeMetrics and PodMetrics documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from jota.api.meta import Obj
from jota.api.quantity import format_quantity

API_VERSION = "metrics.k8s.io/v1beta1"


@dataclass(frozen=True)
class Point:
    """One container's (or the node's) cumulative CPU and working set at `timestamp`."""

    cpu_seconds: float
    memory_bytes: float
    timestamp: float  # unix seconds of the cpu sample
    start_time: float = 0.0  # the container's start (a restart resets its counter)


@dataclass
class Scrape:
    node: Point | None = None
    containers: dict[tuple[str, str], dict[str, Point]] = field(default_factory=dict)
    # (namespace, pod) -> container -> point


@dataclass(frozen=True)
class Usage:
    cpu_nanocores: int
    memory_bytes: int
    timestamp: float
    window: float


def parse(text: str, scraped_at: float) -> Scrape:
    """`/metrics/resource` -> a Scrape; samples without a timestamp get `scraped_at`."""
    cpu: dict[tuple[str, str, str], tuple[float, float]] = {}
    memory: dict[tuple[str, str, str], float] = {}
    start: dict[tuple[str, str, str], float] = {}
    node_cpu: tuple[float, float] | None = None
    node_memory: float | None = None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            ts = float(s.timestamp) if s.timestamp is not None else scraped_at
            key = (s.labels.get("namespace", ""), s.labels.get("pod", ""),
                   s.labels.get("container", ""))
            if s.name == "node_cpu_usage_seconds_total":
                node_cpu = (s.value, ts)
            elif s.name == "node_memory_working_set_bytes":
                node_memory = s.value
            elif s.name == "container_cpu_usage_seconds_total":
                cpu[key] = (s.value, ts)
            elif s.name == "container_memory_working_set_bytes":
                memory[key] = s.value
            elif s.name == "container_start_time_seconds":
                start[key] = s.value
    out = Scrape()
    if node_cpu is not None and node_memory is not None:
        out.node = Point(node_cpu[0], node_memory, node_cpu[1])
    for key, (seconds, ts) in cpu.items():
        if key not in memory:
            continue
        ns, pod, container = key
        out.containers.setdefault((ns, pod), {})[container] = Point(
            seconds, memory[key], ts, start.get(key, 0.0))
    return out


def rate(prev: Point | None, cur: Point) -> Usage | None:
    """Usage between two points; None without a usable earlier one (first sight, a
    restart, a counter that went back, no time between them)."""
    if prev is None or cur.timestamp <= prev.timestamp or cur.cpu_seconds < prev.cpu_seconds:
        return None
    if cur.start_time != prev.start_time:
        return None
    window = cur.timestamp - prev.timestamp
    nanocores = int((cur.cpu_seconds - prev.cpu_seconds) / window * 1e9)
    return Usage(nanocores, int(cur.memory_bytes), cur.timestamp, window)


def node_usage(prev: Scrape | None, cur: Scrape) -> Usage | None:
    if cur.node is None:
        return None
    return rate(prev.node if prev is not None else None, cur.node)


def pod_usage(prev: Scrape | None, cur: Scrape) -> dict[tuple[str, str], dict[str, Usage]]:
    """(namespace, pod) -> container -> usage, for pods whose every container has one
    (metrics-server leaves out a pod with a container it cannot rate)."""
    out: dict[tuple[str, str], dict[str, Usage]] = {}
    for key, containers in cur.containers.items():
        before = prev.containers.get(key, {}) if prev is not None else {}
        usages = {name: rate(before.get(name), point) for name, point in containers.items()}
        if usages and all(u is not None for u in usages.values()):
            out[key] = {n: u for n, u in usages.items() if u is not None}
    return out


def _time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(seconds: float) -> str:
    """A Go duration as metrics-server prints it: `15.002s`."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _usage(u: Usage) -> dict[str, str]:
    return {"cpu": f"{u.cpu_nanocores}n",
            "memory": format_quantity(Decimal(u.memory_bytes), "binary")}


def node_metrics_object(name: str, labels: dict[str, str], usage: Usage, now: float) -> Obj:
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION,
            "metadata": {"name": name, "labels": dict(labels),
                         "creationTimestamp": _time(now)},
            "timestamp": _time(usage.timestamp), "window": _window(usage.window),
            "usage": _usage(usage)}


def pod_metrics_object(namespace: str, name: str, labels: dict[str, str],
                       containers: dict[str, Usage], now: float) -> Obj:
    first = min(containers.values(), key=lambda u: u.timestamp)
    return {"kind": "PodMetrics", "apiVersion": API_VERSION,
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                         "creationTimestamp": _time(now)},
            "timestamp": _time(first.timestamp), "window": _window(first.window),
            "containers": [{"name": c, "usage": _usage(u)}
                           for c, u in sorted(containers.items())]}
