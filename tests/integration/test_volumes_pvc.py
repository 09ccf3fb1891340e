"""PersistentVolumeClaims end to end: the apiserver's default class, the scheduler's
selected node, the controller-manager's binder and local-path provisioner, and the
node agent mounting the PV in real Docker containers.

A scheduler of this module's own (profile `pvc-test-scheduler`) places only this
module's pods, on node-1, so the shared cluster's other pods are never touched.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon, start_scheduler
from tests.integration.conftest import CLI, NODE
from tests.integration.node_helpers import (
    container,
    container_status,
    events_for,
    eventually,
    get,
    gone,
    wait_phase,
    wait_running,
)

SCHEDULER = "pvc-test-scheduler"
CONFIG = f"""\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: {SCHEDULER}
"""
BASE_DIR_ANNOTATION = "local-path.jota.io/base-dir"
TIMEOUT = 120


@pytest.fixture(scope="module")
def scheduler(apiserver: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = tmp_path_factory.mktemp("pvc-scheduler")
    config = root / "scheduler.yaml"
    config.write_text(CONFIG)
    sched = start_scheduler(apiserver.address, root, config=config,
                            extra_args=["--v", "debug"])
    yield
    sched.stop()
    log = sched.log.read_text()
    assert "Traceback" not in log, f"the scheduler logged a traceback:\n{log[-4000:]}"


@pytest.fixture
def cluster(controller_manager: Daemon, node_agent: Daemon, scheduler: None) -> None:
    """The whole stack: controller-manager, node-1's agent and this module's scheduler."""


def claim(name: str, size: str = "64Mi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": size}}, **spec}}


def claim_pod(name: str, claim_name: str, script: str, *, read_only: bool = False,
              scheduled: bool = True) -> dict[str, Any]:
    """A pod on node-1 running `script` once with the claim at /data."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
        "containers": [container("main", "sh", "-c", script, volumeMounts=[
            {"name": "data", "mountPath": "/data"}])],
        "volumes": [{"name": "data", "persistentVolumeClaim": {
            "claimName": claim_name, **({"readOnly": True} if read_only else {})}}]}
    if scheduled:
        spec.update(schedulerName=SCHEDULER, nodeSelector={"kubernetes.io/hostname": NODE})
    else:
        spec["nodeName"] = NODE
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def bound(client: Client, name: str, ns: str) -> dict[str, Any] | None:
    pvc = await get(client, "persistentvolumeclaims", name, ns)
    if pvc and (pvc.get("status") or {}).get("phase") == "Bound":
        return dict(pvc)
    return None


async def delete_pod(client: Client, name: str, ns: str) -> None:
    await client.delete("pods", name, ns)
    await eventually(lambda: gone(client, name, ns), timeout=TIMEOUT, what=f"pod {name} gone")


async def base_dir(client: Client) -> Path:
    node = await eventually(lambda: _annotated_node(client), timeout=TIMEOUT,
                            what="node-1 publishes its local-path directory")
    return Path(node["metadata"]["annotations"][BASE_DIR_ANNOTATION])


async def _annotated_node(client: Client) -> dict[str, Any] | None:
    node = await client.get("nodes", NODE)
    return node if BASE_DIR_ANNOTATION in (node["metadata"].get("annotations") or {}) \
        else None


def host_path(pv: dict[str, Any]) -> Path:
    return Path(pv["spec"]["hostPath"]["path"])


