"""Faults on the two-node local cluster: a killed container, a lost node, a burst of bad input.

Each test asserts that nothing is lost or doubled: every pod the workloads want runs
exactly once when the dust settles, and no container of a deleted pod is left running
in any node's engine.

A node that stops answering (`jota local stop-node`, or `--cut` for a partition where
its containers keep running) is handled as Kubernetes' node lifecycle controller does:
after `--node-monitor-grace-period` (40 s) its Ready condition becomes Unknown and it
gets the `node.kubernetes.io/unreachable` NoExecute taint; its pods are deleted once
their toleration of that taint runs out (5 s here, set in the pods, instead of the 300 s
admission gives). The deletion is graceful: the pod only gets a deletionTimestamp, and
the object stays (Terminating) until its node confirms the containers stopped, which
an unreachable node cannot do. So:

- a Deployment's pods are replaced at once on the other node, because a ReplicaSet
  does not count Terminating pods (during a partition the old copies may still run on
  the cut-off node: Kubernetes accepts that for stateless pods);
- a StatefulSet's pod is NOT replaced while its node is unreachable: its replacement
  would have the same name, and the old object still holds it until the node is back.
  Kubernetes' ways out are `delete pod --force --grace-period=0` (Jota has it) and
  deleting the Node (its pod garbage collector then removes the pods; Jota has none
  yet). This is what keeps an ordinal from running twice across a partition
  (Kubernetes' "StatefulSet considerations" for node failure). A watcher over both
  engines checks it for the whole drill;
- when the node comes back, its agent sees the deletions, stops the stale containers
  and finishes the deletions; then the StatefulSet makes its pod again.

Everything lives in the namespace `e2e-faults`, deleted at the end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from jota.api.meta import Obj
from jota.client.client import Client
from jota.local.images import TEST_IMAGE
from tests.e2e.conftest import LocalCluster
from tests.e2e.helpers import ready, wait_for
from tests.e2e.test_services import apply

NS = "e2e-faults"
W1, W2 = "jota-worker-1", "jota-worker-2"
APP = "app"  # the one container of every pod here
WEB_REPLICAS = 4
# The node must first be seen silent for --node-monitor-grace-period (40 s), then the
# pods' 5 s toleration runs out: generous deadlines on two busy cores.
NODE_LOST_TIMEOUT = 150.0
FAST_EVICTION = [{"key": key, "operator": "Exists", "effect": "NoExecute",
                  "tolerationSeconds": 5}
                 for key in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]


# ---- helpers -------------------------------------------------------------------------------

def running_and_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or [])


def deleting(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


async def pods(client: Client, app: str) -> list[Obj]:
    return list((await client.list("pods", NS, label_selector=f"app={app}"))["items"])


def running_containers(docker_host: str, *, every: bool = False) -> list[tuple[str, str]]:
    """(pod name, pod uid) of each running app container of our namespace on one engine
    (`every`: any container or sandbox of it, running or not); an engine that does not
    answer (its node is powered off) runs nothing."""
    labels = [f"io.kubernetes.pod.namespace={NS}"]
    if not every:
        labels.append(f"io.kubernetes.container.name={APP}")
    try:
        api = docker.DockerClient(base_url=docker_host, timeout=10)
    except (docker.errors.DockerException, requests.RequestException):
        return []
    try:
        found = api.containers.list(all=every, filters={"label": labels})
        return [(c.labels["io.kubernetes.pod.name"], c.labels["io.kubernetes.pod.uid"])
                for c in found]
    except (docker.errors.DockerException, requests.RequestException):
        return []
    finally:
        api.close()


def kill_container(docker_host: str, pod: str) -> None:
    api = docker.DockerClient(base_url=docker_host, timeout=30)
    try:
        (container,) = api.containers.list(filters={"label": [
            f"io.kubernetes.pod.namespace={NS}", f"io.kubernetes.pod.name={pod}",
            f"io.kubernetes.container.name={APP}"]})
        container.kill()
    finally:
        api.close()


class EngineWatch:
    """Polls every node's engine during a drill and keeps each moment a StatefulSet pod
    name ran in two containers at once (its ordinal doubled)."""

    def __init__(self, lc: LocalCluster, prefix: str) -> None:
        self.hosts = [n.docker_host for n in lc.nodes]
        self.prefix = prefix
        self.doubled: list[str] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EngineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            seen: dict[str, list[str]] = {}
            for host in self.hosts:
                for name, uid in running_containers(host):
                    if name.startswith(self.prefix):
                        seen.setdefault(name, []).append(f"{uid} on {host}")
            self.doubled += [f"{name}: {', '.join(where)}" for name, where in seen.items()
                             if len(where) > 1]
            self.polls += 1
            self._stop.wait(0.3)


def everything_running(lc: LocalCluster) -> dict[str, list[tuple[str, str]]]:
    return {n.name: running_containers(n.docker_host) for n in lc.nodes}


async def assert_nothing_lost_or_doubled(lc: LocalCluster, client: Client,
                                         want: dict[str, int]) -> None:
    """Each app has exactly its replicas, Running and Ready, each in one container on its
    own node; no engine runs a container of a pod the API no longer has."""
    async def settled() -> bool:
        live: dict[str, str] = {}  # uid -> node
        for app, count in want.items():
            mine = await pods(client, app)
            if len(mine) != count or not all(running_and_ready(p) and not deleting(p)
                                             for p in mine):
                return False
            live |= {p["metadata"]["uid"]: p["spec"]["nodeName"] for p in mine}
        running = await asyncio.to_thread(everything_running, lc)
        where = [(uid, node) for node, found in running.items() for _, uid in found]
        return sorted(where) == sorted(live.items())
    try:
        await wait_for("every pod running exactly once, nothing stale left", settled)
    except AssertionError:
        state = {app: [(p["metadata"]["name"], p["metadata"]["uid"], p["spec"].get("nodeName"),
                        (p.get("status") or {}).get("phase"), deleting(p))
                       for p in await pods(client, app)] for app in want}
        raise AssertionError(f"pods {state}, engines {everything_running(lc)}") from None


def web_deployment() -> Obj:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": WEB_REPLICAS, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": pod_spec(labels)}}}


def db_stateful_set() -> Obj:
    labels = {"app": "db"}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": NS},
            "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": pod_spec(labels)}}}


def pod_spec(labels: dict[str, str]) -> Obj:
    """Spread over both nodes when both are there (ScheduleAnyway: it never stops a
    replacement from going to the one node left), evicted 5 s after a node is lost."""
    return {"terminationGracePeriodSeconds": 1, "tolerations": FAST_EVICTION,
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels}}],
            "containers": [{"name": APP, "image": TEST_IMAGE, "imagePullPolicy": "Never",
                            "command": ["sleep", "3600"]}]}


@pytest.fixture(scope="module")
def namespace(local_cluster: LocalCluster) -> Iterator[str]:
    apply(local_cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    try:
        yield NS
    finally:
        local_cluster.jota("delete", "namespace", NS)


async def delete_and_wait(client: Client, resource: str, name: str, app: str) -> None:
    await client.delete(resource, name, NS)

    async def gone() -> bool:
        return not await pods(client, app)
    await wait_for(f"the pods of {resource}/{name} to go", gone)


# ---- a killed container ------------------------------------------------------------------

async def test_a_killed_container_is_restarted_in_place(
        local_cluster: LocalCluster, client: Client, namespace: str) -> None:
    lc = local_cluster
    await client.create("deployments", web_deployment(), NS)
    await assert_nothing_lost_or_doubled(lc, client, {"web": WEB_REPLICAS})
    victim = (await pods(client, "web"))[0]
    name, uid, node = (victim["metadata"]["name"], victim["metadata"]["uid"],
                       victim["spec"]["nodeName"])

    await asyncio.to_thread(kill_container, lc.node(node).docker_host, name)

    async def restarted() -> Obj | None:
        pod = await client.get("pods", name, NS)
        (status,) = pod["status"].get("containerStatuses") or [{}]
        return pod if status.get("restartCount") == 1 and running_and_ready(pod) else None
    pod = await wait_for(f"{name} restarted once", restarted)
    assert (pod["metadata"]["uid"], pod["spec"]["nodeName"]) == (uid, node)
    await assert_nothing_lost_or_doubled(lc, client, {"web": WEB_REPLICAS})
    assert (await client.get("pods", name, NS))["metadata"]["uid"] == uid  # not replaced
    await delete_and_wait(client, "deployments", "web", "web")


# ---- a lost node ---------------------------------------------------------------------------

@pytest.mark.parametrize("cut", [False, True], ids=["stop-node", "cut"])
async def test_a_lost_node_s_pods_are_replaced_but_no_ordinal_runs_twice(
        local_cluster: LocalCluster, client: Client, namespace: str, cut: bool) -> None:
    lc = local_cluster
    await client.create("deployments", web_deployment(), NS)
    await client.create("statefulsets", db_stateful_set(), NS)
    want = {"web": WEB_REPLICAS, "db": 2}
    await assert_nothing_lost_or_doubled(lc, client, want)
    before = {app: {p["metadata"]["uid"]: p for p in await pods(client, app)} for app in want}
    lost_web = {uid for uid, p in before["web"].items() if p["spec"]["nodeName"] == W2}
    lost_db = [p for p in before["db"].values() if p["spec"]["nodeName"] == W2]
    assert lost_web, f"no web pod on {W2} to lose"
    assert len(lost_db) == 1, f"the StatefulSet is not spread over both nodes: {before['db']}"
    ordinal, ordinal_uid = lost_db[0]["metadata"]["name"], lost_db[0]["metadata"]["uid"]

    with EngineWatch(lc, "db-") as watch:
        stop = await asyncio.to_thread(lc.jota, "local", "stop-node", W2,
                                       *(["--cut"] if cut else []))
        assert stop.returncode == 0, stop.stdout + stop.stderr

        async def not_ready() -> bool:
            return not ready(await client.get("nodes", W2))
        await wait_for(f"{W2} NotReady", not_ready, NODE_LOST_TIMEOUT)

        async def replaced() -> bool:
            web = await pods(client, "web")
            live = [p for p in web if not deleting(p)]
            return (len(live) == WEB_REPLICAS and all(running_and_ready(p) for p in live)
                    and all(p["spec"]["nodeName"] == W1 for p in live)
                    and all(deleting(p) for p in web if p["metadata"]["uid"] in lost_web))
        await wait_for(f"the web pods of {W2} Running on {W1}", replaced, NODE_LOST_TIMEOUT)

        async def ordinal_evicted() -> Obj | None:
            pod = await client.get("pods", ordinal, NS)
            return pod if deleting(pod) else None
        await wait_for(f"{ordinal} marked for deletion", ordinal_evicted, NODE_LOST_TIMEOUT)
        # Kubernetes keeps it Terminating on its lost node and makes no second one. The
        # StatefulSet controller resyncs on every pod event: give it a few.
        for _ in range(20):
            pod = await client.get("pods", ordinal, NS)
            assert (pod["metadata"]["uid"], pod["spec"]["nodeName"]) == (ordinal_uid, W2)
            await asyncio.sleep(0.5)
        assert not [name for name, _ in await asyncio.to_thread(running_containers,
                                                                lc.node(W1).docker_host)
                    if name == ordinal]

        start = await asyncio.to_thread(lc.jota, "local", "start-node", W2)
        assert start.returncode == 0, start.stdout + start.stderr

        async def back() -> bool:
            node = await client.get("nodes", W2)
            return ready(node) and not (node.get("spec") or {}).get("taints")
        await wait_for(f"{W2} Ready again, untainted", back, NODE_LOST_TIMEOUT)

        async def stale_gone() -> bool:
            uids = {p["metadata"]["uid"] for app in want for p in await pods(client, app)}
            left = await asyncio.to_thread(running_containers, lc.node(W2).docker_host,
                                           every=True)
            return not lost_web & uids and ordinal_uid not in uids and all(
                uid in uids for _, uid in left)
        # Not only stopped: their containers and sandboxes are removed from its engine.
        await wait_for(f"the stale pods of {W2} gone from the API and its engine", stale_gone)
        await assert_nothing_lost_or_doubled(lc, client, want)
    assert watch.polls > 10
    assert watch.doubled == [], "an ordinal ran twice at once"
    await delete_and_wait(client, "statefulsets", "db", "db")
    await delete_and_wait(client, "deployments", "web", "web")


# ---- a burst of bad input ------------------------------------------------------------------

def good_manifest(i: int) -> tuple[str, str]:
    if i % 2:
        return f"cm-{i}", json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": f"cm-{i}", "namespace": NS},
                                      "data": {"i": str(i)}})
    return f"dep-{i}", f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dep-{i}
  namespace: {NS}
  labels: {{burst: "yes"}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: dep-{i}}}}}
  template:
    metadata: {{labels: {{app: dep-{i}}}}}
    spec:
      containers: [{{name: app, image: {TEST_IMAGE}}}]
"""


