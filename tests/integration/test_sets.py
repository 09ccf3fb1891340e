"""DaemonSets and StatefulSets against a real apiserver and controller-manager.

No node agent runs here: the DaemonSet test makes its own Node objects (labelled
`jota.io/test-ds=<namespace>`, which its nodeSelector picks, so other tests' nodes
do not count) and the tests play the kubelet, marking pods Running and Ready.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from controlplane.controllers.daemonset import HASH_LABEL, target_node
from jota.api.meta import Obj
from jota.client.client import Client
from jota.local.processes import Daemon
from tests.integration.test_workloads import (
    NO_NODE,
    FakeKubelet,
    background,
    eventually,
    image_of,
    mark_ready,
    pods,
)

DS_LABEL = "jota.io/test-ds"
TAINT = {"key": "jota.io/test-dedicated", "value": "x", "effect": "NoSchedule"}
# The node lifecycle controller taints these agent-less nodes unreachable: tolerate it.
LIFECYCLE = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"},
             {"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]


def daemon_set(ns: str, image: str = "busybox:1.36",
               tolerations: list[Obj] | None = None) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "agent", "image": image}],
                                           "nodeSelector": {DS_LABEL: ns},
                                           "tolerations": LIFECYCLE + (tolerations or [])}}}}


async def node_names(client: Client, ns: str) -> list[str]:
    return sorted(target_node(p) for p in await pods(client, ns, "app=agent")
                  if not p["metadata"].get("deletionTimestamp"))


async def test_daemonset_runs_one_pod_per_matching_node(
        controller_manager: Daemon, client: Client, namespace: str) -> None:
    ns = namespace
    names = [f"{ns}-n{i}" for i in range(3)]
    try:
        for i, name in enumerate(names):
            await client.create("nodes", {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {DS_LABEL: ns, "index": str(i)}},
                "spec": {"taints": [TAINT]} if i == 2 else {}})
        await client.create("daemonsets", daemon_set(ns), ns)
        want = sorted(names[:2])
        await eventually(lambda: _equals(node_names(client, ns), want),
                         what="a pod on each untainted node")
        ds = await eventually(lambda: _status(client, "daemonsets", "agent", ns,
                                              desiredNumberScheduled=2,
                                              currentNumberScheduled=2),
                              what="DaemonSet status")
        assert ds["status"]["numberMisscheduled"] == 0
        # Tolerating the taint brings the third node in.
        ds = await client.get("daemonsets", "agent", ns)
        ds["spec"]["template"]["spec"]["tolerations"].append(
            {"key": TAINT["key"], "operator": "Exists", "effect": "NoSchedule"})
        await client.update("daemonsets", ds, ns)
        async with background(FakeKubelet(client, ns).run()):
            await eventually(lambda: _equals(node_names(client, ns), sorted(names)),
                             what="a pod on every node")
            await eventually(lambda: _status(client, "daemonsets", "agent", ns,
                                             desiredNumberScheduled=3, numberReady=3,
                                             updatedNumberScheduled=3),
                             what="all three ready and updated")
            # A rolling update replaces every pod, node by node.
            ds = await client.get("daemonsets", "agent", ns)
            ds["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.37"
            await client.update("daemonsets", ds, ns)

            async def rolled() -> bool:
                current = [p for p in await pods(client, ns, "app=agent")
                           if not p["metadata"].get("deletionTimestamp")]
                return len(current) == 3 and all(
                    image_of(p) == "busybox:1.37" for p in current) and sorted(
                    target_node(p) for p in current) == sorted(names)

            await eventually(rolled, what="every pod on the new image")
            ds = await eventually(lambda: _status(client, "daemonsets", "agent", ns,
                                                  updatedNumberScheduled=3, numberReady=3),
                                  what="status after the update")
        hashes = {p["metadata"]["labels"][HASH_LABEL]
                  for p in await pods(client, ns, "app=agent")}
        assert len(hashes) == 1
    finally:
        for name in names:
            with contextlib.suppress(Exception):
                await client.delete("nodes", name)


async def _equals(got: Any, want: Any) -> bool:
    return bool(await got == want)


async def _status(client: Client, resource: str, name: str, ns: str, **want: int
                  ) -> Obj | None:
    obj = await client.get(resource, name, ns)
    st = obj.get("status") or {}
    return obj if all(st.get(k, 0) == v for k, v in want.items()) else None


def stateful_set(replicas: int = 3) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "serviceName": "nginx",
                     "selector": {"matchLabels": {"app": "nginx"}},
                     "template": {"metadata": {"labels": {"app": "nginx"}},
                                  "spec": {"containers": [{"name": "nginx",
                                                           "image": "nginx:1.27"}],
                                           "nodeSelector": NO_NODE}},
                     "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
                         "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}]}}


async def pod_names(client: Client, ns: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in await pods(client, ns, "app=nginx")
                  if not p["metadata"].get("deletionTimestamp"))


async def test_statefulset_orders_pods_and_keeps_claims(
        controller_manager: Daemon, client: Client, namespace: str) -> None:
    ns = namespace
    await client.create("services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx"},
        "spec": {"clusterIP": "None", "selector": {"app": "nginx"},
                 "ports": [{"port": 80, "name": "web"}]}}, ns)
    await client.create("statefulsets", stateful_set(), ns)
    for i in range(3):
        want = [f"web-{j}" for j in range(i + 1)]
        await eventually(lambda w=want: _equals(pod_names(client, ns), w),  # type: ignore[misc]
                         what=f"pods {want}")
        await asyncio.sleep(0.5)  # web-(i+1) must wait for web-i to be ready
        assert await pod_names(client, ns) == want
        await mark_ready(client, ns, f"web-{i}")
    pod = await client.get("pods", "web-1", ns)
    assert pod["spec"]["hostname"] == "web-1"
    assert pod["spec"]["subdomain"] == "nginx"
    assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}} in \
        pod["spec"]["volumes"]
    claims = sorted(c["metadata"]["name"] for c in
                    (await client.list("persistentvolumeclaims", ns))["items"])
    assert claims == ["www-web-0", "www-web-1", "www-web-2"]
    await eventually(lambda: _status(client, "statefulsets", "web", ns, replicas=3,
                                     readyReplicas=3, updatedReplicas=3),
                     what="StatefulSet status")

    # A rolling update with partition 1 replaces web-2 then web-1, and leaves web-0.
    sts = await client.get("statefulsets", "web", ns)
    old_revision = sts["status"]["updateRevision"]
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    sts["spec"]["updateStrategy"] = {"type": "RollingUpdate",
                                     "rollingUpdate": {"partition": 1}}
    await client.update("statefulsets", sts, ns)
    async with background(FakeKubelet(client, ns).run()):
        sts = await eventually(lambda: _status(client, "statefulsets", "web", ns,
                                               replicas=3, readyReplicas=3,
                                               updatedReplicas=2, currentReplicas=1),
                               what="partitioned rollout")
    assert sts["status"]["currentRevision"] == old_revision != sts["status"]["updateRevision"]
    images = {p["metadata"]["name"]: image_of(p) for p in await pods(client, ns, "app=nginx")}
    assert images == {"web-0": "nginx:1.27", "web-1": "nginx:1.28", "web-2": "nginx:1.28"}

    # Scale down: web-2 goes first, then web-1; the claims stay.
    listing = await client.list("pods", ns)
    deleted: list[str] = []

    async def watch() -> None:
        async for kind, obj in client.watch("pods", ns, resource_version=listing[
                "metadata"]["resourceVersion"], allow_bookmarks=False):
            if kind == "DELETED" or (kind == "MODIFIED" and
                                     obj["metadata"].get("deletionTimestamp")):
                name = obj["metadata"]["name"]
                if name not in deleted:
                    deleted.append(name)

    async with background(watch()):
        await client.patch("statefulsets", "web", {"spec": {"replicas": 1}}, ns,
                           patch_type="merge")
        await eventually(lambda: _equals(pod_names(client, ns), ["web-0"]),
                         what="only web-0 left")
        await eventually(lambda: _length(deleted, 2), what="two deletions seen")
    assert deleted == ["web-2", "web-1"]
    claims = sorted(c["metadata"]["name"] for c in
                    (await client.list("persistentvolumeclaims", ns))["items"])
    assert claims == ["www-web-0", "www-web-1", "www-web-2"]
    await eventually(lambda: _status(client, "statefulsets", "web", ns, replicas=1,
                                     readyReplicas=1), what="status after scale-down")


async def _length(items: list[str], n: int) -> bool:
    return len(items) >= n
