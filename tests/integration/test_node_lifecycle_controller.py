"""The node lifecycle controller and `jota cordon|uncordon|drain` against a real
control plane.

The module runs its own etcd + apiserver + controller-manager with short settings
(`--node-monitor-grace-period 6s --default-unreachable-toleration-seconds 2`): the
session's controller-manager would hold the same leader Lease and use 40 s / 300 s.
Nodes are plain Node objects with a Lease the test renews (or stops renewing); no
agent runs, so evicted pods stay Terminating, as on a real unreachable node.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jota.api import errors
from jota.client import format_micro_time
from jota.client.client import Client
from jota.local.processes import start_apiserver, start_controller_manager, start_etcd
from tests.integration.conftest import CLI

UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture(scope="module")
def lifecycle_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("nodelifecycle")
    etcd = start_etcd(root / "etcd")
    api = start_apiserver(etcd.address, root)
    cm = None
    try:
        cm = start_controller_manager(
            api.address, root, extra_args=["--node-monitor-grace-period", "6s",
                                           "--default-unreachable-toleration-seconds", "2",
                                           "--v", "debug"])
        yield api.address
    finally:
        if cm is not None:
            cm.stop()
            log = cm.log.read_text()
            assert "Traceback" not in log, f"controller-manager traceback:\n{log[-4000:]}"
        api.stop()
        etcd.stop()


@pytest.fixture
async def lc(lifecycle_cluster: str) -> AsyncIterator[Client]:
    c = Client(lifecycle_cluster, timeout=30)
    yield c
    await c.close()


@pytest.fixture
def cli(lifecycle_cluster: str, tmp_path: Path) -> CLI:
    return CLI(lifecycle_cluster, tmp_path)


async def make_node(c: Client, name: str) -> None:
    await c.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    status = {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady",
         "message": "kubelet is posting ready status",
         "lastHeartbeatTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]}
    # A patch, as a kubelet's status write: node IPAM may be writing the Node meanwhile.
    await c.patch("nodes", name, {"status": status}, patch_type="merge", status=True)
    await c.create("leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                 "renewTime": format_micro_time(datetime.now(UTC))}}, "kube-node-lease")


def pod(name: str, node: str, tolerations: list[dict[str, Any]] | None = None
        ) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node,
                            "containers": [{"name": "c", "image": "jota/busybox:latest"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.3)


async def test_a_silent_node_goes_unknown_is_tainted_and_its_pods_evicted(lc: Client) -> None:
    name = f"n-{uuid.uuid4().hex[:6]}"
    await make_node(lc, name)
    await lc.create("pods", pod("victim", name), "default")
    stayer = await lc.create("pods", pod("stayer", name, [
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]), "default")
    stayer["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    await lc.update_status("pods", stayer, "default")
    created = time.monotonic()

    async def unknown() -> dict[str, Any] | None:
        node = await lc.get("nodes", name)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        taints = {(t["key"], t["effect"]) for t in node.get("spec", {}).get("taints") or []}
        if ready["status"] == "Unknown" and (UNREACHABLE, "NoExecute") in taints:
            return {"ready": ready, "taints": taints}
        return None

    seen = await eventually(unknown)
    assert time.monotonic() - created >= 5.0  # not before the 6 s grace period
    assert seen["ready"]["reason"] == "NodeStatusUnknown"
    assert seen["ready"]["message"] == "Kubelet stopped posting node status."
    assert (UNREACHABLE, "NoSchedule") in seen["taints"]
    tainted = time.monotonic()

    async def evicted() -> bool:
        try:
            victim = await lc.get("pods", "victim", "default")
        except errors.NotFound:
            return True
        return bool(victim["metadata"].get("deletionTimestamp"))

    await eventually(evicted, timeout=20)
    assert time.monotonic() - tainted >= 1.0  # after the (2 s) toleration, not at once
    stayer = await lc.get("pods", "stayer", "default")
    assert not stayer["metadata"].get("deletionTimestamp")
    ready = [c for c in stayer["status"].get("conditions") or [] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "False"

    # The node comes back: Ready=True again, the taints go.
    node = await lc.get("nodes", name)
    node["status"]["conditions"] = [
        {"type": "Ready", "status": "True", "reason": "KubeletReady",
         "lastHeartbeatTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]
    await lc.update_status("nodes", node)

    async def untainted() -> bool:
        n = await lc.get("nodes", name)
        return not any(t["key"] == UNREACHABLE for t in n.get("spec", {}).get("taints") or [])

    await eventually(untainted, timeout=10)
    await lc.delete("pods", "stayer", "default", grace_period_seconds=0)
    await lc.delete("nodes", name)


TOLERATE_ALL = [{"operator": "Exists"}]


async def test_cordon_uncordon_and_drain_through_the_cli(lc: Client, cli: CLI) -> None:
    name = f"d-{uuid.uuid4().hex[:6]}"
    await make_node(lc, name)
    assert cli.ok("cordon", name) == f"node/{name} cordoned\n"
    assert (await lc.get("nodes", name))["spec"]["unschedulable"] is True
    assert cli.ok("cordon", name) == f"node/{name} already cordoned\n"
    assert cli.ok("uncordon", name) == f"node/{name} uncordoned\n"
    assert not (await lc.get("nodes", name)).get("spec", {}).get("unschedulable")

    await lc.create("pods", pod("bare", name, TOLERATE_ALL), "default")
    r = cli("drain", name)
    assert r.code == 1
    msg = ("cannot delete Pods that declare no controller (use --force to override): "
           "default/bare")
    assert r.err.endswith(f"error: {msg}\n"), r.err
    assert r.out == f"node/{name} cordoned\n"

    r = cli("drain", name, "--force", "--grace-period", "0", "--timeout", "20s")
    assert r.code == 0, r.err
    assert r.out == (f"node/{name} already cordoned\nevicting pod default/bare\n"
                     f"pod/bare evicted\nnode/{name} drained\n")
    assert "Warning: deleting Pods that declare no controller: default/bare" in r.err
    with pytest.raises(errors.NotFound):
        await lc.get("pods", "bare", "default")
    await lc.delete("nodes", name)