async def test_default_class_claim_binds_on_the_node_keeps_data_and_is_deleted(
        client: Client, namespace: str, cluster: None, jota: CLI) -> None:
    ns = namespace
    sc = await eventually(lambda: get(client, "storageclasses", "local-path"),
                          timeout=TIMEOUT, what="the default StorageClass")
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == \
        "true"
    assert (sc["volumeBindingMode"], sc["reclaimPolicy"]) == ("WaitForFirstConsumer", "Delete")
    created = await client.create("persistentvolumeclaims", claim("data"), ns)
    assert created["spec"]["storageClassName"] == "local-path"
    assert "kubernetes.io/pvc-protection" in created["metadata"]["finalizers"]
    await eventually(lambda: _has_event(client, "data", ns, "WaitForFirstConsumer"),
                     timeout=TIMEOUT, what="the claim waits for its first consumer")
    await eventually(lambda: _claim_phase(client, "data", ns, "Pending"), timeout=TIMEOUT,
                     what="the claim Pending")

    await client.create("pods", claim_pod("writer", "data", "echo hello-jota > /data/f"), ns)
    await wait_phase(client, "writer", ns, "Succeeded", timeout=TIMEOUT)
    pvc = await eventually(lambda: bound(client, "data", ns), timeout=TIMEOUT,
                           what="claim Bound")
    assert pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == NODE
    assert pvc["status"]["capacity"] == {"storage": "64Mi"}
    pv = await client.get("persistentvolumes", pvc["spec"]["volumeName"])
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["name"] == "data"
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0][
        "matchExpressions"][0]["values"] == [NODE]
    path = host_path(pv)
    assert path.parent == await base_dir(client)
    assert (path / "f").read_text() == "hello-jota\n"
    # kubectl's columns.
    pv_name = pv["metadata"]["name"]
    out = jota.ok("get", "pvc", "-n", ns).splitlines()
    assert out[0].split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES",
                              "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert out[1].split()[:7] == ["data", "Bound", pv_name, "64Mi", "RWO", "local-path",
                                  "<unset>"]
    row = jota.ok("get", "pv", pv_name).splitlines()[1].split()
    assert row[:8] == [pv_name, "64Mi", "RWO", "Delete", "Bound", f"{ns}/data", "local-path",
                       "<unset>"]
    row = jota.ok("get", "storageclass", "local-path").splitlines()[1].split()
    assert row[:6] == ["local-path", "(default)", "jota.io/local-path", "Delete",
                       "WaitForFirstConsumer", "false"]

    # A new pod reads the data back, read-only.
    await delete_pod(client, "writer", ns)
    await client.create("pods", claim_pod(
        "reader", "data", 'test "$(cat /data/f)" = hello-jota && ! touch /data/g',
        read_only=True), ns)
    await wait_phase(client, "reader", ns, "Succeeded", timeout=TIMEOUT)
    assert not (path / "g").exists()

    # Deleting the claim (its pod finished) deletes the PV and the directory.
    await client.delete("persistentvolumeclaims", "data", ns)
    await eventually(lambda: _missing(client, "persistentvolumeclaims", "data", ns),
                     timeout=TIMEOUT, what="claim gone")
    await eventually(lambda: _missing(client, "persistentvolumes", pv["metadata"]["name"]),
                     timeout=TIMEOUT, what="PV gone")
    assert not path.exists()


async def test_retain_policy_leaves_the_volume_released(client: Client, namespace: str,
                                                        cluster: None) -> None:
    ns = namespace
    cls = f"keep-{uuid.uuid4().hex[:6]}"
    await client.create("storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": cls},
        "provisioner": "jota.io/local-path", "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer"})
    path: Path | None = None
    try:
        await client.create("persistentvolumeclaims", claim("keep", storageClassName=cls), ns)
        await client.create("pods", claim_pod("w", "keep", "echo kept > /data/f"), ns)
        await wait_phase(client, "w", ns, "Succeeded", timeout=TIMEOUT)
        pvc = await eventually(lambda: bound(client, "keep", ns), timeout=TIMEOUT,
                               what="claim Bound")
        name = pvc["spec"]["volumeName"]
        await delete_pod(client, "w", ns)
        await client.delete("persistentvolumeclaims", "keep", ns)
        pv = await eventually(lambda: _phase(client, name, "Released"), timeout=TIMEOUT,
                              what="PV Released")
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        path = host_path(pv)
        assert (path / "f").read_text() == "kept\n"
        # Deleting a retained PV keeps its data, as with k3s.
        await client.delete("persistentvolumes", name)
        await eventually(lambda: _missing(client, "persistentvolumes", name),
                         timeout=TIMEOUT, what="PV deleted")
        assert (path / "f").read_text() == "kept\n"
    finally:
        await client.delete("storageclasses", cls)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)


