"""The cluster benchmark: `jota local up --nodes 3`, the control plane at rest, a lost node.

One run of the real CLI in a temporary $HOME (and JOTA_LOCAL_DIR), as a user runs it:

- start: `jota local up --nodes 3`, timed until it returns (every node Ready). Each of
  its progress lines is timestamped as it is printed, so the wall time splits into its
  steps; the baseline, from the same run, is the step that starts the three nodes' bare
  dockerd side by side in their network namespaces and waits until each answers: what
  any multi-node cluster of Docker engines on one machine pays before an orchestrator
  does anything;
- at rest: a Deployment of 100 pods (`sleep 3600`) over the three nodes; once every pod
  is Running and the cluster has been quiet a while, each control-plane process's RSS
  (with its children: jota-ingress's nginx) and CPU over a window, beside k3s's
  published minimums;
- a lost node: `jota local stop-node jota-worker-3`, timed to its Node NotReady and to
  every pod of the Deployment Running and Ready on the other two, beside the settings
  that bound it, read from the code and the running controller-manager's command line.

A local cluster already on this machine is refused (the bench makes its own, with the
fixed bridge and namespace names). `jota local down` removes it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import Section, Table, proc_cpu
from controlplane.controllers.main import build_parser as controller_manager_parser
from jota.api import errors
from jota.client import kubeconfig
from jota.client.client import Client
from jota.local import cluster
from jota.local.images import TEST_IMAGE
from jota.local.state import CLUSTER_INDEX
from node.agent.heartbeat import LEASE_RENEW, STATUS_REPORT

Obj = dict[str, Any]
NODES = 3
LOST = "jota-worker-3"
NAME = "web"
NS = "default"
TOLERATION_SECONDS = 5
WAIT = 240.0
CONTROL_PLANE = ("etcd", "apiserver", "controller-manager", "scheduler", "dns", "ingress")
K3S_REQUIREMENTS = "https://docs.k3s.io/installation/requirements"
K3S_PROFILING = "https://docs.k3s.io/reference/resource-profiling"


@dataclass(frozen=True)
class Sizes:
    pods: int
    quiet: float  # seconds of rest before measuring
    window: float  # seconds CPU is measured over


FULL = Sizes(pods=100, quiet=15.0, window=30.0)
QUICK = Sizes(pods=30, quiet=5.0, window=10.0)


@dataclass
class Usage:
    rss_mib: float
    cpu_percent: float  # of one core


@dataclass
class Results:
    sizes: Sizes
    up_seconds: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds)
    engines_seconds: float = 0.0
    usage: dict[str, Usage] = field(default_factory=dict)
    node_usage: dict[str, Usage] = field(default_factory=dict)
    lost_pods: int = 0
    not_ready_seconds: float = 0.0
    replaced_seconds: float = 0.0
    grace_period: float = 0.0


# ---- processes -----------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += tree.get(p, [])
    return out


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += proc_cpu(pid)
    return total


def measure_usage(groups: dict[str, int], window: float) -> dict[str, Usage]:
    """RSS at the end and CPU % of one core over `window`, per process tree."""
    trees = {name: process_tree(pid) for name, pid in groups.items()}
    before = {name: cpu_seconds(pids) for name, pids in trees.items()}
    time.sleep(window)
    return {name: Usage(rss_mib(pids), (cpu_seconds(pids) - before[name]) * 100 / window)
            for name, pids in trees.items()}


# ---- the cluster -----------------------------------------------------------------------------

@dataclass
class Local:
    env: dict[str, str]
    state_dir: Path

    def jota(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([sys.executable, "-m", "jota.cli.main", *args], env=self.env,
                             capture_output=True, text=True, timeout=timeout, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"jota {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
        return out

    def components(self) -> dict[str, int]:
        state = json.loads((self.state_dir / "state.json").read_text())
        return {c["name"]: int(c["pid"]) for c in state["components"]}

    def apiserver(self) -> str:
        state = json.loads((self.state_dir / "state.json").read_text())
        return str(next(c["address"] for c in state["components"]
                        if c["name"].startswith("apiserver")))

    def client(self) -> Client:
        _, creds = kubeconfig.load(self.state_dir / "pki" / "admin.conf")
        return Client(self.apiserver(), credentials=creds.channel(), timeout=60)


def timed_up(local: Local) -> tuple[float, list[tuple[str, float]]]:
    """Run `jota local up --nodes 3`; its wall time and each progress line's seconds."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "jota.cli.main", "local", "up", "--nodes",
                             str(NODES)], env=local.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[tuple[str, float]] = []
    for line in proc.stdout:
        if line.startswith(" ["):
            lines.append((line.split("]", 1)[1].strip().removesuffix("...").strip(),
                          time.monotonic()))
    if proc.wait() != 0:
        raise RuntimeError("jota local up --nodes 3 failed")
    end = time.monotonic()
    stamps = [t for _, t in lines] + [end]
    return end - start, [(text, stamps[i + 1] - t) for i, (text, t) in enumerate(lines)]


