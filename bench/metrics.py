"""The metrics benchmark: a /metrics/cadvisor scrape beside its floor and beside Docker.

N sleeping busybox containers run in the machine's Docker engine (10, then 100).
Three ways to get their CPU and memory figures, taken in turns so load from
elsewhere lands on each alike:

- the agent's way: one HTTP GET of /metrics/cadvisor from the agent's metrics
  server (`node.metrics`, run in this process with its snapshot cache off), which
  reads every container's cgroup files, parses them and renders the text;
- the floor: opening and reading the same cgroup files, nothing more;
- Docker's stats API: one `GET /containers/<id>/stats?stream=false&one-shot=true`
  per container, ten at a time, which is what a collector built on Docker's API
  would have to do.

CPU per scrape is this process's (the server, its files and its client) and
dockerd's, read from /proc around each scrape.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

from bench import Meter, Result, Section, Table, Verdict, measure_interleaved
from bench.stats import fmt_ms, fmt_ratio, ratio
from jota.local.docker import DEFAULT_SOCKET, ensure_dockerd
from jota.local.images import TEST_IMAGE, build_test_image
from node.metrics.cgroup import CgroupReader
from node.metrics.collector import Collector, Machine
from node.metrics.kubelet import AgentMetrics
from node.metrics.server import MetricsServer
from node.runtime.interface import ContainerState, ContainerStatus, PodRef, SandboxStatus

LABEL = "io.jota.bench-metrics"
SIZES = (10, 100)
AIM_RATIO_TO_DOCKER = 1.0  # a scrape must cost the machine less CPU than Docker's stats


def start_containers(engine: docker.DockerClient, first: int, count: int) -> list[str]:
    ids = []
    for i in range(first, first + count):
        c = engine.containers.run(TEST_IMAGE, ["sleep", "3600"], detach=True,
                                  labels={LABEL: "1"}, name=f"jota-bench-metrics-{i}",
                                  network_mode="none")
        ids.append(c.id)
    return ids


def remove_containers(engine: docker.DockerClient) -> None:
    for c in engine.containers.list(all=True, filters={"label": LABEL}):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True)


def view_of(ids: list[str]) -> tuple[list[SandboxStatus], list[ContainerStatus]]:
    """The runtime listing the agent would hand its collector: one container per pod."""
    return [], [ContainerStatus(id=cid, sandbox_id="", pod=PodRef(f"uid-{i}", "bench",
                                                                 f"pod-{i}"),
                                name="app", attempt=0, state=ContainerState.RUNNING,
                                image=TEST_IMAGE, created_at=time.time())
                for i, cid in enumerate(ids)]


def dockerd_pid() -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(Path("/var/run/docker.pid").read_text().strip())
    return 0


async def measure_size(engine: docker.DockerClient, api: Any, ids: list[str], runs: int
                       ) -> dict[str, Result]:
    reader = CgroupReader()
    listing = view_of(ids)
    collector = Collector(lambda: listing, Machine(cpus=2, memory_bytes=0), reader=reader,
                          max_age=0.0)
    server = MetricsServer("127.0.0.1", 0, collector, AgentMetrics()).start()
    url = f"http://127.0.0.1:{server.port}/metrics/cadvisor"
    paths = [p for p in (reader.locate(cid) for cid in ids) if p is not None]
    assert len(paths) == len(ids), "some containers have no cgroup"
    pool = ThreadPoolExecutor(10)

    async def scrape() -> None:
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read()
        assert body.count(b"container_memory_working_set_bytes{") == len(ids)

    async def floor() -> None:
        for rel in paths:
            reader.files(rel)

    async def docker_stats() -> None:
        stats = list(pool.map(lambda cid: api.stats(cid, stream=False, one_shot=True), ids))
        assert len(stats) == len(ids)

    pids = {"dockerd": dockerd_pid()} if dockerd_pid() else {}
    try:
        return await measure_interleaved(
            Meter(pids), {"agent": scrape, "floor": floor, "docker": docker_stats},
            runs=runs, warmup=2)
    finally:
        server.stop()
        pool.shutdown()


async def run(quick: bool = False) -> Section:
    ensure_dockerd()
    build_test_image(DEFAULT_SOCKET)
    engine = docker.DockerClient(base_url=DEFAULT_SOCKET, timeout=120)
    api = docker.APIClient(base_url=DEFAULT_SOCKET, timeout=120, max_pool_size=16)
    results: dict[int, dict[str, Result]] = {}
    remove_containers(engine)
    try:
        ids: list[str] = []
        for size in SIZES:
            ids += start_containers(engine, len(ids), size - len(ids))
            results[size] = await measure_size(engine, api, ids, runs=5 if quick else 20)
    finally:
        remove_containers(engine)
        api.close()
        engine.close()
    return report(results)


def report(results: dict[int, dict[str, Result]]) -> Section:
    table = Table("One scrape of N containers' CPU and memory", [
        "containers", "way", "duration p50 / p99 (ms)", "CPU per scrape: bench process (ms)",
        "dockerd (ms)", "machine CPU vs the floor"])
    names = {"agent": "jota-node /metrics/cadvisor (HTTP)",
             "floor": "read the same cgroup files (floor)",
             "docker": "Docker stats API, 10 at a time"}
    verdicts = []
    for size, cases in results.items():
        floor_cpu = sum(cases["floor"].cpu_ms.values())
        for key in ("agent", "floor", "docker"):
            r = cases[key]
            total = sum(r.cpu_ms.values())
            table.rows.append([str(size), names[key],
                               f"{fmt_ms(r.summary.p50)} / {fmt_ms(r.summary.p99)}",
                               f"{r.cpu_ms.get('bench', 0.0):.1f}",
                               f"{r.cpu_ms.get('dockerd', 0.0):.1f}",
                               fmt_ratio(ratio(total, floor_cpu))])
        agent = sum(cases["agent"].cpu_ms.values())
        stats = sum(cases["docker"].cpu_ms.values())
        verdicts.append(Verdict(
            f"a /metrics/cadvisor scrape of {size} containers costs the machine less CPU "
            "than asking Docker's stats API", ratio(agent, stats) < AIM_RATIO_TO_DOCKER,
            f"{agent:.1f} ms against {stats:.1f} ms ({fmt_ratio(ratio(agent, stats))})"))
    table.notes.append(
        "CPU is what this process (the metrics server, its file reads and the HTTP client) "
        "and dockerd spent per scrape, read from /proc around each one; the snapshot cache "
        "is off, so every scrape reads every file.")
    return Section(
        "Container metrics",
        "Sleeping busybox containers in the machine's Docker engine; the agent's metrics "
        "server reads their cgroups (no Docker call) and renders cAdvisor's families, "
        "beside reading the same files and nothing else (the floor) and beside Docker's "
        "per-container stats API.",
        tables=[table], verdicts=verdicts)
