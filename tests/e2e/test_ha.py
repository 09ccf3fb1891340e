"""Faults of an HA control plane (3 etcd members, 2 apiservers, controller-managers and
schedulers: the session cluster of conftest.py), and backup/restore.

Each test kills or stops a part the way it fails on a real machine (SIGKILL: no Lease
released, no goodbye), checks that the cluster goes on through the other replica, and
starts the part again before it ends, so the next test finds the whole cluster. And each
asserts nothing was lost or doubled: a workload made during or after the fault gets
exactly its replicas, each pod name once, each pod in exactly one container.

Everything lives in the namespace `e2e-ha`, deleted at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest
import requests

from jota.api import errors
from jota.api.meta import Obj
from jota.client.client import Client
from jota.client.leaderelection import parse_time
from jota.local import leftovers
from jota.local.images import TEST_IMAGE
from tests.e2e.conftest import LocalCluster
from tests.e2e.helpers import ready, wait_for

NS = "e2e-ha"
# A killed leader's Lease is taken over after its 15 s lease duration (kube's default);
# then the new leader starts its informers. Generous deadlines: two busy cores.
TAKEOVER_TIMEOUT = 120.0


def cli(lc: LocalCluster, *args: str, stdin: str | None = None,
        timeout: float = 180.0) -> str:
    """The jota CLI as the user runs it (its config names both apiservers); fails the test
    with its output when it fails."""
    out = subprocess.run([sys.executable, "-m", "jota.cli.main", *args], env=lc.env,
                         input=stdin,
                         capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"jota {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def running_containers(lc: LocalCluster, app: str) -> list[str]:
    """The pod name of each running container of `app` in any node's engine."""
    names = []
    for node in lc.nodes:
        try:
            api = docker.DockerClient(base_url=node.docker_host, timeout=10)
        except (docker.errors.DockerException, requests.RequestException):
            continue
        try:
            names += [c.labels["io.kubernetes.pod.name"] for c in api.containers.list(
                filters={"label": [f"io.kubernetes.pod.namespace={NS}",
                                   f"io.kubernetes.container.name={app}"]})]
        finally:
            api.close()
    return names


def deployment(name: str, replicas: int) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": name, "image": TEST_IMAGE,
                                         "imagePullPolicy": "Never",
                                         "command": ["sleep", "3600"]}]}}}}


