"""jota-scheduler against a real apiserver: where pending pods land, and what an
unschedulable pod tells `kubectl describe`.

The scheduler gets a cluster of its own (etcd + apiserver, for this module): it
binds every pending pod it sees and counts every Node in its messages, so sharing
the session's apiserver would schedule other modules' pods onto these fake nodes.
Nodes are plain Node objects (no agent): allocatable and Ready written through the
status subresource. Each test deletes its nodes, so "0/N nodes" counts its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon, start_apiserver, start_etcd, start_scheduler

CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"""
CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def sched_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("scheduler")
    etcd = start_etcd(root / "etcd")
    api = start_apiserver(etcd.address, root)
    config = root / "scheduler.yaml"
    config.write_text(CONFIG)
    sched: Daemon | None = None
    try:
        sched = start_scheduler(api.address, root, config=config, leader_elect=True,
                                extra_args=["--v", "debug"])
        yield api.address
    finally:
        if sched is not None:
            sched.stop()
            log = sched.log.read_text()
            assert "Traceback" not in log, f"the scheduler logged a traceback:\n{log[-4000:]}"
        api.stop()
        etcd.stop()


@pytest.fixture
async def sc(sched_cluster: str) -> AsyncIterator[Client]:
    c = Client(sched_cluster, timeout=30)
    yield c
    await c.close()


@pytest.fixture
async def ns(sc: Client) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await sc.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": name}})
    return name


NodeMaker = Callable[..., Awaitable[str]]


@pytest.fixture
async def make_node(sc: Client) -> AsyncIterator[NodeMaker]:
    made: list[str] = []
    prefix = uuid.uuid4().hex[:4]

    async def make(name: str, cpu: str = "4", memory: str = "8Gi", *,
                   labels: dict[str, str] | None = None,
                   taints: list[dict[str, str]] | None = None) -> str:
        full = f"{prefix}-{name}"
        node = await sc.create("nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": full,
                         "labels": {"kubernetes.io/hostname": full, **(labels or {})}},
            "spec": {"taints": taints} if taints else {}})
        made.append(full)
        alloc = {"cpu": cpu, "memory": memory, "pods": "110"}
        node["status"] = {"capacity": alloc, "allocatable": alloc, "conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "message": "kubelet is posting ready status"}]}
        await sc.update_status("nodes", node)
        return full

    yield make
    for name in made:
        with contextlib.suppress(errors.NotFound):
            await sc.delete("nodes", name)


def pod(name: str, cpu: str = "100m", memory: str = "64Mi", **spec: Any) -> dict[str, Any]:
    labels = spec.pop("labels", {})
    owner = spec.pop("owner", None)
    md: dict[str, Any] = {"name": name, "labels": labels}
    if owner:
        md["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"containers": [{"name": "c", "image": "jota/busybox:latest",
                                     "resources": {"requests": {"cpu": cpu,
                                                                "memory": memory}}}],
                     **spec}}


