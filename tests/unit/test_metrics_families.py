"""The metric families against cAdvisor's and kubelet's names, types and labels."""

from __future__ import annotations

import re

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from node.metrics.cgroup import Cpu, Memory, Spec, Usage
from node.metrics.collector import Machine, Sample, Snapshot, Target, targets
from node.metrics.families import cadvisor_families, render, resource_families
from node.metrics.kubelet import AgentMetrics
from node.metrics.procfs import Interface
from node.runtime.interface import (
    ContainerState,
    ContainerStatus,
    PodRef,
    SandboxState,
    SandboxStatus,
)
from node.runtime.pause import PAUSE_IMAGE

POD = PodRef(uid="u-1", namespace="ns", name="web")
CADVISOR_LABELS = {"container", "id", "image", "name", "namespace", "pod"}

# cAdvisor's families (metrics/prometheus.go), as kubelet's /metrics/cadvisor serves them.
CADVISOR = {
    "container_cpu_usage_seconds_total": "counter",
    "container_cpu_user_seconds_total": "counter",
    "container_cpu_system_seconds_total": "counter",
    "container_cpu_cfs_periods_total": "counter",
    "container_cpu_cfs_throttled_periods_total": "counter",
    "container_cpu_cfs_throttled_seconds_total": "counter",
    "container_memory_usage_bytes": "gauge",
    "container_memory_working_set_bytes": "gauge",
    "container_memory_rss": "gauge",
    "container_memory_cache": "gauge",
    "container_memory_failcnt": "counter",
    "container_oom_events_total": "counter",
    "container_spec_memory_limit_bytes": "gauge",
    "container_spec_cpu_quota": "gauge",
    "container_spec_cpu_period": "gauge",
    "container_spec_cpu_shares": "gauge",
    "container_network_receive_bytes_total": "counter",
    "container_network_receive_packets_total": "counter",
    "container_network_receive_packets_dropped_total": "counter",
    "container_network_receive_errors_total": "counter",
    "container_network_transmit_bytes_total": "counter",
    "container_network_transmit_packets_total": "counter",
    "container_network_transmit_packets_dropped_total": "counter",
    "container_network_transmit_errors_total": "counter",
    "container_fs_reads_bytes_total": "counter",
    "container_fs_writes_bytes_total": "counter",
    "container_processes": "gauge",
    "container_threads": "gauge",
    "container_start_time_seconds": "gauge",
    "container_last_seen": "gauge",
    "machine_cpu_cores": "gauge",
    "machine_memory_bytes": "gauge",
}


def target(container: str, *, sandbox: bool = False) -> Target:
    return Target(runtime_id=f"id-{container or 'pod'}", container=container, pod="web",
                  namespace="ns", pod_uid="u-1",
                  image=PAUSE_IMAGE if sandbox else "jota/busybox:latest",
                  name=f"k8s_{container or 'POD'}_web_ns_u-1_0", started_at=1_700_000_000.5,
                  sandbox=sandbox)


def snapshot(error: bool = False) -> Snapshot:
    limited = Usage(cpu=Cpu(usage_ns=3_000_000_000, user_ns=2_000_000_000,
                            system_ns=1_000_000_000, periods=10, throttled_periods=4,
                            throttled_ns=500_000_000),
                    memory=Memory(usage=100, working_set=80, rss=60, cache=40, failcnt=1,
                                  oom_kills=2),
                    spec=Spec(cpu_quota=50_000, memory_limit=1 << 26),
                    io={"254:0": (4096, 8192)}, processes=2, threads=3)
    sandbox = Usage(cpu=Cpu(usage_ns=1_000_000), memory=Memory(usage=10, working_set=5))
    return Snapshot(
        timestamp=1_700_000_100.25,
        samples=[Sample(target("", sandbox=True), "/docker/id-pod", sandbox,
                        {"eth0": Interface(1, 2, 3, 4, 5, 6, 7, 8)}),
                 Sample(target("app"), "/docker/id-app", limited),
                 Sample(target("free"), "/docker/id-free", Usage())],
        node=Usage(cpu=Cpu(usage_ns=9_000_000_000), memory=Memory(working_set=1234)),
        machine=Machine(cpus=2, memory_bytes=1 << 34, machine_id="m", boot_id="b"),
        error=error)


_SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)(?: \d+)?$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parsed(body: bytes) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    """The text format read line by line: family -> (type, samples), names as written
    (prometheus_client's own parser renames counters to end in _total)."""
    out: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]] = {}
    for line in body.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            out[name] = (typ, [])
        elif not line.startswith("#"):
            match = _SAMPLE.match(line)
            assert match, line
            name, labels, value = match.groups()
            out[name][1].append((name, dict(_LABEL.findall(labels or "")), float(value)))
    return out


def test_cadvisor_families_names_types_and_labels() -> None:
    families = parsed(render(cadvisor_families(snapshot())))
    assert {n: t for n, (t, _) in families.items()} == CADVISOR
    for name, (_, samples) in families.items():
        for sample_name, labels, _ in samples:
            assert sample_name == name
            if name.startswith("container_"):
                assert set(labels) >= CADVISOR_LABELS, name


