"""The metrics API's pure part: kubelet's /metrics/resource parsed, CPU as a rate
between two scrapes (metrics-server's way), NodeMetrics/PodMetrics documents."""

from __future__ import annotations

from controlplane.apiserver import resourcemetrics as rm

T0 = 1_790_000_000.0


def text(node_cpu: float, c_cpu: float, t: float, start: float = 100.0) -> str:
    ms = int(t * 1000)
    return f"""# HELP container_cpu_usage_seconds_total x
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{{container="c",namespace="ns",pod="web-1"}} {c_cpu} {ms}
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{{container="c",namespace="ns",pod="web-1"}} 12582912 {ms}
# TYPE container_start_time_seconds gauge
container_start_time_seconds{{container="c",namespace="ns",pod="web-1"}} {start} {ms}
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total {node_cpu} {ms}
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1073741824 {ms}
# TYPE scrape_error gauge
scrape_error 0
"""


def test_first_scrape_gives_no_usage_yet() -> None:
    cur = rm.parse(text(10.0, 1.0, T0), T0)
    assert rm.node_usage(None, cur) is None
    assert rm.pod_usage(None, cur) == {}


def test_cpu_is_the_rate_between_two_scrapes() -> None:
    prev = rm.parse(text(10.0, 1.0, T0), T0)
    cur = rm.parse(text(13.0, 1.75, T0 + 15), T0 + 15)
    node = rm.node_usage(prev, cur)
    assert node is not None
    assert (node.cpu_nanocores, node.memory_bytes, node.window) == (200_000_000, 2**30, 15.0)
    pods = rm.pod_usage(prev, cur)
    assert pods[("ns", "web-1")]["c"].cpu_nanocores == 50_000_000
    obj = rm.pod_metrics_object("ns", "web-1", {"app": "web"}, pods[("ns", "web-1")], T0 + 16)
    assert obj == {
        "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "web-1", "namespace": "ns", "labels": {"app": "web"},
                     "creationTimestamp": "2026-09-21T14:13:36Z"},
        "timestamp": "2026-09-21T14:13:35Z", "window": "15s",
        "containers": [{"name": "c", "usage": {"cpu": "50000000n", "memory": "12Mi"}}]}
    assert rm.node_metrics_object("n1", {}, node, T0 + 16)["usage"] == {
        "cpu": "200000000n", "memory": "1Gi"}


def test_a_restarted_container_has_no_rate_until_the_next_scrape() -> None:
    prev = rm.parse(text(10.0, 5.0, T0), T0)
    cur = rm.parse(text(13.0, 0.5, T0 + 15, start=200.0), T0 + 15)
    assert rm.pod_usage(prev, cur) == {}
