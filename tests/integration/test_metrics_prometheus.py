"""Container metrics as a user sees them: a real Prometheus scrapes the node agent's
/metrics/cadvisor, and PromQL answers about real pods' CPU and memory."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from typing import Any

import pytest

from jota.client.client import Client
from jota.local.processes import Daemon
from tests.integration.conftest import Prometheus
from tests.integration.node_helpers import container, eventually, pod, wait_running

MIB = 1 << 20
HELD_MIB = 48
CADVISOR_LABELS = {"container", "id", "image", "name", "namespace", "pod"}


@pytest.fixture(scope="module")
def scraped(prometheus: Prometheus, node_agent: Daemon) -> Prometheus:
    """Prometheus scraping this session's node agent, as it would scrape a kubelet."""
    address = node_agent.extra["metrics"]
    prometheus.add_targets("kubelet-cadvisor", [address], metrics_path="/metrics/cadvisor")
    prometheus.add_targets("kubelet", [address], metrics_path="/metrics")
    return prometheus


def fetch(address: str, path: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


async def value(prom: Prometheus, promql: str) -> float | None:
    result = await asyncio.to_thread(prom.query, promql)
    return float(result[0]["value"][1]) if len(result) == 1 else None


async def test_busy_pod_cpu_rises_in_prometheus(scraped: Prometheus, client: Client,
                                                namespace: str) -> None:
    limits = {"limits": {"cpu": "200m"}, "requests": {"cpu": "200m"}}
    await client.create("pods", pod("busy", container("spin", "sh", "-c", "while :; do :; done",
                                                      resources=limits)), namespace)
    await wait_running(client, "busy", namespace)
    promql = (f'container_cpu_usage_seconds_total{{namespace="{namespace}",pod="busy",'
              f'container="spin"}}')

    async def seen() -> float | None:
        return await value(scraped, promql)

    first = await eventually(seen, timeout=60, what="the busy container's CPU in Prometheus")

    async def risen() -> float | None:
        later = await value(scraped, promql)
        return later if later is not None and later > first + 0.1 else None

    await eventually(risen, timeout=60, what=f"CPU rising past {first + 0.1:.2f}s")
    rate = await eventually(lambda: value(scraped, f"rate({promql}[5s])"), timeout=60,
                            what="a CPU rate")
    assert 0.02 < rate < 0.5, f"a loop limited to 200m ran at {rate:.3f} cores"
    throttled = await eventually(
        lambda: value(scraped, f'container_cpu_cfs_throttled_periods_total{{namespace='
                               f'"{namespace}",pod="busy",container="spin"}}'),
        timeout=60, what="throttled periods of a container with a CPU limit")
    assert throttled > 0


async def test_memory_working_set_is_what_the_pod_holds(scraped: Prometheus, client: Client,
                                                        namespace: str) -> None:
    # /dev/shm is a tmpfs: its pages stay charged to the writer and are not file cache.
    hold = (f"dd if=/dev/zero of=/dev/shm/held bs=1M count={HELD_MIB} 2>/dev/null; "
            "touch /tmp/done; sleep 3600")
    await client.create("pods", pod("holder", container("hold", "sh", "-c", hold)), namespace)
    await wait_running(client, "holder", namespace)
    promql = (f'container_memory_working_set_bytes{{namespace="{namespace}",pod="holder",'
              f'container="hold"}}')

    async def holding() -> float | None:
        got = await value(scraped, promql)
        return got if got is not None and got >= HELD_MIB * MIB else None

    held = await eventually(holding, timeout=90, what=f"a working set of {HELD_MIB} MiB")
    assert held < (HELD_MIB + 16) * MIB, f"working set {held / MIB:.1f} MiB"
    limit = await value(scraped, f'container_spec_memory_limit_bytes{{namespace="{namespace}",'
                                 f'pod="holder",container="hold"}}')
    assert limit == 0  # no limit set: cAdvisor reports 0


async def test_agent_metrics_in_prometheus(scraped: Prometheus, client: Client,
                                           namespace: str) -> None:
    await client.create("pods", pod("started", container("main", "sleep", "3600")), namespace)
    await wait_running(client, "started", namespace)

    async def counted() -> float | None:
        got = await value(scraped, 'kubelet_pod_start_duration_seconds_count{job="kubelet"}')
        return got if got else None

    await eventually(counted, timeout=60, what="a pod start in the histogram")
    running = await eventually(
        lambda: value(scraped, 'kubelet_running_pods{job="kubelet"}'), timeout=60,
        what="kubelet_running_pods")
    assert running >= 1


_SAMPLE = re.compile(r'^([a-z_]+)\{(.*)\} (\S+)')


def families(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str]]]]:
    types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE"))
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples.append((match[1], dict(re.findall(r'(\w+)="([^"]*)"', match[2]))))
    return types, samples


async def test_endpoints_serve_cadvisor_and_kubelet_families(node_agent: Daemon, client: Client,
                                                             namespace: str) -> None:
    await client.create("pods", pod("direct", container("main", "sleep", "3600")), namespace)
    await wait_running(client, "direct", namespace)
    address = node_agent.extra["metrics"]

    def ours(samples: list[tuple[str, dict[str, str]]]) -> list[tuple[str, dict[str, str]]]:
        return [(n, lb) for n, lb in samples if lb.get("namespace") == namespace]

    async def scrape() -> Any:
        status, content_type, text = await asyncio.to_thread(fetch, address,
                                                             "/metrics/cadvisor")
        types, samples = families(text)
        found = ours(samples)
        return (status, content_type, types, found) if any(
            lb.get("container") == "main" for _, lb in found) else None

    status, content_type, types, found = await eventually(scrape, timeout=60,
                                                          what="the pod in /metrics/cadvisor")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert types["container_cpu_usage_seconds_total"] == "counter"
    assert types["container_memory_working_set_bytes"] == "gauge"
    assert types["container_memory_failcnt"] == "counter"
    assert types["machine_cpu_cores"] == "gauge"
    for name, labels in found:
        assert set(labels) >= CADVISOR_LABELS, (name, labels)
        assert labels["pod"] == "direct"
    app = {lb["container"]: lb for n, lb in found if n == "container_memory_rss"}
    assert set(app) == {"", "main"}  # the sandbox (pause) and the app container
    assert app["main"]["image"] == "jota/busybox:latest"
    assert app["main"]["id"].startswith("/docker/")
    assert app["main"]["name"].startswith("k8s_main_direct_" + namespace)
    network = {lb["container"] for n, lb in found if n == "container_network_receive_bytes_total"}
    assert network == {""}  # the pod's network belongs to its sandbox

    _, _, resource = await asyncio.to_thread(fetch, address, "/metrics/resource")
    types, samples = families(resource)
    assert {n for n, lb in ours(samples)} >= {
        "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
        "container_start_time_seconds", "pod_cpu_usage_seconds_total",
        "pod_memory_working_set_bytes"}
    assert "node_cpu_usage_seconds_total" in types and "node_memory_working_set_bytes" in types

    _, _, own = await asyncio.to_thread(fetch, address, "/metrics")
    assert "# TYPE kubelet_pod_start_duration_seconds histogram" in own
    assert "# TYPE kubelet_running_containers gauge" in own
    assert (await asyncio.to_thread(fetch, address, "/healthz"))[2] == "ok"
