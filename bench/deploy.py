"""The deploy benchmark: a Deployment of 30 replicas, then 30 -> 60, against Docker Swarm.

Three sides on this machine's one Docker engine, in the same run, taking turns
round by round so a burst of load elsewhere lands on each alike:

- Jota: a fresh etcd, apiserver, controller-manager, scheduler and one real
  jota-node. Create a Deployment of 30 (`sleep 3600`, imagePullPolicy Never) and
  time until a pods watch has seen 30 pods Running and Ready; then scale it to 60
  and time until 60 are. Every pod is two containers: the pause sandbox and the app.
- Docker Swarm, built into the same engine: `docker swarm init`, `docker service
  create --replicas 30` of the same image and command, polled with `docker service
  ps` until 30 tasks are Running; then `docker service scale` to 60. Swarm is left
  (`docker swarm leave --force`) afterwards, so nothing stays behind.
- The floor: 30 `docker run -d` of the same container, 8 at a time, with no
  orchestrator at all; one container per replica where Jota starts two.

Each side's containers are removed before the next side runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import Section, Table, Verdict, closing, cluster
from bench.node import running_and_ready
from jota.client.client import Client
from jota.local.docker import ensure_dockerd, remove_managed_containers
from jota.local.images import TEST_IMAGE, build_test_image
from jota.local.processes import (
    Daemon,
    start_controller_manager,
    start_node_agent,
    start_scheduler,
)

Obj = dict[str, Any]
NODE = "bench-deploy-node"
NAMESPACE = "bench-deploy"
NAME = "web"
SERVICE = "jota-bench-swarm"
RAW_LABEL = "io.jota.bench.deploy"
RAW_PARALLEL = 8
COMMAND = ["sleep", "3600"]
WAIT = 300.0  # seconds any one step may take before the run gives up on it


@dataclass(frozen=True)
class Sizes:
    first: int
    second: int
    rounds: int


FULL = Sizes(first=30, second=60, rounds=3)
QUICK = Sizes(first=30, second=60, rounds=1)


@dataclass
class Results:
    sizes: Sizes
    # side -> step ("create" / "scale") -> seconds, one per round
    seconds: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    swarm_error: str = ""

    def add(self, side: str, step: str, value: float) -> None:
        self.seconds.setdefault(side, {}).setdefault(step, []).append(value)

    def median(self, side: str, step: str) -> float | None:
        values = self.seconds.get(side, {}).get(step)
        return statistics.median(values) if values else None


def docker_cli(*args: str, timeout: float = 120) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


# ---- Jota --------------------------------------------------------------------------------


def deployment(replicas: int) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": NAME}},
                     "template": {"metadata": {"labels": {"app": NAME}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "app", "image": TEST_IMAGE,
                                         "imagePullPolicy": "Never",
                                         "command": COMMAND}]}}}}


class ReadyCount:
    """A pods watch keeping the set of the namespace's pods now Running and Ready."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.ready: set[str] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        rv = (await self.client.list("pods", NAMESPACE))["metadata"]["resourceVersion"]
        self._task = asyncio.create_task(self._watch(rv))
        await asyncio.sleep(0.2)

    async def _watch(self, rv: str) -> None:
        async with closing(self.client.watch("pods", NAMESPACE, resource_version=rv)) as s:
            async for kind, obj in s:
                if kind not in ("ADDED", "MODIFIED", "DELETED"):
                    continue  # a BOOKMARK: only a resourceVersion
                name = obj["metadata"]["name"]
                if kind != "DELETED" and running_and_ready(obj) and \
                        not obj["metadata"].get("deletionTimestamp"):
                    self.ready.add(name)
                else:
                    self.ready.discard(name)
                self._changed.set()

    async def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + WAIT
        while len(self.ready) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.ready)} of {count} Jota pods Running")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def wait_node_ready(client: Client) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            conds = (await client.get("nodes", NODE)).get("status", {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"node {NODE} did not become Ready")