async def eventually(check: Callable[[], Awaitable[Any]], what: str,
                     timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last saw {last!r}")


async def node_of(c: Client, name: str, namespace: str) -> str:
    async def bound() -> str:
        p = await c.get("pods", name, namespace)
        return str(p["spec"].get("nodeName") or "")
    result: str = await eventually(bound, f"pod {name} to be scheduled")
    return result


async def failed_scheduling(c: Client, name: str, namespace: str) -> str:
    async def message() -> str:
        events = (await c.list("events", namespace))["items"]
        for e in events:
            if e["involvedObject"]["name"] == name and e["reason"] == "FailedScheduling":
                assert e["type"] == "Warning"
                assert e["source"]["component"] == "default-scheduler"
                return str(e["message"])
        return ""
    result: str = await eventually(message, f"a FailedScheduling event for {name}")
    return result


async def test_pods_land_where_their_requests_fit(sc: Client, ns: str,
                                                  make_node: NodeMaker) -> None:
    await make_node("small", cpu="1")
    big = await make_node("big", cpu="4")
    await sc.create("pods", pod("needs-two", cpu="2"), ns)
    assert await node_of(sc, "needs-two", ns) == big
    bound = await sc.get("pods", "needs-two", ns)
    cond = [c for c in bound["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert cond[0]["status"] == "True"

    async def scheduled_event() -> str:
        for e in (await sc.list("events", ns))["items"]:
            if e["reason"] == "Scheduled":
                return str(e["message"])
        return ""
    assert await eventually(scheduled_event, "the Scheduled event") == \
        f"Successfully assigned {ns}/needs-two to {big}"


async def test_node_selector(sc: Client, ns: str, make_node: NodeMaker) -> None:
    await make_node("hdd", labels={"disk": "hdd"})
    ssd = await make_node("ssd", labels={"disk": "ssd"})
    for i in range(3):
        await sc.create("pods", pod(f"fast-{i}", nodeSelector={"disk": "ssd"}), ns)
    for i in range(3):
        assert await node_of(sc, f"fast-{i}", ns) == ssd


async def test_taints_and_tolerations(sc: Client, ns: str, make_node: NodeMaker) -> None:
    gpu = await make_node("gpu", taints=[{"key": "gpu", "value": "true",
                                          "effect": "NoSchedule"}])
    plain = await make_node("plain")
    await sc.create("pods", pod("anywhere"), ns)
    assert await node_of(sc, "anywhere", ns) == plain
    pinned = {"kubernetes.io/hostname": gpu}
    await sc.create("pods", pod("intolerant", nodeSelector=pinned), ns)
    assert await failed_scheduling(sc, "intolerant", ns) == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {gpu: true}. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling..")
    await sc.create("pods", pod("tolerant", nodeSelector=pinned, tolerations=[
        {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]), ns)
    assert await node_of(sc, "tolerant", ns) == gpu


async def test_replicaset_pods_spread_over_nodes(sc: Client, ns: str,
                                                 make_node: NodeMaker) -> None:
    nodes = [await make_node(f"n{i}", cpu="8", memory="16Gi") for i in range(3)]
    labels = {"app": "web"}
    rs = await sc.create("replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}},
        ns)
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
             "uid": rs["metadata"]["uid"], "controller": True}
    await asyncio.sleep(0.5)  # the scheduler's ReplicaSet informer sees it
    for i in range(6):
        await sc.create("pods", pod(f"web-{i}", labels=labels, owner=owner), ns)
    placed = [await node_of(sc, f"web-{i}", ns) for i in range(6)]
    assert sorted(placed.count(n) for n in nodes) == [2, 2, 2], placed


async def test_most_allocated_profile_packs_one_node(sc: Client, ns: str,
                                                     make_node: NodeMaker) -> None:
    for i in range(3):
        await make_node(f"bin{i}", cpu="4", memory="8Gi")
    for i in range(4):
        await sc.create("pods", pod(f"packed-{i}", cpu="500m", memory="1Gi",
                                    schedulerName="bin-packing"), ns)
        await node_of(sc, f"packed-{i}", ns)
    placed = {await node_of(sc, f"packed-{i}", ns) for i in range(4)}
    assert len(placed) == 1, placed


async def test_unschedulable_pod_reports_and_then_schedules(sc: Client, ns: str,
                                                            make_node: NodeMaker) -> None:
    await make_node("cp", cpu="8", taints=[CP_TAINT])
    await make_node("w1", cpu="1")
    await make_node("w2", cpu="1")
    await sc.create("pods", pod("big", cpu="2"), ns)
    # 2 cpu is more than w1 and w2 have at all: evicting pods there cannot help either
    message = ("0/3 nodes are available: 1 node(s) had untolerated taint "
               "{node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: "
               "0/3 nodes are available: 3 Preemption is not helpful for scheduling..")
    assert await failed_scheduling(sc, "big", ns) == message

    async def condition() -> dict[str, Any] | None:
        p = await sc.get("pods", "big", ns)
        for c in p.get("status", {}).get("conditions") or []:
            if c["type"] == "PodScheduled":
                return dict(c)
        return None
    cond = await eventually(condition, "PodScheduled=False")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable",
                                                                 message)
    roomy = await make_node("w3", cpu="4")
    assert await node_of(sc, "big", ns) == roomy


async def test_high_priority_pod_preempts(sc: Client, ns: str, make_node: NodeMaker) -> None:
    name = f"high-{uuid.uuid4().hex[:6]}"
    await sc.create("priorityclasses", {"apiVersion": "scheduling.k8s.io/v1",
                                        "kind": "PriorityClass", "metadata": {"name": name},
                                        "value": 1000})
    only = await make_node("only", cpu="1")
    await sc.create("pods", pod("low", cpu="800m"), ns)
    assert await node_of(sc, "low", ns) == only
    await sc.create("pods", pod("vip", cpu="800m", priorityClassName=name), ns)

    async def nominated() -> str:
        p = await sc.get("pods", "vip", ns)
        return str((p.get("status") or {}).get("nominatedNodeName") or "")
    assert await eventually(nominated, "vip nominated") == only

    async def victim_terminating() -> bool:
        p = await sc.get("pods", "low", ns)
        return bool(p["metadata"].get("deletionTimestamp"))
    assert await eventually(victim_terminating, "low evicted")
    # no kubelet here to finish the graceful termination: end it as one would
    await sc.delete("pods", "low", ns, grace_period_seconds=0)
    assert await node_of(sc, "vip", ns) == only


def test_help_runs(tmp_path: Path) -> None:
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "controlplane.scheduler.main", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--leader-elect" in out and "--config" in out