async def test_pod_waits_for_its_claim_to_bind(client: Client, namespace: str,
                                               cluster: None, tmp_path: Path) -> None:
    ns = namespace
    # No class at all: binding is Immediate, and no volume fits yet.
    await client.create("persistentvolumeclaims", claim("static", storageClassName=""), ns)
    await client.create("pods", claim_pod("sched", "static", "true"), ns)
    message = await eventually(lambda: _event_message(client, "sched", ns, "FailedScheduling"),
                               timeout=TIMEOUT, what="FailedScheduling")
    assert "pod has unbound immediate PersistentVolumeClaims" in message
    # A pod placed by hand waits in ContainerCreating, as kubelet, and starts once bound.
    await client.create("pods", claim_pod("direct", "static", "echo static > /data/f",
                                          scheduled=False), ns)
    mount = await eventually(lambda: _event_message(client, "direct", ns, "FailedMount"),
                             timeout=TIMEOUT, what="FailedMount")
    assert f"error processing PVC {ns}/static: PVC is not bound" in mount
    waiting = await eventually(lambda: container_status(client, "direct", ns),
                               timeout=TIMEOUT, what="a container status")
    assert waiting["state"]["waiting"]["reason"] == "ContainerCreating"
    pv_name = f"static-{uuid.uuid4().hex[:6]}"
    await client.create("persistentvolumes", {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": "", "hostPath": {"path": str(tmp_path / "pv"),
                                                      "type": "DirectoryOrCreate"}}})
    try:
        pvc = await eventually(lambda: bound(client, "static", ns), timeout=TIMEOUT,
                               what="claim bound to the static PV")
        assert pvc["spec"]["volumeName"] == pv_name
        assert pvc["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
        await wait_phase(client, "direct", ns, "Succeeded", timeout=TIMEOUT)
        assert (tmp_path / "pv" / "f").read_text() == "static\n"
        # The scheduler tries the waiting pod again once its claim is bound.
        await wait_phase(client, "sched", ns, "Succeeded", timeout=TIMEOUT)
        assert (await client.get("pods", "sched", ns))["spec"]["nodeName"] == NODE
    finally:
        for pod in ("sched", "direct"):
            await client.delete("pods", pod, ns)
        await client.delete("persistentvolumeclaims", "static", ns)
        await eventually(lambda: _phase(client, pv_name, "Released"), timeout=TIMEOUT,
                         what="static PV Released (Retain, the default)")
        await client.delete("persistentvolumes", pv_name)


async def test_statefulset_claims_bind_and_outlive_scale_down(client: Client, namespace: str,
                                                              cluster: None) -> None:
    ns = namespace
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
           "spec": {"replicas": 2, "serviceName": "web", "selector": {"matchLabels": {
               "app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                   "schedulerName": SCHEDULER, "terminationGracePeriodSeconds": 1,
                   "nodeSelector": {"kubernetes.io/hostname": NODE},
                   "containers": [container("main", "sh", "-c",
                                            "hostname > /www/host && sleep 3600",
                                            volumeMounts=[{"name": "www",
                                                           "mountPath": "/www"}])]}},
               "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
                   "accessModes": ["ReadWriteOnce"],
                   "resources": {"requests": {"storage": "32Mi"}}}}]}}
    await client.create("statefulsets", sts, ns)
    for i in range(2):
        await wait_running(client, f"web-{i}", ns, timeout=TIMEOUT)
    paths = {}
    for i in range(2):
        pvc = await eventually(lambda i=i: bound(client, f"www-web-{i}", ns),  # type: ignore[misc]
                               timeout=TIMEOUT, what=f"www-web-{i} Bound")
        assert pvc["spec"]["storageClassName"] == "local-path"
        pv = await client.get("persistentvolumes", pvc["spec"]["volumeName"])
        paths[i] = host_path(pv)
        await eventually(lambda p=paths[i]: _file(p / "host"), timeout=TIMEOUT,  # type: ignore[misc]
                         what="the pod wrote its claim")
        assert (paths[i] / "host").read_text() == f"web-{i}\n"

    await client.patch("statefulsets", "web", {"spec": {"replicas": 0}}, ns,
                       patch_type="merge")
    for i in range(2):
        await eventually(lambda i=i: gone(client, f"web-{i}", ns),  # type: ignore[misc]
                         timeout=TIMEOUT, what=f"web-{i} gone")
    for i in range(2):
        assert await bound(client, f"www-web-{i}", ns) is not None
        assert (paths[i] / "host").read_text() == f"web-{i}\n"

    await client.delete("statefulsets", "web", ns)
    for i in range(2):
        await client.delete("persistentvolumeclaims", f"www-web-{i}", ns)
    for i in range(2):
        await eventually(lambda p=paths[i]: _not_exists(p), timeout=TIMEOUT,  # type: ignore[misc]
                         what="the claims' directories removed")


async def _has_event(client: Client, name: str, ns: str, reason: str) -> bool:
    return any(e.get("reason") == reason for e in await events_for(client, name, ns))


async def _event_message(client: Client, name: str, ns: str, reason: str) -> str:
    for e in await events_for(client, name, ns):
        if e.get("reason") == reason:
            return str(e.get("message", ""))
    return ""


async def _missing(client: Client, resource: str, name: str, ns: str = "") -> bool:
    try:
        await client.get(resource, name, ns)
    except errors.NotFound:
        return True
    return False


async def _phase(client: Client, name: str, phase: str) -> dict[str, Any] | None:
    pv = await get(client, "persistentvolumes", name)
    return dict(pv) if pv and (pv.get("status") or {}).get("phase") == phase else None


async def _file(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


async def _not_exists(path: Path) -> bool:
    return not path.exists()


async def _claim_phase(client: Client, name: str, ns: str, phase: str) -> bool:
    pvc = await client.get("persistentvolumeclaims", name, ns)
    return bool((pvc.get("status") or {}).get("phase") == phase)