async def assert_exactly(lc: LocalCluster, client: Client, app: str, replicas: int) -> None:
    """`app` has exactly `replicas` pods, Running and Ready, names unique, each in one
    running container."""
    async def settled() -> bool:
        pods = (await client.list("pods", NS, label_selector=f"app={app}"))["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if len(pods) != replicas or len(live) != replicas or not all(map(ready, live)):
            return False
        names = sorted(p["metadata"]["name"] for p in live)
        return sorted(await asyncio.to_thread(running_containers, lc, app)) == names
    try:
        await wait_for(f"{replicas} pods of {app}, each running once", settled)
    except AssertionError:
        pods = (await client.list("pods", NS, label_selector=f"app={app}"))["items"]
        raise AssertionError(
            f"pods {[(p['metadata']['name'], p['status'].get('phase')) for p in pods]}, "
            f"containers {running_containers(lc, app)}") from None


async def holder(client: Client, lease: str) -> str:
    obj = await client.get("leases", lease, "kube-system")
    return str((obj.get("spec") or {}).get("holderIdentity") or "")


def component_of(identity: str) -> str:
    """`vm_controller-manager-1` -> `controller-manager-1` (topology.identity)."""
    return identity.rpartition("_")[2]


def alive(lc: LocalCluster, name: str) -> bool:
    return leftovers.alive(int(lc.components()[name]["pid"]))


def assert_all_running(lc: LocalCluster) -> None:
    """Every process of the cluster still runs: a fault of one part took no other down
    (as an agent whose connection was closed under a call, once)."""
    assert [name for name in lc.components() if not alive(lc, name)] == []


def ensure_started(lc: LocalCluster, name: str) -> None:
    if not alive(lc, name):
        cli(lc, "local", "start-component", name)


@pytest.fixture
async def ns(client: Client, local_cluster: LocalCluster) -> AsyncIterator[str]:
    with contextlib.suppress(errors.NotFound):
        await client.delete("namespaces", NS)
    await wait_for("the old namespace to go", lambda: _gone(client))
    await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": NS}})
    yield NS
    for name in [c for c in local_cluster.components() if not alive(local_cluster, c)]:
        if name.split("/")[0] not in ("node", "proxy", "dockerd"):
            cli(local_cluster, "local", "start-component", name)  # a failed test's leftover
    with contextlib.suppress(errors.NotFound):
        await client.delete("namespaces", NS)


async def _gone(client: Client) -> bool:
    try:
        await client.get("namespaces", NS)
    except errors.NotFound:
        return True
    return False


async def nodes_ready(client: Client, lc: LocalCluster) -> bool:
    nodes = {n["metadata"]["name"]: n for n in (await client.list("nodes"))["items"]}
    return all(name in nodes and ready(nodes[name]) for name in (n.name for n in lc.nodes))


# ---- leader election -----------------------------------------------------------------------

@pytest.mark.parametrize("lease", ["kube-controller-manager", "kube-scheduler"])
async def test_a_killed_leader_is_replaced_and_its_work_goes_on(
        local_cluster: LocalCluster, client: Client, ns: str, lease: str) -> None:
    leader = await wait_for(f"a holder of {lease}", lambda: holder(client, lease))
    killed = component_of(leader)
    assert killed in local_cluster.components(), f"{leader} names no component"
    cli(local_cluster, "local", "stop-component", killed, "--kill")
    try:
        async def taken() -> str | None:
            now = await holder(client, lease)
            return now if now and now != leader else None
        successor = await wait_for(f"the other replica to take {lease}", taken,
                                   TAKEOVER_TIMEOUT)
        assert component_of(successor) != killed
        app = "after-" + lease.removeprefix("kube-")
        # Made after the takeover: the new controller-manager makes its pods, the new
        # scheduler binds them.
        cli(local_cluster, "apply", "-f", "-", stdin=json.dumps(deployment(app, 3)))
        await assert_exactly(local_cluster, client, app, 3)
    finally:
        ensure_started(local_cluster, killed)
    # The restarted replica stands by: still exactly 3 (nothing doubled by two leaders).
    await assert_exactly(local_cluster, client, app, 3)
    assert_all_running(local_cluster)


def test_prometheus_discovers_every_replica_from_either_controller_manager(
        local_cluster: LocalCluster) -> None:
    want = {"apiserver": ["127.0.0.1:8080", "127.0.0.1:8081"],
            "controller-manager": ["127.0.0.1:10257", "127.0.0.1:10267"],
            "scheduler": ["127.0.0.1:10259", "127.0.0.1:10269"]}
    for manager in want["controller-manager"]:  # the standby serves discovery too
        with urllib.request.urlopen(f"http://{manager}/sd/control-plane", timeout=30) as r:
            groups = json.load(r)
        assert {g["labels"]["__meta_jota_component"]: sorted(g["targets"])
                for g in groups} == want


# ---- apiserver and etcd --------------------------------------------------------------------

async def test_clients_fail_over_to_the_other_apiserver(
        local_cluster: LocalCluster, client: Client, ns: str) -> None:
    killed_at = datetime.now(UTC)
    cli(local_cluster, "local", "stop-component", "apiserver-1", "--kill")
    try:
        assert NS in cli(local_cluster, "get", "namespaces")
        cli(local_cluster, "apply", "-f", "-", stdin=json.dumps(deployment("via-second", 2)))
        await assert_exactly(local_cluster, client, "via-second", 2)

        # The agents renew their node Leases through apiserver-2 and stay Ready.
        async def renewed() -> bool:
            for node in local_cluster.nodes:
                lease = await client.get("leases", node.name, "kube-node-lease")
                at = parse_time((lease.get("spec") or {}).get("renewTime"))
                if at is None or at <= killed_at:
                    return False
            return await nodes_ready(client, local_cluster)
        await wait_for("every node to renew its Lease after the kill", renewed)
        assert "via-second" in cli(local_cluster, "get", "pods", "-n", NS)
    finally:
        ensure_started(local_cluster, "apiserver-1")
    assert "via-second" in cli(local_cluster, "get", "deployments", "-n", NS)
    assert_all_running(local_cluster)


async def test_writes_and_reads_go_on_with_one_etcd_member_of_three_stopped(
        local_cluster: LocalCluster, client: Client, ns: str) -> None:
    # etcd-1 is every apiserver's first --etcd-servers entry: they must move on.
    cli(local_cluster, "local", "stop-component", "etcd-1")
    try:
        for i in range(5):
            cli(local_cluster, "create", "configmap", f"during-{i}", "-n", NS,
                f"--from-literal=i={i}")
        listed = json.loads(cli(local_cluster, "get", "configmaps", "-n", NS, "-o", "json"))
        names = [c["metadata"]["name"] for c in listed["items"]]
        assert sorted(n for n in names if n.startswith("during-")) == [
            f"during-{i}" for i in range(5)]
        cli(local_cluster, "apply", "-f", "-", stdin=json.dumps(deployment("one-down", 2)))
        await assert_exactly(local_cluster, client, "one-down", 2)
    finally:
        ensure_started(local_cluster, "etcd-1")
    # The member catches up: it answers with what was written while it was away.
    out = subprocess.run(["etcdctl", "--endpoints", "http://127.0.0.1:23790", "endpoint",
                          "health"], capture_output=True, text=True, timeout=60,
                         env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}, check=False)
    assert "is healthy" in out.stdout + out.stderr, out.stderr
    assert_all_running(local_cluster)


