"""ReplicaSets and Deployments against a real apiserver and controller-manager.

There is no scheduler or node here: pods stay unscheduled, so the tests play the
kubelet themselves, marking pods Running and Ready through the status
subresource (`FakeKubelet`), and judge the controllers by the objects they write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from controlplane.controllers.deployment.revisions import compute_hash
from jota.api.meta import Obj
from jota.client.client import Client
from jota.local.processes import Daemon
from tests.integration.conftest import CLI

TIMEOUT = 30.0
# Matches no node, so pods stay Pending even once a scheduler and nodes are about: the
# tests are the kubelet here.
NO_NODE = {"jota.test/no-node": "true"}


def deployment(name: str = "web", replicas: int = 3, image: str = "busybox:1.36",
               **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}],
                                           "nodeSelector": NO_NODE}},
                     **spec}}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = TIMEOUT,
                     what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


async def pods(client: Client, ns: str, selector: str = "") -> list[Obj]:
    return list((await client.list("pods", ns, label_selector=selector))["items"])


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def image_of(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["image"])


class FakeKubelet:
    """Marks every pod of a namespace Running and Ready, `delay` seconds after it appears."""

    def __init__(self, client: Client, ns: str, delay: float = 0.3) -> None:
        self.client, self.ns, self.delay = client, ns, delay
        self.seen: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            for pod in await pods(self.client, self.ns):
                name = pod["metadata"]["name"]
                first = self.seen.setdefault(name, now)
                if not is_ready(pod) and now - first >= self.delay:
                    await mark_ready(self.client, self.ns, name)
            await asyncio.sleep(0.1)


async def mark_ready(client: Client, ns: str, name: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with contextlib.suppress(Exception):
        await client.patch("pods", name, {"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}}, ns,
            patch_type="merge", status=True)


class BoundsWatcher:
    """Watches pods and records every moment the rollout bounds do not hold.

    With `count_terminating=False` a pod marked for deletion no longer counts, as
    kube's ReplicaSet does not count it: on a real node it lingers for its grace period.
    """

    def __init__(self, client: Client, ns: str, max_total: int, min_ready: int,
                 count_terminating: bool = True) -> None:
        self.client, self.ns = client, ns
        self.max_total, self.min_ready = max_total, min_ready
        self.count_terminating = count_terminating
        self.violations: list[str] = []
        self.max_seen, self.min_ready_seen, self.events = 0, 10**6, 0
        self.pods: dict[str, Obj] = {}

    async def run(self, ready: asyncio.Event) -> None:
        listing = await self.client.list("pods", self.ns)
        self.pods = {p["metadata"]["name"]: p for p in listing["items"]}
        ready.set()
        async for kind, pod in self.client.watch("pods", self.ns, resource_version=listing[
                "metadata"]["resourceVersion"], allow_bookmarks=False):
            name = pod["metadata"]["name"]
            if kind == "DELETED" or (not self.count_terminating and
                                     pod["metadata"].get("deletionTimestamp")):
                self.pods.pop(name, None)
            elif kind in ("ADDED", "MODIFIED"):
                self.pods[name] = pod
            self.events += 1
            total = len(self.pods)
            n_ready = sum(1 for p in self.pods.values() if is_ready(p))
            self.max_seen = max(self.max_seen, total)
            self.min_ready_seen = min(self.min_ready_seen, n_ready)
            if total > self.max_total or n_ready < self.min_ready:
                self.violations.append(f"{kind} {name}: {total} pods, {n_ready} ready")


@contextlib.asynccontextmanager
async def background(*coros: Awaitable[None]) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def rolled_out(client: Client, ns: str, name: str, image: str) -> bool:
    d = await client.get("deployments", name, ns)
    st, want = d.get("status") or {}, d["spec"]["replicas"]
    current = await pods(client, ns, f"app={name}")
    return (st.get("observedGeneration", 0) >= d["metadata"]["generation"] and
            st.get("updatedReplicas") == want and st.get("replicas") == want and
            st.get("availableReplicas") == want and len(current) == want and
            all(image_of(p) == image and is_ready(p) for p in current))


async def replica_sets(client: Client, ns: str) -> list[Obj]:
    return list((await client.list("replicasets", ns))["items"])


# ---- ReplicaSet ---------------------------------------------------------------------------


async def test_replicaset_creates_replaces_and_scales_pods(
        controller_manager: Daemon, client: Client, namespace: str, jota: CLI) -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "fe"},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "fe"}},
                   "template": {"metadata": {"labels": {"app": "fe", "tier": "x"}},
                                "spec": {"containers": [{"name": "c", "image": "i:1"}],
                                         "nodeSelector": NO_NODE}}}}
    created = await client.create("replicasets", rs, namespace)

    async def three() -> list[Obj]:
        found = await pods(client, namespace, "app=fe")
        return found if len(found) == 3 else []

    first = await eventually(three, what="3 pods")
    for pod in first:
        assert pod["metadata"]["name"].startswith("fe-")
        assert pod["metadata"]["labels"] == {"app": "fe", "tier": "x"}
        assert pod["metadata"]["ownerReferences"] == [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "fe",
            "uid": created["metadata"]["uid"], "controller": True,
            "blockOwnerDeletion": True}]
    await asyncio.sleep(0.5)
    assert len(await pods(client, namespace, "app=fe")) == 3  # no doubles

    victim = first[0]["metadata"]["name"]
    await client.delete("pods", victim, namespace)

    async def replaced() -> bool:
        names = {p["metadata"]["name"] for p in await pods(client, namespace, "app=fe")}
        return len(names) == 3 and victim not in names

    await eventually(replaced, what="a replacement pod")

    async def status_replicas() -> bool:
        st = (await client.get("replicasets", "fe", namespace)).get("status") or {}
        return st.get("replicas") == 3 and st.get("observedGeneration") == 1

    await eventually(status_replicas, what="status.replicas=3")

    # The least valuable pods go first: the unready ones.
    for pod in (await pods(client, namespace, "app=fe"))[:1]:
        await mark_ready(client, namespace, pod["metadata"]["name"])
    keep = (await pods(client, namespace, "app=fe"))[0]["metadata"]["name"]
    assert jota.ok("scale", "rs/fe", "--replicas=1", "-n", namespace) == \
        "replicaset.apps/fe scaled\n"

    async def one() -> list[Obj]:
        found = await pods(client, namespace, "app=fe")
        return found if len(found) == 1 else []

    assert (await eventually(one, what="1 pod"))[0]["metadata"]["name"] == keep

    async def ready_status() -> bool:
        st = (await client.get("replicasets", "fe", namespace)).get("status") or {}
        return st.get("readyReplicas") == 1 and st.get("availableReplicas") == 1

    await eventually(ready_status, what="readyReplicas=1")


async def test_replicaset_adopts_orphans(controller_manager: Daemon, client: Client,
                                         namespace: str) -> None:
    orphan = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "stray", "labels": {"app": "adopt"}},
              "spec": {"containers": [{"name": "c", "image": "i:1"}], "nodeSelector": NO_NODE}}
    await client.create("pods", orphan, namespace)
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "adopt"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "adopt"}},
                   "template": {"metadata": {"labels": {"app": "adopt"}},
                                "spec": {"containers": [{"name": "c", "image": "i:1"}],
                                         "nodeSelector": NO_NODE}}}}
    await client.create("replicasets", rs, namespace)

    async def two_owned() -> bool:
        found = await pods(client, namespace, "app=adopt")
        return len(found) == 2 and all(p["metadata"].get("ownerReferences") for p in found)

    await eventually(two_owned, what="the orphan adopted and one more created")
    stray = await client.get("pods", "stray", namespace)
    assert stray["metadata"]["ownerReferences"][0]["name"] == "adopt"


# ---- Deployment -----------------------------------------------------------------------------


async def test_deployment_makes_a_replicaset_per_template(
        controller_manager: Daemon, client: Client, namespace: str) -> None:
    d = await client.create("deployments", deployment(), namespace)
    template_hash = compute_hash(d["spec"]["template"])

    async def one_rs() -> list[Obj]:
        found = await replica_sets(client, namespace)
        return found if found and found[0]["spec"]["replicas"] == 3 else []

    (rs,) = await eventually(one_rs, what="a ReplicaSet of 3")
    assert rs["metadata"]["name"] == f"web-{template_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web",
                                                     "pod-template-hash": template_hash}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == template_hash
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "4"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]

    async def three_pods() -> list[Obj]:
        found = await pods(client, namespace, f"pod-template-hash={template_hash}")
        return found if len(found) == 3 else []

    for pod in await eventually(three_pods, what="3 pods"):
        assert pod["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]

    async def progressing() -> Obj | None:
        st = (await client.get("deployments", "web", namespace)).get("status") or {}
        conds = {c["type"]: c for c in st.get("conditions") or []}
        return conds if {"Available", "Progressing"} <= set(conds) and \
            st.get("updatedReplicas") == 3 else None

    conds = await eventually(progressing, what="status conditions")
    assert conds["Available"]["reason"] == "MinimumReplicasUnavailable"
    assert conds["Progressing"]["status"] == "True"
    assert conds["Progressing"]["reason"] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    live = await client.get("deployments", "web", namespace)
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


async def test_rolling_update_keeps_bounds_and_undo_returns(
        controller_manager: Daemon, client: Client, namespace: str, jota: CLI) -> None:
    await client.create("deployments", deployment(), namespace)
    kubelet = FakeKubelet(client, namespace)
    async with background(kubelet.run()):
        await eventually(lambda: rolled_out(client, namespace, "web", "busybox:1.36"),
                         what="v1 rolled out")
        assert jota.ok("rollout", "status", "deploy/web", "-n", namespace) == \
            'deployment "web" successfully rolled out\n'
        # 25% of 3: maxSurge rounds up to 1, maxUnavailable down to 0.
        watcher = BoundsWatcher(client, namespace, max_total=4, min_ready=3)
        started = asyncio.Event()
        async with background(watcher.run(started)):
            await started.wait()
            assert jota.ok("set", "image", "deploy/web", "web=busybox:1.37", "-n",
                           namespace) == "deployment.apps/web image updated\n"
            status = jota.popen("rollout", "status", "deployment/web", "-n", namespace)
            await eventually(lambda: rolled_out(client, namespace, "web", "busybox:1.37"),
                             what="v2 rolled out")
            out, err = status.communicate(timeout=TIMEOUT)
            assert status.returncode == 0, err
            lines = out.splitlines()
            assert lines[-1] == 'deployment "web" successfully rolled out'
            for line in lines[:-1]:
                assert line.startswith('Waiting for deployment "web" rollout to finish: ') \
                    or line == "Waiting for deployment spec update to be observed...", line
            assert any("new replicas have been updated" in line for line in lines), lines
            assert watcher.violations == []
            assert watcher.max_seen == 4  # it did surge

            history = jota.ok("rollout", "history", "deploy/web", "-n", namespace)
            assert history == ("deployment.apps/web \nREVISION  CHANGE-CAUSE\n"
                               "1         <none>\n2         <none>\n\n")
            assert jota.ok("rollout", "undo", "deploy/web", "-n", namespace) == \
                "deployment.apps/web rolled back\n"
            await eventually(lambda: rolled_out(client, namespace, "web", "busybox:1.36"),
                             what="v1 back")
            assert watcher.violations == []
        rss = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs
               for rs in await replica_sets(client, namespace)}
        assert sorted(rss) == ["2", "3"]
        assert rss["3"]["spec"]["template"]["spec"]["containers"][0]["image"] == \
            "busybox:1.36"
        assert rss["3"]["metadata"]["annotations"][
            "deployment.kubernetes.io/revision-history"] == "1"
        assert rss["2"]["spec"]["replicas"] == 0
        live = await client.get("deployments", "web", namespace)
        assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        conds = {c["type"]: c for c in live["status"]["conditions"]}
        assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
        assert conds["Available"]["status"] == "True"


async def test_recreate_and_history_limit(controller_manager: Daemon, client: Client,
                                          namespace: str, jota: CLI) -> None:
    d = deployment(replicas=2, strategy={"type": "Recreate"}, revisionHistoryLimit=1)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first"}
    await client.create("deployments", d, namespace)
    kubelet = FakeKubelet(client, namespace)
    async with background(kubelet.run()):
        await eventually(lambda: rolled_out(client, namespace, "web", "busybox:1.36"),
                         what="v1")
        for i, image in enumerate(("busybox:1.37", "busybox:1.38"), start=2):
            # As kubectl's docs advise: change, then annotate (the annotation is copied
            # to whichever ReplicaSet is new at the time).
            jota.ok("set", "image", "deploy/web", f"web={image}", "-n", namespace)
            jota.ok("annotate", "deploy/web", f"kubernetes.io/change-cause=image {i}",
                    "--overwrite", "-n", namespace)
            await eventually(functools.partial(rolled_out, client, namespace, "web", image),
                             what=image)

        async def two_left() -> bool:
            return len(await replica_sets(client, namespace)) == 2

        await eventually(two_left, what="history cleaned to 1 old ReplicaSet")
    assert jota.ok("rollout", "history", "deploy/web", "-n", namespace) == (
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n2         image 2\n3         image 3\n\n")


async def test_pause_resume_restart(controller_manager: Daemon, client: Client,
                                    namespace: str, jota: CLI) -> None:
    await client.create("deployments", deployment(replicas=1), namespace)
    await eventually(lambda: replica_sets(client, namespace), what="a ReplicaSet")
    assert jota.ok("rollout", "pause", "deploy/web", "-n", namespace) == \
        "deployment.apps/web paused\n"
    r = jota("rollout", "pause", "deploy/web", "-n", namespace)
    assert (r.code, r.err) == (1, 'error: deployments.apps "web" is already paused\n')

    async def paused_condition() -> bool:
        st = (await client.get("deployments", "web", namespace)).get("status") or {}
        return any(c["reason"] == "DeploymentPaused" and c["status"] == "Unknown"
                   for c in st.get("conditions") or [])

    await eventually(paused_condition, what="DeploymentPaused")
    jota.ok("set", "image", "deploy/web", "web=busybox:2", "-n", namespace)
    await asyncio.sleep(1.0)
    assert len(await replica_sets(client, namespace)) == 1  # paused: no rollout
    r = jota("rollout", "undo", "deploy/web", "-n", namespace)
    assert r.code == 1 and "you cannot rollback a paused deployment" in r.err
    assert jota.ok("rollout", "resume", "deploy/web", "-n", namespace) == \
        "deployment.apps/web resumed\n"

    async def two_sets() -> bool:
        return len(await replica_sets(client, namespace)) == 2

    await eventually(two_sets, what="the new ReplicaSet after resume")
    assert jota.ok("rollout", "restart", "deploy/web", "-n", namespace) == \
        "deployment.apps/web restarted\n"
    live = await client.get("deployments", "web", namespace)
    assert "kubectl.kubernetes.io/restartedAt" in \
        live["spec"]["template"]["metadata"]["annotations"]

    async def three_sets() -> bool:
        return len(await replica_sets(client, namespace)) == 3

    await eventually(three_sets, what="the restarted ReplicaSet")


async def test_progress_deadline_exceeded(controller_manager: Daemon, client: Client,
                                          namespace: str, jota: CLI) -> None:
    await client.create("deployments", deployment(replicas=1, progressDeadlineSeconds=2),
                        namespace)

    async def timed_out() -> bool:
        st = (await client.get("deployments", "web", namespace)).get("status") or {}
        return any(c["type"] == "Progressing" and c["status"] == "False" and
                   c["reason"] == "ProgressDeadlineExceeded" and
                   c["message"].startswith('ReplicaSet "web-') and
                   c["message"].endswith('" has timed out progressing.')
                   for c in st.get("conditions") or [])

    await eventually(timed_out, timeout=15, what="ProgressDeadlineExceeded")
    r = jota("rollout", "status", "deploy/web", "-n", namespace)
    assert (r.code, r.err) == (1, 'error: deployment "web" exceeded its progress deadline\n')


async def test_scale_deployment(controller_manager: Daemon, client: Client, namespace: str,
                                jota: CLI) -> None:
    await client.create("deployments", deployment(replicas=2), namespace)

    async def count(n: int) -> bool:
        return len(await pods(client, namespace, "app=web")) == n

    await eventually(lambda: count(2), what="2 pods")
    assert jota.ok("scale", "deploy/web", "--replicas=4", "-n", namespace) == \
        "deployment.apps/web scaled\n"
    await eventually(lambda: count(4), what="4 pods")
    jota.ok("scale", "deploy/web", "--replicas=1", "-n", namespace)
    await eventually(lambda: count(1), what="1 pod")
    (rs,) = await replica_sets(client, namespace)
    assert rs["spec"]["replicas"] == 1