async def jota_round(res: Results, client: Client, count: ReadyCount) -> None:
    sizes = res.sizes
    start = time.perf_counter()
    await client.create("deployments", deployment(sizes.first), NAMESPACE)
    await count.wait_for(sizes.first)
    res.add("jota", "create", time.perf_counter() - start)
    start = time.perf_counter()
    await client.patch("deployments", NAME, {"spec": {"replicas": sizes.second}}, NAMESPACE,
                       patch_type="merge")
    await count.wait_for(sizes.second)
    res.add("jota", "scale", time.perf_counter() - start)
    await client.delete("deployments", NAME, NAMESPACE)
    deadline = time.monotonic() + WAIT  # the garbage collector and the agent clear up
    while (await client.list("pods", NAMESPACE))["items"] or count.ready:
        if time.monotonic() > deadline:
            raise TimeoutError("the Deployment's pods were not removed")
        await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def jota_cluster(tmp: Path) -> Any:
    """etcd, apiserver, controller-manager, scheduler and one jota-node; the pods' count."""
    with cluster() as (_etcd, apiserver):
        daemons: list[Daemon] = []
        client = Client(apiserver.address, timeout=60)
        count = ReadyCount(client)
        cluster_id = ""
        try:
            daemons.append(start_controller_manager(apiserver.address, tmp))
            daemons.append(start_scheduler(apiserver.address, tmp))
            daemons.append(start_node_agent(apiserver.address, tmp, node_name=NODE,
                                            root_dir=tmp / "root"))
            cluster_id = str((await client.get("namespaces", "kube-system"))["metadata"]["uid"])
            await wait_node_ready(client)
            await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": NAMESPACE}})
            await count.open()
            yield client, count
        finally:
            await count.close()
            await client.close()
            for d in reversed(daemons):
                d.stop(timeout=30)
                if "Traceback" in d.log.read_text():
                    print(f"warning: {d.name} logged a traceback:\n{d.log.read_text()[-3000:]}")
            if cluster_id:
                remove_managed_containers(cluster=cluster_id)


# ---- Docker Swarm ------------------------------------------------------------------------


def swarm_running() -> int:
    out = docker_cli("service", "ps", SERVICE, "--filter", "desired-state=running",
                     "--format", "{{.CurrentState}}")
    return sum(1 for line in out.splitlines() if line.startswith("Running"))


def swarm_wait(count: int) -> None:
    deadline = time.monotonic() + WAIT
    while swarm_running() < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"Swarm did not run {count} tasks")
        time.sleep(0.1)


def swarm_round(res: Results) -> None:
    sizes = res.sizes
    start = time.perf_counter()
    docker_cli("service", "create", "--detach", "--no-resolve-image", "--name", SERVICE,
               "--replicas", str(sizes.first), "--stop-grace-period", "1s", TEST_IMAGE,
               *COMMAND)
    swarm_wait(sizes.first)
    res.add("swarm", "create", time.perf_counter() - start)
    start = time.perf_counter()
    docker_cli("service", "scale", "--detach", f"{SERVICE}={sizes.second}")
    swarm_wait(sizes.second)
    res.add("swarm", "scale", time.perf_counter() - start)
    swarm_remove()


def swarm_remove() -> None:
    with contextlib.suppress(RuntimeError):
        docker_cli("service", "rm", SERVICE)
    deadline = time.monotonic() + WAIT  # the tasks' containers go after the service
    while docker_cli("ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={SERVICE}"):
        if time.monotonic() > deadline:
            raise TimeoutError("Swarm's containers were not removed")
        time.sleep(0.5)


@contextlib.contextmanager
def swarm() -> Any:
    """A single-node swarm on this engine for the benchmark, left and cleared after."""
    state = docker_cli("info", "--format", "{{.Swarm.LocalNodeState}}").strip()
    if state != "inactive":
        raise RuntimeError(f"this engine is already in a swarm ({state}): not touching it")
    networks = set(docker_cli("network", "ls", "--format", "{{.Name}}").split())
    docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        swarm_remove()
        docker_cli("swarm", "leave", "--force")
        if "docker_gwbridge" not in networks:  # swarm init made it; leave does not remove it
            with contextlib.suppress(RuntimeError):
                docker_cli("network", "rm", "docker_gwbridge")


# ---- the raw floor -----------------------------------------------------------------------


def raw_round(res: Results) -> None:
    def one(i: int) -> None:
        docker_cli("run", "-d", "--label", f"{RAW_LABEL}=1", "--name", f"jota-bench-raw-{i}",
                   TEST_IMAGE, *COMMAND)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=RAW_PARALLEL) as pool:
        list(pool.map(one, range(res.sizes.first)))
    res.add("raw", "create", time.perf_counter() - start)
    raw_remove()


