"""The HPA's replica computation, as Kubernetes' replica_calculator_test.go: tolerance,
missing metrics, unready and ignored pods, utilization and average-value targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controlplane.controllers.podautoscaler.replica_calculator import (
    MetricsError,
    PodMetric,
    plain_replicas,
    pod_metrics,
    resource_replicas,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, request: str = "1", *, resource: str = "cpu", phase: str = "Running",
        ready: bool = True, started: float = 600, became: float | None = None,
        deleting: bool = False) -> dict[str, Any]:
    """A pod started `started` s ago whose Ready condition changed `became` s ago."""
    start = NOW - timedelta(seconds=started)
    transition = start if became is None else NOW - timedelta(seconds=became)
    md: dict[str, Any] = {"name": name, "namespace": "ns"}
    if deleting:
        md["deletionTimestamp"] = ts(NOW)
    return {"metadata": md,
            "spec": {"containers": [{"name": "c", "resources": {"requests": {resource:
                                                                              request}}}]},
            "status": {"phase": phase, "startTime": ts(start), "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": ts(transition)}]}}


def usage(**values: int) -> dict[str, PodMetric]:
    return {n: PodMetric(v, NOW, 15.0) for n, v in values.items()}


def names(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


CASES = [
    # (current, target%, pods, usage (millicores), expected replicas, expected utilization)
    ("scale up", 3, 30, [pod(n) for n in names(3)], usage(p0=300, p1=500, p2=700), 5, 50),
    ("scale down", 5, 50, [pod(n) for n in names(5)],
     usage(p0=100, p1=300, p2=500, p3=250, p4=250), 3, 28),
    ("within tolerance", 3, 100, [pod("p0", "0.9"), pod("p1", "1.0"), pod("p2", "1.1")],
     usage(p0=1010, p1=1090, p2=1100), 3, 106),
    # An unready pod counts as 0 on a scale up: 1200/3000 = 40% -> ceil(1.33 * 3) = 4.
    ("scale up, unready pod", 3, 30,
     [pod("p0", ready=False, became=590), pod("p1"), pod("p2")],
     usage(p0=300, p1=500, p2=700), 4, 60),
    ("pending pod is unready", 3, 30, [pod("p0", phase="Pending"), pod("p1"), pod("p2")],
     usage(p1=500, p2=700), 4, 60),
    # A missing pod counts as 100% of its request on a scale down: 1300/4000 -> 3.
    ("missing metrics, scale down", 4, 50, [pod(n) for n in names(4)],
     usage(p0=100, p1=100, p2=100), 3, 10),
    # ... and as 0 on a scale up: 4500/4000 = 112% of 50 -> ceil(2.25 * 4) = 9.
    ("missing metrics, scale up", 4, 50, [pod(n) for n in names(4)],
     usage(p0=1500, p1=1500, p2=1500), 9, 150),
    # Missing pods that would flip the direction cancel the change.
    ("missing metrics flip direction", 4, 50, [pod(n) for n in names(4)],
     usage(p0=400, p1=95), 4, 24),
    ("missing metrics, no change", 2, 100, [pod(n) for n in names(2)], usage(p0=1000), 2, 100),
    ("deleted and failed pods are ignored", 3, 25,
     [pod("p0", deleting=True), pod("p1", phase="Failed"), pod("p2"), pod("p3")],
     usage(p0=5000, p1=5000, p2=500, p3=500), 4, 50),
    # Within the cpu initialization period, a sample taken less than a window after the
    # pod became ready is ignored (start-up burn).
    ("cpu initialization", 2, 25, [pod("p0", started=60, became=10), pod("p1")],
     usage(p0=1000, p1=1000), 4, 100),
]


@pytest.mark.parametrize(("current", "target", "pods", "metrics", "replicas", "utilization"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_resource_replicas(current: int, target: int, pods: list[dict[str, Any]],
                           metrics: dict[str, PodMetric], replicas: int,
                           utilization: int) -> None:
    rec = resource_replicas(current, target, "cpu", pods, metrics, NOW)
    assert (rec.replicas, rec.utilization) == (replicas, utilization)


def test_memory_is_not_subject_to_readiness() -> None:
    pods = [pod("p0", "100Mi", resource="memory", ready=False, became=590),
            pod("p1", "100Mi", resource="memory")]
    mib = 1024 * 1024 * 1000  # milli-bytes per MiB
    rec = resource_replicas(2, 50, "memory", pods, usage(p0=100 * mib, p1=100 * mib), NOW)
    assert (rec.replicas, rec.utilization) == (4, 100)


def test_average_value_target() -> None:
    mib = 1024 * 1024 * 1000
    pods = [pod(n, "1Gi", resource="memory") for n in names(3)]
    rec = plain_replicas(3, 100 * mib, "memory", pods,
                         usage(p0=100 * mib, p1=200 * mib, p2=300 * mib), NOW)
    assert (rec.replicas, rec.raw_average) == (6, 200 * mib)


@pytest.mark.parametrize(("pods", "metrics", "message"), [
    ([], usage(p0=1), "no pods returned by selector while calculating replica count"),
    ([pod("p0", phase="Pending")], usage(p0=1),
     "did not receive metrics for targeted pods (pods might be unready)"),
    ([{**pod("p0"), "spec": {"containers": [{"name": "c"}]}}], usage(p0=1),
     "missing request for cpu in container c of Pod p0"),
])
def test_errors_in_upstreams_words(pods: list[dict[str, Any]], metrics: dict[str, PodMetric],
                                   message: str) -> None:
    with pytest.raises(MetricsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resource_replicas(1, 50, "cpu", pods, metrics, NOW)


def test_pod_metrics_sums_containers_and_skips_incomplete_pods() -> None:
    items = [
        {"metadata": {"name": "a"}, "timestamp": ts(NOW), "window": "15s", "containers": [
            {"name": "x", "usage": {"cpu": "250m", "memory": "10Mi"}},
            {"name": "y", "usage": {"cpu": "5m", "memory": "1Mi"}}]},
        {"metadata": {"name": "b"}, "timestamp": ts(NOW), "window": "15s", "containers": [
            {"name": "x", "usage": {"memory": "10Mi"}}]},
    ]
    assert pod_metrics(items, "cpu") == {"a": PodMetric(255, NOW, 15.0)}
    assert set(pod_metrics(items, "memory")) == {"a", "b"}


def test_one_metric_spec_to_a_proposal_and_status() -> None:
    from controlplane.controllers.podautoscaler.horizontal import compute_for_metric

    spec = {"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 50}}}
    metrics = [{"metadata": {"name": n}, "timestamp": ts(NOW), "window": "15s",
                "containers": [{"name": "c", "usage": {"cpu": "730m", "memory": "1Mi"}}]}
               for n in names(2)]
    replicas, name, status = compute_for_metric(spec, 2, [pod(n) for n in names(2)], metrics,
                                                NOW, 300.0)
    assert (replicas, name) == (3, "cpu resource utilization (percentage of request)")
    assert status == {"type": "Resource", "resource": {"name": "cpu", "current": {
        "averageUtilization": 73, "averageValue": "730m"}}}
    with pytest.raises(MetricsError, match="no metrics returned from resource metrics API"):
        compute_for_metric(spec, 2, [pod("p0")], [], NOW, 300.0)
