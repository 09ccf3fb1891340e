"""The whole control plane at once: etcd, apiserver, jota-scheduler and the
controller-manager, with hollow nodes (the real agent on the in-memory runtime,
as kubemark's) for the scheduling cases and one real jota-node on the machine's
Docker engine for the full path.

Unlike test_workloads.py, nothing plays the kubelet here: pods are placed by the
scheduler and reported Running by an agent. The module runs its own cluster,
because the scheduler binds every pending pod it sees (the session's tests keep
theirs pending on purpose) and because losing a node needs a controller-manager
with short timings (`--node-monitor-grace-period 25s`, above the agents' 10 s lease
renewals with room for a busy machine; unreachable pods evicted after 2 s) where
the session's uses Kubernetes' 40 s / 300 s.

Nodes: `stay-0..2` (hollow, one process), `lost-0` (hollow, a process of its own
that a test kills) and DOCKER_NODE (real). Workloads pick theirs with a
nodeSelector, so hollow pods never reach Docker and Docker pods really run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from jota.api import errors
from jota.api.meta import Obj
from jota.client.client import Client
from jota.local.docker import remove_managed_containers
from jota.local.processes import (
    Daemon,
    start_apiserver,
    start_controller_manager,
    start_etcd,
    start_hollow_nodes,
    start_node_agent,
    start_scheduler,
)
from tests.integration.conftest import CLI, untag
from tests.integration.test_workloads import BoundsWatcher, background, is_ready

TIMEOUT = 120.0  # two busy cores: generous, and a deadline, never a measured figure
DOCKER_NODE = "fp-docker"
STAY = [f"stay-{i}" for i in range(3)]
LOST = "lost-0"
HOLLOW = {"jota.io/hollow": "true"}
# Two tags of the test image, unique to this run: another run's teardown untags its own.
_RUN = uuid.uuid4().hex[:6]
V1, V2 = f"jota/busybox:v1-{_RUN}", f"jota/busybox:v2-{_RUN}"
HOLLOW_IMAGE = "jota/busybox:latest"  # what the in-memory runtime holds


@dataclass
class FullCluster:
    address: str
    hollow_lost: Daemon  # the process behind LOST: a test kills it


@pytest.fixture(scope="module")
def full_cluster(test_image: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[FullCluster]:
    root = tmp_path_factory.mktemp("fullpath")
    api = docker.APIClient()
    for tag in (V1, V2):  # two tags of one image: a rollout without a registry
        repository, version = tag.rsplit(":", 1)
        api.tag(test_image, repository, version)
    etcd = start_etcd(root / "etcd")
    apiserver = start_apiserver(etcd.address, root)
    daemons: list[Daemon] = []
    cluster_id = ""
    try:
        daemons.append(start_controller_manager(apiserver.address, root, extra_args=[
            "--node-monitor-grace-period", "25s", "--default-unreachable-toleration-seconds",
            "2", "--default-not-ready-toleration-seconds", "2"]))
        daemons.append(start_scheduler(apiserver.address, root))
        daemons.append(start_hollow_nodes(apiserver.address, root, count=len(STAY),
                                          prefix="stay-"))
        lost = start_hollow_nodes(apiserver.address, root, count=1, prefix="lost-")
        daemons.append(lost)
        daemons.append(start_node_agent(apiserver.address, root, node_name=DOCKER_NODE,
                                        root_dir=root / "node-root"))
        cluster_id = asyncio.run(_wait_nodes_ready(apiserver.address))
        yield FullCluster(apiserver.address, lost)
    finally:
        for d in reversed(daemons):
            d.stop(timeout=30)
        logs = {d.name: d.log.read_text() for d in daemons}
        apiserver.stop()
        etcd.stop()
        if cluster_id:
            remove_managed_containers(cluster=cluster_id)
        for tag in (V1, V2):
            untag(api, tag)
        api.close()
        for name, text in logs.items():
            assert "Traceback" not in text, f"{name} logged a traceback:\n{text[-4000:]}"


async def _wait_nodes_ready(address: str) -> str:
    """Every node registered and Ready; returns the cluster's id (kube-system's uid)."""
    async with Client(address, timeout=30) as c:
        want = {*STAY, LOST, DOCKER_NODE}

        async def ready() -> bool:
            nodes = (await c.list("nodes"))["items"]
            return want <= {n["metadata"]["name"] for n in nodes if node_ready(n)}

        await eventually(ready, what="all nodes Ready")
        return str((await c.get("namespaces", "kube-system"))["metadata"]["uid"])


def node_ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


@pytest.fixture
async def fc(full_cluster: FullCluster) -> AsyncIterator[Client]:
    c = Client(full_cluster.address, timeout=30)
    yield c
    await c.close()


@pytest.fixture
async def ns(fc: Client) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await fc.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": name}})
    return name


@pytest.fixture
def cli(full_cluster: FullCluster, tmp_path: Path) -> CLI:
    return CLI(full_cluster.address, tmp_path)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = TIMEOUT,
                     what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


def deployment(name: str, replicas: int, image: str, node_selector: dict[str, str],
               **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "nodeSelector": node_selector, "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "app", "image": image,
                                         "imagePullPolicy": "Never",
                                         "command": ["sleep", "3600"]}]}},
                     **spec}}


async def live_pods(c: Client, ns: str, selector: str) -> list[Obj]:
    """The pods a ReplicaSet counts: not terminating."""
    items = (await c.list("pods", ns, label_selector=selector))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def running(p: Obj) -> bool:
    return (p.get("status") or {}).get("phase") == "Running" and is_ready(p)


async def all_running(c: Client, ns: str, selector: str, count: int,
                      image: str = "") -> list[Obj]:
    items = await live_pods(c, ns, selector)
    ok = len(items) == count and all(
        running(p) and (not image or p["spec"]["containers"][0]["image"] == image)
        for p in items)
    return items if ok else []


# ---- the full path on Docker --------------------------------------------------------------


async def test_a_rolling_update_on_docker_keeps_its_bounds_and_undo_returns_to_v1(
        fc: Client, ns: str, cli: CLI) -> None:
    """3 replicas v1 -> v2 with maxUnavailable 1 / maxSurge 1, checked at every pod event."""
    strategy = {"type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}
    await fc.create("deployments", deployment(
        "web", 3, V1, {"kubernetes.io/hostname": DOCKER_NODE}, strategy=strategy), ns)
    first = await eventually(lambda: all_running(fc, ns, "app=web", 3, V1),
                             what="3 v1 pods Running on Docker")
    assert {p["spec"]["nodeName"] for p in first} == {DOCKER_NODE}  # placed by the scheduler
    assert all(p["status"]["containerStatuses"][0]["containerID"].startswith("docker://")
               for p in first)
    # Terminating pods are not the Deployment's any more (kube's ReplicaSet skips them),
    # so the watcher counts live pods only: <= 3 + maxSurge, >= 3 - maxUnavailable ready.
    watcher = BoundsWatcher(fc, ns, max_total=4, min_ready=2, count_terminating=False)
    started = asyncio.Event()
    async with background(watcher.run(started)):
        await started.wait()
        assert cli.ok("set", "image", "deploy/web", f"app={V2}", "-n", ns) == \
            "deployment.apps/web image updated\n"
        await eventually(lambda: all_running(fc, ns, "app=web", 3, V2), what="3 v2 pods")
        out = cli.ok("rollout", "status", "deploy/web", "-n", ns, "--timeout", "120s")
        assert out.splitlines()[-1] == 'deployment "web" successfully rolled out'
        assert cli.ok("rollout", "history", "deploy/web", "-n", ns) == (
            "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n")
        assert cli.ok("rollout", "undo", "deploy/web", "-n", ns) == \
            "deployment.apps/web rolled back\n"
        back = await eventually(lambda: all_running(fc, ns, "app=web", 3, V1),
                                what="every pod back on v1")
        assert cli.ok("rollout", "history", "deploy/web", "-n", ns) == (
            "deployment.apps/web \nREVISION  CHANGE-CAUSE\n2         <none>\n3         <none>\n\n")
    assert watcher.violations == []
    assert watcher.events > 0
    assert {p["metadata"]["uid"] for p in back}.isdisjoint(p["metadata"]["uid"] for p in first)
    engine = docker.from_env()
    try:  # what Docker runs is what the API says
        for p in back:
            cid = p["status"]["containerStatuses"][0]["containerID"].removeprefix("docker://")
            assert engine.containers.get(cid).attrs["Config"]["Image"] == V1
    finally:
        engine.close()


async def test_a_job_with_failures_retries_on_docker_and_completes(
        fc: Client, ns: str, tmp_path: Path) -> None:
    """Each try appends a line to a hostPath file and fails until the third."""
    tries = tmp_path / "tries"
    tries.mkdir()
    script = "echo try >> /data/tries; [ $(wc -l < /data/tries) -ge 3 ]"
    await fc.create("jobs", {"apiVersion": "batch/v1", "kind": "Job",
                             "metadata": {"name": "flaky"},
                             "spec": {"backoffLimit": 4, "template": {"spec": {
                                 "restartPolicy": "Never",
                                 "nodeSelector": {"kubernetes.io/hostname": DOCKER_NODE},
                                 "volumes": [{"name": "data",
                                              "hostPath": {"path": str(tries)}}],
                                 "containers": [{
                                     "name": "work", "image": V1, "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", script],
                                     "volumeMounts": [{"name": "data",
                                                       "mountPath": "/data"}]}]}}}}, ns)

    async def complete() -> Obj | None:
        job = await fc.get("jobs", "flaky", ns)
        conds = (job.get("status") or {}).get("conditions") or []
        done = any(c["type"] == "Complete" and c["status"] == "True" for c in conds)
        return job if done else None

    job = await eventually(complete, timeout=240, what="the Job Complete")
    assert job["status"]["succeeded"] == 1
    assert job["status"]["failed"] == 2
    phases = sorted(p["status"]["phase"] for p in
                    (await fc.list("pods", ns, label_selector="job-name=flaky"))["items"])
    assert phases == ["Failed", "Failed", "Succeeded"]
    assert (tries / "tries").read_text().count("try") == 3


async def test_a_cronjob_fires_on_a_one_minute_schedule_and_its_job_runs_on_docker(
        fc: Client, ns: str) -> None:
    await fc.create("cronjobs", {"apiVersion": "batch/v1", "kind": "CronJob",
                                 "metadata": {"name": "tick"},
                                 "spec": {"schedule": "*/1 * * * *", "jobTemplate": {
                                     "spec": {"template": {"spec": {
                                         "restartPolicy": "Never",
                                         "nodeSelector": {
                                             "kubernetes.io/hostname": DOCKER_NODE},
                                         "containers": [{
                                             "name": "tick", "image": V1,
                                             "imagePullPolicy": "Never",
                                             "command": ["sh", "-c", "echo tick"]}]}}}}}}, ns)

    async def a_job_succeeded() -> Obj | None:
        for job in (await fc.list("jobs", ns))["items"]:
            if (job.get("status") or {}).get("succeeded") == 1:
                return dict(job)
        return None

    job = await eventually(a_job_succeeded, timeout=180, what="a Job of the CronJob done")
    assert job["metadata"]["ownerReferences"][0]["name"] == "tick"
    assert job["metadata"]["name"].startswith("tick-")
    cron = await eventually(
        lambda: _with_last_success(fc, ns), what="the CronJob's lastSuccessfulTime")
    assert cron["status"]["lastScheduleTime"].endswith(":00Z")  # on the minute


async def _with_last_success(fc: Client, ns: str) -> Obj | None:
    cron = await fc.get("cronjobs", "tick", ns)
    return cron if (cron.get("status") or {}).get("lastSuccessfulTime") else None


# ---- hollow nodes -------------------------------------------------------------------------


async def test_a_deleted_pod_is_replaced(fc: Client, ns: str) -> None:
    await fc.create("deployments", deployment("rep", 3, HOLLOW_IMAGE, HOLLOW), ns)
    before = await eventually(lambda: all_running(fc, ns, "app=rep", 3),
                              what="3 pods Running on hollow nodes")
    victim = before[0]["metadata"]["name"]
    await fc.delete("pods", victim, ns)
    after = await eventually(
        lambda: _replaced(fc, ns, victim), what="a new pod Running in the deleted one's place")
    assert len(after) == 3
    assert {p["spec"]["nodeName"] for p in after} <= {*STAY, LOST}


async def _replaced(fc: Client, ns: str, victim: str) -> list[Obj]:
    items = await all_running(fc, ns, "app=rep", 3)
    return items if items and victim not in {p["metadata"]["name"] for p in items} else []


async def test_a_lost_nodes_pods_come_back_elsewhere(fc: Client, ns: str,
                                                      full_cluster: FullCluster) -> None:
    """The lost node's process is killed: no lease renewals, no status, no goodbye."""
    # 8 pods spread by hostname over 4 hollow nodes: two of them land on LOST. Honor
    # leaves a tainted node out of the skew, so the replacements fit on the other three.
    d = deployment("lost", 8, HOLLOW_IMAGE, HOLLOW)
    d["spec"]["template"]["spec"]["topologySpreadConstraints"] = [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "Honor",
        "labelSelector": {"matchLabels": {"app": "lost"}}}]
    await fc.create("deployments", d, ns)
    first = await eventually(lambda: all_running(fc, ns, "app=lost", 8),
                             what="8 pods Running")
    on_lost = {p["metadata"]["name"] for p in first if p["spec"]["nodeName"] == LOST}
    assert len(on_lost) == 2, [p["spec"]["nodeName"] for p in first]
    full_cluster.hollow_lost.kill()

    async def back_elsewhere() -> list[Obj]:
        items = await all_running(fc, ns, "app=lost", 8)
        names = {p["metadata"]["name"] for p in items}
        ok = items and not names & on_lost and all(p["spec"]["nodeName"] in STAY
                                                   for p in items)
        return items if ok else []

    after = await eventually(back_elsewhere, timeout=180,
                             what="8 pods Running again, none on the lost node")
    assert len(after) == 8
    node = await fc.get("nodes", LOST)
    taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in taints
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "Unknown"
    # The evicted pods are marked for deletion (no agent is left to confirm it).
    for name in on_lost:
        with contextlib.suppress(errors.NotFound):
            pod = await fc.get("pods", name, ns)
            assert pod["metadata"].get("deletionTimestamp")
