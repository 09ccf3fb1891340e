"""A snapshot as metric families: cAdvisor's (/metrics/cadvisor) and kubelet's resource
metrics (/metrics/resource, what metrics-server reads), with their exact names,
types, help texts and labels. Pure functions of a `Snapshot`.

cAdvisor's conditions are kept: CFS throttling series and `container_spec_cpu_quota`
only for a container with a CPU quota, network series only for the container that
owns the network namespace (the sandbox), one series per block device for I/O.
Samples carry the snapshot's timestamp, as kubelet's do.

`render()` writes the text format itself: prometheus_client's writer renames a
counter to end in `_total`, and cAdvisor's `container_memory_failcnt` does not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from prometheus_client.metrics_core import Metric

from node.metrics.cgroup import NS
from node.metrics.collector import Sample, Snapshot
from node.metrics.procfs import Interface, device_name

LABELS = ("container", "id", "image", "name", "namespace", "pod")
COUNTER, GAUGE = "counter", "gauge"

# name -> (type, help, value of a sample or None to leave the container out)
_Value = Callable[[Sample], float | None]
_CONTAINER: list[tuple[str, str, str, _Value]] = [
    ("container_cpu_usage_seconds_total", COUNTER, "Cumulative cpu time consumed in seconds.",
     lambda s: s.usage.cpu.usage_ns / NS),
    ("container_cpu_user_seconds_total", COUNTER,
     "Cumulative user cpu time consumed in seconds.", lambda s: s.usage.cpu.user_ns / NS),
    ("container_cpu_system_seconds_total", COUNTER,
     "Cumulative system cpu time consumed in seconds.", lambda s: s.usage.cpu.system_ns / NS),
    ("container_cpu_cfs_periods_total", COUNTER,
     "Number of elapsed enforcement period intervals.",
     lambda s: s.usage.cpu.periods if s.usage.spec.cpu_quota else None),
    ("container_cpu_cfs_throttled_periods_total", COUNTER,
     "Number of throttled period intervals.",
     lambda s: s.usage.cpu.throttled_periods if s.usage.spec.cpu_quota else None),
    ("container_cpu_cfs_throttled_seconds_total", COUNTER,
     "Total time duration the container has been throttled.",
     lambda s: s.usage.cpu.throttled_ns / NS if s.usage.spec.cpu_quota else None),
    ("container_memory_cache", GAUGE, "Number of bytes of page cache memory.",
     lambda s: s.usage.memory.cache),
    ("container_memory_rss", GAUGE, "Size of RSS in bytes.", lambda s: s.usage.memory.rss),
    ("container_memory_failcnt", COUNTER, "Number of memory usage hits limits",
     lambda s: s.usage.memory.failcnt),
    ("container_memory_usage_bytes", GAUGE,
     "Current memory usage in bytes, including all memory regardless of when it was accessed",
     lambda s: s.usage.memory.usage),
    ("container_memory_working_set_bytes", GAUGE, "Current working set in bytes.",
     lambda s: s.usage.memory.working_set),
    ("container_oom_events_total", COUNTER,
     "Count of out of memory events observed for the container",
     lambda s: s.usage.memory.oom_kills),
    ("container_processes", GAUGE, "Number of processes running inside the container.",
     lambda s: s.usage.processes),
    ("container_threads", GAUGE, "Number of threads running inside the container",
     lambda s: s.usage.threads),
    ("container_spec_cpu_period", GAUGE, "CPU period of the container.",
     lambda s: s.usage.spec.cpu_period),
    ("container_spec_cpu_quota", GAUGE, "CPU quota of the container.",
     lambda s: s.usage.spec.cpu_quota or None),
    ("container_spec_cpu_shares", GAUGE, "CPU share of the container.",
     lambda s: s.usage.spec.cpu_shares),
    ("container_spec_memory_limit_bytes", GAUGE, "Memory limit for the container.",
     lambda s: s.usage.spec.memory_limit),
    ("container_start_time_seconds", GAUGE,
     "Start time of the container since unix epoch in seconds.",
     lambda s: float(int(s.target.started_at))),
]

_NETWORK: list[tuple[str, str, Callable[[Interface], int]]] = [
    ("container_network_receive_bytes_total", "Cumulative count of bytes received",
     lambda i: i.rx_bytes),
    ("container_network_receive_packets_total", "Cumulative count of packets received",
     lambda i: i.rx_packets),
    ("container_network_receive_packets_dropped_total",
     "Cumulative count of packets dropped while receiving", lambda i: i.rx_dropped),
    ("container_network_receive_errors_total",
     "Cumulative count of errors encountered while receiving", lambda i: i.rx_errors),
    ("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted",
     lambda i: i.tx_bytes),
    ("container_network_transmit_packets_total", "Cumulative count of packets transmitted",
     lambda i: i.tx_packets),
    ("container_network_transmit_packets_dropped_total",
     "Cumulative count of packets dropped while transmitting", lambda i: i.tx_dropped),
    ("container_network_transmit_errors_total",
     "Cumulative count of errors encountered while transmitting", lambda i: i.tx_errors),
]

_IO: list[tuple[str, str, int]] = [
    ("container_fs_reads_bytes_total", "Cumulative count of bytes read", 0),
    ("container_fs_writes_bytes_total", "Cumulative count of bytes written", 1),
]


def base_labels(sample: Sample) -> dict[str, str]:
    t = sample.target
    return {"container": t.container, "id": sample.cgroup, "image": t.image, "name": t.name,
            "namespace": t.namespace, "pod": t.pod}


def cadvisor_families(snap: Snapshot) -> list[Metric]:
    ts = snap.timestamp
    out: list[Metric] = []
    for name, typ, doc, value in _CONTAINER:
        family = Metric(name, doc, typ)
        for s in snap.samples:
            v = value(s)
            if v is not None:
                family.add_sample(name, _with_cpu(name, base_labels(s)), float(v), ts)
        out.append(family)
    for name, doc, field in _NETWORK:
        family = Metric(name, doc, COUNTER)
        for s in snap.samples:
            for iface, counters in sorted(s.network.items()):
                family.add_sample(name, {**base_labels(s), "interface": iface},
                                  float(field(counters)), ts)
        out.append(family)
    for name, doc, index in _IO:
        family = Metric(name, doc, COUNTER)
        for s in snap.samples:
            for dev, pair in sorted(s.usage.io.items()):
                family.add_sample(name, {**base_labels(s), "device": device_name(dev)},
                                  float(pair[index]), ts)
        out.append(family)
    last_seen = Metric("container_last_seen", "Last time a container was seen by the exporter",
                       GAUGE)
    for s in snap.samples:
        last_seen.add_sample("container_last_seen", base_labels(s), float(int(ts)), ts)
    out.append(last_seen)
    out += machine_families(snap)
    return out


def _with_cpu(name: str, labels: dict[str, str]) -> dict[str, str]:
    """kubelet turns off per-CPU usage, so cAdvisor labels the total cpu="total"."""
    return {**labels, "cpu": "total"} if name == "container_cpu_usage_seconds_total" else labels


def machine_families(snap: Snapshot) -> list[Metric]:
    m = snap.machine
    labels = {"boot_id": m.boot_id, "machine_id": m.machine_id, "system_uuid": m.system_uuid}
    cores = Metric("machine_cpu_cores", "Number of logical CPU cores.", GAUGE)
    cores.add_sample("machine_cpu_cores", labels, float(m.cpus))
    memory = Metric("machine_memory_bytes", "Amount of memory installed on the machine.", GAUGE)
    memory.add_sample("machine_memory_bytes", labels, float(m.memory_bytes))
    return [cores, memory]


def resource_families(snap: Snapshot) -> list[Metric]:
    """kubelet's /metrics/resource (pkg/kubelet/metrics/collectors/resource_metrics.go)."""
    ts = snap.timestamp

    def family(name: str, typ: str, doc: str) -> Metric:
        return Metric(name, doc, typ)

    node_cpu = family("node_cpu_usage_seconds_total", COUNTER,
                      "[STABLE] Cumulative cpu time consumed by the node in core-seconds")
    node_cpu.add_sample(node_cpu.name, {}, snap.node.cpu.usage_ns / NS, ts)
    node_mem = family("node_memory_working_set_bytes", GAUGE,
                      "[STABLE] Current working set of the node in bytes")
    node_mem.add_sample(node_mem.name, {}, float(snap.node.memory.working_set), ts)
    c_cpu = family("container_cpu_usage_seconds_total", COUNTER,
                   "[STABLE] Cumulative cpu time consumed by the container in core-seconds")
    c_mem = family("container_memory_working_set_bytes", GAUGE,
                   "[STABLE] Current working set of the container in bytes")
    c_start = family("container_start_time_seconds", GAUGE,
                     "[STABLE] Start time of the container since unix epoch in seconds")
    p_cpu = family("pod_cpu_usage_seconds_total", COUNTER,
                   "[STABLE] Cumulative cpu time consumed by the pod in core-seconds")
    p_mem = family("pod_memory_working_set_bytes", GAUGE,
                   "[STABLE] Current working set of the pod in bytes")
    pods: dict[tuple[str, str], list[Sample]] = {}
    for s in snap.samples:
        t = s.target
        pods.setdefault((t.pod, t.namespace), []).append(s)
        if t.sandbox:
            continue
        labels = {"container": t.container, "namespace": t.namespace, "pod": t.pod}
        c_cpu.add_sample(c_cpu.name, labels, s.usage.cpu.usage_ns / NS, ts)
        c_mem.add_sample(c_mem.name, labels, float(s.usage.memory.working_set), ts)
        c_start.add_sample(c_start.name, labels, t.started_at, ts)
    for (pod, namespace), group in sorted(pods.items()):
        labels = {"namespace": namespace, "pod": pod}
        p_cpu.add_sample(p_cpu.name, labels, sum(s.usage.cpu.usage_ns for s in group) / NS, ts)
        p_mem.add_sample(p_mem.name, labels,
                         float(sum(s.usage.memory.working_set for s in group)), ts)
    error = 1.0 if snap.error else 0.0
    scrape = family("scrape_error", GAUGE,
                    "[ALPHA] 1 if there was an error while getting container metrics, "
                    "0 otherwise")
    scrape.add_sample("scrape_error", {}, error)
    resource_scrape = family("resource_scrape_error", GAUGE,
                             "[STABLE] 1 if there was an error while getting container "
                             "metrics, 0 otherwise")
    resource_scrape.add_sample("resource_scrape_error", {}, error)
    return [c_cpu, c_mem, c_start, node_cpu, node_mem, p_cpu, p_mem, resource_scrape, scrape]


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(families: Iterable[Metric]) -> bytes:
    """Prometheus text format 0.0.4, names exactly as given; empty families left out."""
    lines: list[str] = []
    for f in families:
        if not f.samples:
            continue
        doc = f.documentation.replace("\\", r"\\").replace("\n", r"\n")
        lines.append(f"# HELP {f.name} {doc}")
        lines.append(f"# TYPE {f.name} {f.type}")
        for s in f.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
            stamp = f" {int(float(s.timestamp) * 1000)}" if s.timestamp is not None else ""
            lines.append(f"{s.name}{{{labels}}} {_number(s.value)}{stamp}" if labels
                         else f"{s.name} {_number(s.value)}{stamp}")
    return ("\n".join(lines) + "\n").encode()
