"""Jota's benchmarks, each measuring Jota against a baseline in the same run.

A benchmark module exposes `async def run(quick: bool) -> Section`; `python -m
bench` runs them and writes BENCHMARKS.md. A figure means nothing without its
baseline from the same machine and the same run (the machine, etcd's disk and
the Python build all move it), so every table pairs the two.

This module is the harness the benchmark modules share: the report model, timed
workers, a meter of the CPU each process spends, and a fresh cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.stats import Summary, merge, summarize
from jota.local.processes import Daemon, start_apiserver, start_etcd

Op = Callable[[int, int], Awaitable[None]]
"""One operation, given (worker index, iteration of that worker)."""


# ---- the report model --------------------------------------------------------------------


@dataclass
class Table:
    """One benchmark's figures, rendered as a Markdown table."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed under the table


@dataclass(frozen=True)
class Verdict:
    """One aim the project set itself, met or not, with the figures that decide it."""

    aim: str
    met: bool
    detail: str


@dataclass
class Section:
    """Everything one benchmark module reports."""

    title: str
    intro: str
    tables: list[Table] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


# ---- measuring ---------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Result:
    """A measured case: its timings and the CPU each process spent on it, per op."""

    summary: Summary
    cpu_ms: dict[str, float] = field(default_factory=dict)  # process -> CPU ms per op


class Meter:
    """Reads the CPU clocks of the daemons and of this process around a case.

    On a small machine the client, the apiserver and etcd share few cores, so CPU
    per operation, not wall time alone, says where a shortfall comes from.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def read(self) -> dict[str, float]:
        clocks = {name: proc_cpu(pid) for name, pid in self.pids.items()}
        clocks["bench"] = self_cpu()
        return clocks

    def per_op(self, before: dict[str, float], ops: int) -> dict[str, float]:
        after = self.read()
        return {k: (after[k] - before[k]) * 1e3 / max(ops, 1) for k in before}


async def run_workers(op: Op, workers: int, per_worker: int) -> Summary:
    """`workers` tasks each await `op` `per_worker` times in a row; every call is timed."""
    latencies: list[float] = []

    async def worker(w: int) -> None:
        for j in range(per_worker):
            start = time.perf_counter()
            await op(w, j)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    return summarize(latencies, time.perf_counter() - start)


async def measure(meter: Meter, cases: dict[str, Callable[[str], Op]], workers: int,
                  total: int, warmup: int, rounds: int = 2) -> dict[str, Result]:
    """Time `total` operations per case, the cases taking turns in `rounds` rounds.

    `make_op(tag)` builds a case's operation; the tag keeps names of warm-up and of
    each round apart. Taking turns means a burst of load from elsewhere on the machine
    lands on every case alike instead of deciding a comparison.
    """
    for make_op in cases.values():
        await run_workers(make_op("warm"), workers, max(1, warmup // workers))
    parts: dict[str, list[Result]] = {key: [] for key in cases}
    for r in range(rounds):
        for key, make_op in cases.items():
            before = meter.read()
            summary = await run_workers(make_op(f"p{r}"), workers,
                                        max(1, total // rounds // workers))
            parts[key].append(Result(summary, meter.per_op(before, summary.count)))
    return {key: merge_results(results) for key, results in parts.items()}


def merge_results(parts: list[Result]) -> Result:
    summary = merge([p.summary for p in parts])
    cpu: dict[str, float] = {}
    for p in parts:
        for name, ms in p.cpu_ms.items():
            cpu[name] = cpu.get(name, 0.0) + ms * p.summary.count / max(summary.count, 1)
    return Result(summary, cpu)


async def measure_interleaved(meter: Meter, calls: dict[str, Callable[[], Awaitable[None]]],
                              runs: int, warmup: int) -> dict[str, Result]:
    """Time slow calls round-robin, so a burst of load elsewhere hits every case alike.

    For cases compared by a few dozen runs each (lists), running them in blocks
    would let one noisy second decide the comparison.
    """
    for _ in range(warmup):
        for call in calls.values():
            await call()
    latencies: dict[str, list[float]] = {key: [] for key in calls}
    cpu: dict[str, dict[str, float]] = {key: {} for key in calls}
    for _ in range(runs):
        for key, call in calls.items():
            before = meter.read()
            start = time.perf_counter()
            await call()
            latencies[key].append(time.perf_counter() - start)
            for name, ms in meter.per_op(before, 1).items():
                cpu[key][name] = cpu[key].get(name, 0.0) + ms / runs
    return {key: Result(summarize(latencies[key], sum(latencies[key])), cpu[key])
            for key in calls}


# ---- watch delivery ----------------------------------------------------------------------


T = TypeVar("T")


@contextlib.asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close an async generator when done with it, so its gRPC stream ends now, not at GC."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


Subscribe = Callable[[int], AsyncIterator[str]]  # watcher index -> the seq of each event
Write = Callable[[int, str], Awaitable[None]]  # (index, seq)


@dataclass
class Delivery:
    per_delivery: list[float]  # every (watcher, event) pair
    to_all: list[float]  # per event: until the last watcher had it
    missing: int
    seconds: float


async def watch_latency(subscribe: Subscribe, write: Write, events: int, watchers: int,
                        interval: float) -> Delivery:
    """Writes at a steady pace; latency = receipt by a watcher - just before the write call."""
    got: list[dict[str, float]] = [{} for _ in range(watchers)]

    async def consume(i: int) -> None:
        async with closing(subscribe(i)) as stream:
            async for seq in stream:
                got[i][seq] = time.perf_counter()
                if len(got[i]) > events:
                    return

    tasks = [asyncio.create_task(consume(i)) for i in range(watchers)]
    try:
        await write(-1, "warm")  # proves every stream is open before the clock starts
        for _ in range(3000):
            if all("warm" in g for g in got):
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("watchers never saw the warm-up event")
        starts: dict[str, float] = {}
        begin = next_at = time.perf_counter()
        for i in range(events):
            seq = str(i)
            starts[seq] = time.perf_counter()
            await write(i, seq)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.wait(tasks, timeout=30)
        seconds = time.perf_counter() - begin
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    per = [g[s] - t for g in got for s, t in starts.items() if s in g]
    to_all = [max(g[s] for g in got) - t for s, t in starts.items()
              if all(s in g for g in got)]
    return Delivery(per, to_all, events * watchers - len(per), seconds)


# ---- the cluster -------------------------------------------------------------------------


@contextlib.contextmanager
def cluster() -> Iterator[tuple[Daemon, Daemon]]:
    """A fresh etcd and apiserver in a temporary directory, stopped and removed after."""
    with tempfile.TemporaryDirectory(prefix="jota-bench-") as tmp:
        etcd = start_etcd(Path(tmp) / "etcd" / "data")
        try:
            apiserver = start_apiserver(etcd.address, Path(tmp))
            try:
                yield etcd, apiserver
            finally:
                apiserver.stop()
                log = apiserver.log.read_text()
                if "Traceback" in log:
                    print(f"warning: the apiserver logged a traceback:\n{log[-3000:]}")
        finally:
            etcd.stop()


__all__ = ["Delivery", "Meter", "Op", "Result", "Section", "Table", "Verdict", "closing",
           "cluster", "measure", "measure_interleaved", "run_workers", "watch_latency"]