def test_cadvisor_values_and_conditions() -> None:
    families = parsed(render(cadvisor_families(snapshot())))

    def series(name: str) -> dict[str, float]:
        return {labels["container"]: value for _, labels, value in families[name][1]}

    assert series("container_cpu_usage_seconds_total") == {"": 0.001, "app": 3.0, "free": 0.0}
    assert all(labels["cpu"] == "total"
               for _, labels, _ in families["container_cpu_usage_seconds_total"][1])
    # Throttling and quota only where a quota is set.
    assert series("container_cpu_cfs_throttled_seconds_total") == {"app": 0.5}
    assert series("container_spec_cpu_quota") == {"app": 50_000}
    assert series("container_spec_memory_limit_bytes")["free"] == 0  # no limit
    assert series("container_memory_working_set_bytes") == {"": 5, "app": 80, "free": 0}
    assert series("container_oom_events_total")["app"] == 2
    # Network only for the sandbox, which owns the pod's namespace.
    (_, labels, value), = families["container_network_transmit_bytes_total"][1]
    assert (labels["container"], labels["interface"], labels["image"], value) == (
        "", "eth0", PAUSE_IMAGE, 5)
    (_, labels, value), = families["container_fs_writes_bytes_total"][1]
    assert labels["container"] == "app" and value == 8192 and labels["device"]
    (_, labels, value), = families["machine_cpu_cores"][1]
    assert value == 2 and labels == {"boot_id": "b", "machine_id": "m", "system_uuid": ""}


def test_samples_carry_the_snapshot_time_as_kubelet() -> None:
    text = render(cadvisor_families(snapshot())).decode()
    line = next(x for x in text.splitlines() if x.startswith("container_memory_rss{"))
    assert line.endswith(" 1700000100250")
    assert "# TYPE container_memory_failcnt counter" in text


def test_resource_families_as_kubelet() -> None:
    families = parsed(render(resource_families(snapshot())))
    assert {n: t for n, (t, _) in families.items()} == {
        "node_cpu_usage_seconds_total": "counter",
        "node_memory_working_set_bytes": "gauge",
        "container_cpu_usage_seconds_total": "counter",
        "container_memory_working_set_bytes": "gauge",
        "container_start_time_seconds": "gauge",
        "pod_cpu_usage_seconds_total": "counter",
        "pod_memory_working_set_bytes": "gauge",
        "scrape_error": "gauge",
        "resource_scrape_error": "gauge",
    }
    containers = families["container_cpu_usage_seconds_total"][1]
    assert {(lb["container"], lb["pod"], lb["namespace"]) for _, lb, _ in containers} == {
        ("app", "web", "ns"), ("free", "web", "ns")}  # the sandbox is the pod's, not a container
    (_, labels, cpu), = families["pod_cpu_usage_seconds_total"][1]
    assert labels == {"pod": "web", "namespace": "ns"} and cpu == 3.001
    (_, _, memory), = families["pod_memory_working_set_bytes"][1]
    assert memory == 85
    assert families["node_cpu_usage_seconds_total"][1][0][2] == 9.0
    assert families["scrape_error"][1][0][2] == 0
    assert parsed(render(resource_families(snapshot(error=True))))["scrape_error"][1][0][2] == 1


def test_targets_are_ready_sandboxes_and_running_containers() -> None:
    sandboxes = [SandboxStatus(id="s1", pod=POD, attempt=1, state=SandboxState.READY,
                               created_at=10.0),
                 SandboxStatus(id="s0", pod=POD, attempt=0, state=SandboxState.NOTREADY,
                               created_at=5.0)]
    containers = [
        ContainerStatus(id="c1", sandbox_id="s1", pod=POD, name="app", attempt=2,
                        state=ContainerState.RUNNING, image="jota/busybox:latest",
                        created_at=11.0),
        ContainerStatus(id="c0", sandbox_id="s1", pod=POD, name="app", attempt=1,
                        state=ContainerState.EXITED, image="jota/busybox:latest"),
        ContainerStatus(id="x", sandbox_id="s9", pod=POD, name="other", attempt=0,
                        state=ContainerState.RUNNING, image="i", labels={"theirs": "1"}),
    ]
    found = targets(sandboxes, containers, mine=lambda labels: "theirs" not in labels)
    assert [(t.runtime_id, t.container, t.image, t.name, t.sandbox) for t in found] == [
        ("s1", "", PAUSE_IMAGE, "k8s_POD_web_ns_u-1_1", True),
        ("c1", "app", "jota/busybox:latest", "k8s_app_web_ns_u-1_2", False)]


def test_agent_metrics_as_kubelet() -> None:
    metrics = AgentMetrics()
    sandboxes = [SandboxStatus(id="s1", pod=POD, attempt=0, state=SandboxState.READY,
                               created_at=1.0)]
    containers = [ContainerStatus(id=f"c{i}", sandbox_id="s1", pod=POD, name="a", attempt=i,
                                  state=state, image="i")
                  for i, state in enumerate([ContainerState.RUNNING, ContainerState.EXITED,
                                             ContainerState.EXITED])]
    metrics.watch_runtime(lambda: (sandboxes, containers))
    metrics.observe_pod_start(1.5)
    families = {f.name: f for f in text_string_to_metric_families(
        generate_latest(metrics.registry).decode())}
    assert families["kubelet_pod_start_duration_seconds"].type == "histogram"
    buckets = {s.labels["le"]: s.value for s in families["kubelet_pod_start_duration_seconds"]
               .samples if s.name.endswith("_bucket")}
    assert (buckets["1.0"], buckets["2.0"]) == (0, 1)
    assert families["kubelet_running_pods"].samples[0].value == 1
    assert {s.labels["container_state"]: s.value
            for s in families["kubelet_running_containers"].samples} == {"running": 1,
                                                                         "exited": 2}
    assert "process_cpu_seconds" in families