def engines_seconds(steps: list[tuple[str, float]]) -> float:
    """From the first dockerd started to the first step after every engine answered."""
    first = next(i for i, (text, _) in enumerate(steps) if "dockerd in namespace" in text)
    last = max(i for i, (text, _) in enumerate(steps) if "dockerd in namespace" in text)
    return sum(seconds for _, seconds in steps[first:last + 1])


def deployment(replicas: int) -> Obj:
    labels = {"app": NAME}
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": TOLERATION_SECONDS}
                   for key in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 1, "tolerations": tolerations,
                         "containers": [{"name": "app", "image": TEST_IMAGE,
                                         "imagePullPolicy": "Never",
                                         "command": ["sleep", "3600"]}]}}}}


def running_and_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or [])


async def wait(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        with contextlib.suppress(errors.APIError):
            if await check():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench cluster: {what} not done after {WAIT:.0f}s")
        await asyncio.sleep(0.5)


async def live_pods(client: Client) -> list[Obj]:
    items = (await client.list("pods", NS, label_selector=f"app={NAME}"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def grace_period(pid: int) -> float:
    """--node-monitor-grace-period as the running controller-manager parsed it."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    args = argv[argv.index("controlplane.controllers.main") + 1:]
    parsed, _ = controller_manager_parser().parse_known_args([a for a in args if a])
    return float(parsed.node_monitor_grace_period)


@contextlib.contextmanager
def local_cluster() -> Iterator[Local]:
    if cluster.what_is_left(CLUSTER_INDEX):
        raise RuntimeError("a local cluster is already on this machine: `jota local down` "
                           "it first (the benchmark makes its own)")
    with tempfile.TemporaryDirectory(prefix="jota-bench-cluster-") as home:
        state_dir = Path(home) / ".jota" / "local"
        # Unbuffered: each progress line must reach the timer when it is printed.
        env = {**os.environ, "HOME": home, "JOTA_LOCAL_DIR": str(state_dir),
               "PYTHONUNBUFFERED": "1"}
        local = Local(env, state_dir)
        try:
            yield local
        finally:
            down = subprocess.run([sys.executable, "-m", "jota.cli.main", "local", "down"],
                                  env=env, capture_output=True, text=True, timeout=300,
                                  check=False)
            if down.returncode != 0:
                print(f"warning: jota local down: {down.stdout}{down.stderr}", file=sys.stderr)


async def run(quick: bool = False) -> Section:
    sizes = QUICK if quick else FULL
    res = Results(sizes)
    with local_cluster() as local:
        res.up_seconds, res.steps = await asyncio.to_thread(timed_up, local)
        res.engines_seconds = engines_seconds(res.steps)
        client = local.client()
        try:
            await client.create("deployments", deployment(sizes.pods), NS)

            async def all_running() -> bool:
                pods = await live_pods(client)
                return len(pods) == sizes.pods and all(map(running_and_ready, pods))
            await wait(f"{sizes.pods} pods Running", all_running)
            await asyncio.sleep(sizes.quiet)
            components = local.components()
            groups = {name: pid for name, pid in components.items()
                      if name.split("-")[0] in ("etcd", "apiserver", "scheduler", "dns",
                                                "ingress")
                      or name.startswith("controller-manager")}
            nodes = {name: pid for name, pid in components.items() if "/" in name}
            usage = await asyncio.to_thread(measure_usage, {**groups, **nodes}, sizes.window)
            res.usage = {k: usage[k] for k in groups}
            res.node_usage = {k: usage[k] for k in nodes}
            cm = next(pid for name, pid in components.items()
                      if name.startswith("controller-manager"))
            res.grace_period = grace_period(cm)

            res.lost_pods = sum(p["spec"].get("nodeName") == LOST
                                for p in await live_pods(client))
            start = time.monotonic()
            await asyncio.to_thread(local.jota, "local", "stop-node", LOST)

            async def not_ready() -> bool:
                node = await client.get("nodes", LOST)
                return not any(c.get("type") == "Ready" and c.get("status") == "True"
                               for c in node["status"].get("conditions") or [])
            await wait(f"{LOST} NotReady", not_ready)
            res.not_ready_seconds = time.monotonic() - start

            async def replaced() -> bool:
                pods = await live_pods(client)
                return len(pods) == sizes.pods and all(
                    running_and_ready(p) and p["spec"].get("nodeName") != LOST for p in pods)
            await wait(f"the pods of {LOST} Running elsewhere", replaced)
            res.replaced_seconds = time.monotonic() - start
        finally:
            await client.close()
    return report(res)


# ---- the report ------------------------------------------------------------------------------

def _group(step: str) -> str:
    rules = [("dockerd in namespace", "the 3 engines (dockerd) starting and answering"),
             ("Loading", "loading the test image into each engine"),
             ("node agent", "the node agents starting"),
             ("jota-proxy", "the proxies starting and syncing"),
             ("Ready", "waiting for the nodes to be Ready"),
             ("Network", "the network (bridge, namespaces, routes)"),
             ("certificates", "the CA and certificates")]
    for needle, group in rules:
        if needle in step:
            return group
    if any(word in step for word in ("etcd", "apiserver", "controller-manager", "scheduler")):
        return "etcd and the control plane"
    return "other (test image, DNS, ingress, ...)"


def report(res: Results) -> Section:
    n = res.sizes.pods
    groups: dict[str, float] = {}
    for step, seconds in res.steps:
        groups[_group(step)] = groups.get(_group(step), 0.0) + seconds
    start = Table(f"`jota local up --nodes {NODES}`, wall time", ["Part", "Seconds"], rows=[
        ["`jota local up --nodes 3`, until every node is Ready", f"{res.up_seconds:.1f}"],
        ["Baseline: 3 bare dockerd started the same way (side by side, each in its "
         "network namespace) until each answers, measured inside the same run",
         f"{res.engines_seconds:.1f}"]]
        + [[f"- of which {g}", f"{s:.1f}"] for g, s in
           sorted(groups.items(), key=lambda kv: -kv[1])],
        notes=["The parts are the CLI's own progress steps, each timestamped as printed; "
               "the baseline is one of them, so the rest is what Jota adds."])
    total = Usage(sum(u.rss_mib for u in res.usage.values()),
                  sum(u.cpu_percent for u in res.usage.values()))
    rest = Table(f"The control plane at rest: {NODES} nodes, {n} pods", [
        "Process", "RSS, MiB", f"CPU, % of a core (over {res.sizes.window:.0f} s)"], rows=[
        [name, f"{u.rss_mib:.0f}", f"{u.cpu_percent:.1f}"] for name, u in res.usage.items()])
    rest.rows.append([f"**Control plane ({', '.join(CONTROL_PLANE)})**",
                      f"**{total.rss_mib:.0f}**", f"**{total.cpu_percent:.1f}**"])
    node_total = Usage(sum(u.rss_mib for u in res.node_usage.values()),
                       sum(u.cpu_percent for u in res.node_usage.values()))
    rest.rows.append([f"Node side, not in the sum: {len(res.node_usage)} processes "
                      "(per node: dockerd, jota-node, jota-proxy)",
                      f"{node_total.rss_mib:.0f}", f"{node_total.cpu_percent:.1f}"])
    rest.rows.append(["k3s, published minimum for a server (2 cores)", "2048", "n/a"])
    rest.rows.append(["k3s, published minimum for an agent", "512", "n/a"])
    rest.rows.append(["k3s server with a workload, profiled (embedded etcd)", "1606",
                      "6"])
    rest.notes += [
        f"Measured after every pod was Running and {res.sizes.quiet:.0f} s of quiet: RSS "
        "(VmRSS of the process and its children: jota-ingress's nginx) at the end of the "
        "window, CPU from /proc over the window.",
        f"k3s's requirements ({K3S_REQUIREMENTS}): \"The minimum requirements are: Server "
        "2 cores, 2 GB RAM; Agent 1 core, 512 MB\" (older versions of that page gave 512 MB "
        f"as the minimum for a server). Its resource profiling ({K3S_PROFILING}): \"K3s "
        "server with a workload | Intel 8375C CPU, 2.90 GHz | 6% of a core | 1596 M "
        "(Kine/SQLite) | 1606 M (embedded etcd)\", k3s v1.26.5 with its packaged "
        "components, Prometheus and Grafana."]
    lost = Table(f"A lost node: `jota local stop-node {LOST}`, {res.lost_pods} of {n} "
                 "Deployment pods on it", ["Step", "Seconds from stop-node"], rows=[
        ["its Node NotReady (Ready Unknown, tainted unreachable)",
         f"{res.not_ready_seconds:.1f}"],
        [f"all {n} pods Running and Ready on the other nodes", f"{res.replaced_seconds:.1f}"]],
        notes=[
        f"What bounds it: --node-monitor-grace-period {res.grace_period:.0f} s (the "
        "running controller-manager's, as Kubernetes' default) without a new Lease "
        f"renewal, which the agent writes every {LEASE_RENEW:.0f} s (its full Node status "
        f"every {STATUS_REPORT:.0f} s); the last renewal the controller saw was up to "
        f"{LEASE_RENEW:.0f} s before the stop, so the node is declared lost "
        f"{res.grace_period - LEASE_RENEW:.0f} to {res.grace_period:.0f} s after it, plus "
        "up to the controller's monitor period (grace/8, at most 5 s); then the pods' "
        f"tolerationSeconds {TOLERATION_SECONDS} s for node.kubernetes.io/unreachable "
        "(set in the pods; admission's default is 300 s), then the ReplicaSet's "
        "replacements are scheduled and started."])
    intro = __doc__.split("\n\n")[0] if __doc__ else ""
    return Section("A local cluster: start, rest, a lost node", intro, [start, rest, lost])


__all__ = ["run"]