async def test_after_a_restart_of_the_whole_control_plane_watches_resume(
        local_cluster: LocalCluster, client: Client, ns: str) -> None:
    cli(local_cluster, "apply", "-f", "-", stdin=json.dumps(deployment("survivor", 1)))
    await assert_exactly(local_cluster, client, "survivor", 1)
    cli(local_cluster, "local", "restart")
    # Scaled after the restart: the controllers, the scheduler and the agents (whose
    # watches were cut) all see it.
    cli(local_cluster, "scale", "deployment", "survivor", "-n", NS, "--replicas", "3")
    await assert_exactly(local_cluster, client, "survivor", 3)
    await wait_for("every node Ready", lambda: nodes_ready(client, local_cluster))
    assert_all_running(local_cluster)


# ---- backup and restore --------------------------------------------------------------------

async def test_restore_brings_back_the_state_of_the_backup(
        local_cluster: LocalCluster, client: Client, ns: str, tmp_path: Path) -> None:
    cli(local_cluster, "create", "configmap", "before", "-n", NS, "--from-literal=a=1")
    snapshot = tmp_path / "snap.db"
    out = cli(local_cluster, "local", "backup", str(snapshot))
    assert "revision" in out and snapshot.stat().st_size > 0
    cli(local_cluster, "delete", "configmap", "before", "-n", NS)
    cli(local_cluster, "create", "configmap", "after", "-n", NS, "--from-literal=b=2")
    cli(local_cluster, "apply", "-f", "-", stdin=json.dumps(deployment("after-backup", 1)))
    await assert_exactly(local_cluster, client, "after-backup", 1)

    cli(local_cluster, "local", "restore", str(snapshot), timeout=400.0)

    names = [c["metadata"]["name"] for c in json.loads(
        cli(local_cluster, "get", "configmaps", "-n", NS, "-o", "json"))["items"]]
    assert "before" in names and "after" not in names
    await wait_for("every node Ready after the restore",
                   lambda: nodes_ready(client, local_cluster))

    # The pod made after the backup is not in the restored state: its agent stops it.
    async def stopped() -> bool:
        return not await asyncio.to_thread(running_containers, local_cluster, "after-backup")
    await wait_for("the container of a pod made after the backup to stop", stopped)
    # The restored cluster works: the restarted controllers and agents run new pods.
    cli(local_cluster, "apply", "-f", "-", stdin=json.dumps(deployment("restored", 2)))
    await assert_exactly(local_cluster, client, "restored", 2)
    assert_all_running(local_cluster)