# (manifest, what the one-line error must name)
BAD: list[tuple[str, str]] = [
    (f"apiVersion: v1\nkind: Frobnicator\nmetadata: {{name: x, namespace: {NS}}}\n",
     "Frobnicator"),
    (f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{namespace: {NS}}}\ndata: {{a: b}}\n",
     "name"),
    (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: bad-type, namespace: {NS}}}\n"
     "spec: {replicas: three, selector: {matchLabels: {a: b}}, template: {metadata: "
     "{labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n", "spec.replicas"),
    (f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bad-label, namespace: {NS}, "
     "labels: {app: 'no spaces allowed!'}}\n", "metadata.labels"),
    (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: bad-count, namespace: {NS}}}\n"
     "spec: {replicas: -3, selector: {matchLabels: {a: b}}, template: {metadata: "
     "{labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n", "spec.replicas"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n  data: {a: b\n",
     "yaml: line 5"),
]


async def status_rows(lc: LocalCluster) -> list[list[str]]:
    out = await asyncio.to_thread(lc.jota, "local", "status")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    return [line.split() for line in lines[1:lines.index("")]]


async def test_a_burst_of_bad_applies_is_refused_cleanly_and_the_good_ones_stored(
        local_cluster: LocalCluster, client: Client, namespace: str,
        tmp_path: Path) -> None:
    lc = local_cluster
    components = await status_rows(lc)
    assert all(row[1] == "Running" for row in components), components
    logs = sorted((lc.state_dir / "logs").glob("*.log"))
    sizes = {log: log.stat().st_size for log in logs}
    cases: list[tuple[Path, str | None, str]] = []  # file, the good one's name, must name
    for i in range(200):
        if i % 2:
            text, must_name = BAD[(i // 2) % len(BAD)]
            name = None
        else:
            name, text = good_manifest(i)
            must_name = ""
        path = tmp_path / f"m{i:03}.yaml"
        path.write_text(text)
        cases.append((path, name, must_name))

    def run(case: tuple[Path, str | None, str]) -> tuple[Path, str | None, str, Any]:
        return (*case, lc.jota("apply", "-f", str(case[0])))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = await asyncio.to_thread(lambda: list(pool.map(run, cases)))

    problems = []
    for path, name, must_name, out in results:
        if name is not None:
            if out.returncode != 0:
                problems.append(f"{path.name} (good) failed: {out.stderr.strip()}")
            continue
        err = out.stderr.strip()
        if out.returncode == 0 or "Traceback" in out.stderr or len(err.splitlines()) != 1 \
                or must_name not in err:
            problems.append(f"{path.name} (bad, must name {must_name!r}): rc {out.returncode}"
                            f", stderr {err!r}")
    assert problems == [], "\n".join(problems)

    stored = {c["metadata"]["name"] for c in (await client.list("configmaps", NS))["items"]}
    stored |= {d["metadata"]["name"]
               for d in (await client.list("deployments", NS))["items"]}
    good = {name for _, name, _ in cases if name is not None}
    assert good <= stored, sorted(good - stored)
    assert not {"x", "bad-type", "bad-label", "bad-count"} & stored  # nothing half written
    assert await status_rows(lc) == components  # every daemon the same process, Running
    for log, size in sizes.items():
        with log.open("rb") as f:
            f.seek(size)
            assert b"Traceback" not in f.read(), f"{log.name} logged a traceback"