def raw_remove() -> None:
    ids = docker_cli("ps", "-aq", "--filter", f"label={RAW_LABEL}").split()
    if ids:
        docker_cli("rm", "-f", *ids)


# ---- the run -----------------------------------------------------------------------------


async def run(quick: bool = False) -> Section:
    sizes = QUICK if quick else FULL
    ensure_dockerd()
    build_test_image()
    res = Results(sizes)
    raw_remove()
    with tempfile.TemporaryDirectory(prefix="jota-bench-deploy-") as tmp:
        async with jota_cluster(Path(tmp)) as (client, count):
            # One warm-up each: the first container start pays for caches nobody else will.
            await asyncio.to_thread(raw_round, Results(Sizes(2, 2, 1)))
            await jota_round(Results(Sizes(2, 4, 1)), client, count)
            try:
                with swarm():
                    for _ in range(sizes.rounds):
                        await asyncio.to_thread(raw_round, res)
                        await asyncio.to_thread(swarm_round, res)
                        await jota_round(res, client, count)
            except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as e:
                res.swarm_error = str(e)
                print(f"warning: the Swarm side failed: {e}")
    return report(res)


# ---- the report --------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def report(res: Results) -> Section:
    n, m = res.sizes.first, res.sizes.second
    rows = []
    for side, label in (("jota", f"Jota: Deployment of {n} (2 containers per pod)"),
                        ("swarm", f"Docker Swarm: service of {n} (1 container per task)"),
                        ("raw", f"Floor: {n} `docker run -d`s, {RAW_PARALLEL} at a time")):
        runs = res.seconds.get(side, {})
        rows.append([label, _s(res.median(side, "create")),
                     _s(res.median(side, "scale")) if side != "raw" else "n/a",
                     " / ".join(f"{v:.1f}" for v in runs.get("create", []))])
    table = Table(f"{n} replicas Running, then {n} → {m}", [
        "Side", f"{n} Running, s (median)", f"{n} → {m} Running, s (median)",
        f"Each round's {n}, s"], rows=rows, notes=[
        f"{res.sizes.rounds} round(s); in each the three sides run in turn on the same "
        f"engine, each removing its containers before the next. Image `{TEST_IMAGE}` "
        f"running `{' '.join(COMMAND)}`, present locally. Jota: a fresh etcd, apiserver, "
        "controller-manager, scheduler and one jota-node; from just before the Deployment's "
        "create (or the scale patch) to a pods watch having seen every pod Running and "
        "Ready. Swarm: `docker service create --detach --no-resolve-image --replicas "
        f"{n}` (then `docker service scale --detach`) to `docker service ps` showing every "
        "task Running, polled every 0.1 s. The floor: no orchestrator, one container per "
        "replica.", "Measured in the issue on a 2-core machine: Swarm 8.9 s for 30 and "
        "7.3 s for 30 → 60; 30 raw `docker run`s 8 at a time 3.6 s."])
    if res.swarm_error:
        table.notes.append(f"The Swarm side failed: {res.swarm_error}")
    verdicts = []
    j_create, s_create = res.median("jota", "create"), res.median("swarm", "create")
    j_scale, s_scale = res.median("jota", "scale"), res.median("swarm", "scale")
    if None not in (j_create, s_create, j_scale, s_scale):
        assert j_create is not None and s_create is not None
        assert j_scale is not None and s_scale is not None
        met = j_create < s_create and j_scale < s_scale
        verdicts.append(Verdict(
            f"a Deployment of {n}, and {n} → {m}, Running sooner than Docker Swarm's service",
            met, f"Jota {j_create:.1f} s for {n} and {j_scale:.1f} s for {n} → {m}; Swarm "
            f"{s_create:.1f} s and {s_scale:.1f} s (medians); the raw floor "
            f"{_s(res.median('raw', 'create'))} s for {n} single containers."))
    intro = ("Jota's whole path (API, controllers, scheduler, agent, Docker) for a "
             "Deployment beside Docker Swarm's service, the orchestrator built into the same "
             "engine, and beside bare `docker run`, in the same run on this machine.")
    return Section("Deploy", intro, [table], verdicts)
