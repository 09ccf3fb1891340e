"""The PV binder's decisions, the local-path provisioner's PVs, the storage admission
plugins and the node's cleanup plan: pure functions, table tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane.apiserver import storageadmission
from controlplane.controllers import localpath, pvbinding
from controlplane.controllers.pvbinder import claim_in_use
from jota.api.meta import Obj
from node.agent import claims as node_claims
from node.agent import localpath as node_localpath
from node.agent.volumes import VolumeError, VolumeManager


def claim(name: str = "c", size: str = "1Gi", cls: str | None = "", *, uid: str = "u1",
          modes: tuple[str, ...] = ("ReadWriteOnce",), volume: str = "",
          selector: Obj | None = None, annotations: dict[str, str] | None = None,
          mode: str = "Filesystem") -> Obj:
    spec: dict[str, Any] = {"accessModes": list(modes), "volumeMode": mode,
                            "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    if volume:
        spec["volumeName"] = volume
    if selector:
        spec["selector"] = selector
    return {"kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "ns", "uid": uid,
                         "annotations": dict(annotations or {})},
            "spec": spec, "status": {"phase": "Pending"}}


def volume(name: str, size: str = "5Gi", cls: str = "", *, ref: Obj | None = None,
           modes: tuple[str, ...] = ("ReadWriteOnce",), node: str = "",
           labels: dict[str, str] | None = None, phase: str = "Available",
           policy: str = "Retain", annotations: dict[str, str] | None = None,
           mode: str = "Filesystem") -> Obj:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes),
                            "storageClassName": cls, "volumeMode": mode,
                            "persistentVolumeReclaimPolicy": policy,
                            "hostPath": {"path": f"/data/{name}"}}
    if ref is not None:
        spec["claimRef"] = ref
    if node:
        spec["nodeAffinity"] = localpath.node_affinity(node)
    return {"kind": "PersistentVolume",
            "metadata": {"name": name, "labels": dict(labels or {}),
                         "annotations": dict(annotations or {})},
            "spec": spec, "status": {"phase": phase}}


def sc(name: str, mode: str = "Immediate", provisioner: str = "example.com/csi",
       policy: str = "Delete") -> Obj:
    return {"kind": "StorageClass", "metadata": {"name": name}, "provisioner": provisioner,
            "volumeBindingMode": mode, "reclaimPolicy": policy}


REF = {"namespace": "ns", "name": "c", "uid": "u1"}


@pytest.mark.parametrize(("pvc", "volumes", "node", "want"), [
    (claim(), [volume("big", "10Gi"), volume("small", "2Gi"), volume("tiny", "500Mi")], "",
     "small"),
    (claim(cls="fast"), [volume("slow", cls="slow"), volume("fast", cls="fast")], "", "fast"),
    (claim(cls="fast"), [volume("none")], "", None),
    (claim(modes=("ReadWriteMany",)), [volume("rwo"), volume("rwx", modes=(
        "ReadWriteOnce", "ReadWriteMany"))], "", "rwx"),
    (claim(mode="Block"), [volume("fs"), volume("blk", mode="Block")], "", "blk"),
    (claim(selector={"matchLabels": {"tier": "db"}}),
     [volume("a"), volume("b", labels={"tier": "db"})], "", "b"),
    (claim(), [volume("taken", ref={"namespace": "ns", "name": "other", "uid": "u9"},
                      phase="Bound")], "", None),
    (claim(), [volume("released", ref={"namespace": "ns", "name": "c", "uid": "old"},
                      phase="Released")], "", None),
    (claim(), [volume("small", "2Gi"), volume("mine", "9Gi", ref={"namespace": "ns",
                                                                   "name": "c"})],
     "", "mine"),
    (claim(), [volume("on-a", "2Gi", node="a"), volume("on-b", "3Gi", node="b")], "b", "on-b"),
    (claim(), [volume("on-a", node="a")], "b", None),
    (claim(size="6Gi"), [volume("small")], "", None),
])
def test_find_matching_volume(pvc: Obj, volumes: list[Obj], node: str,
                              want: str | None) -> None:
    got = pvbinding.find_matching_volume(pvc, volumes, node)
    assert (got["metadata"]["name"] if got else None) == want


WFFC = "WaitForFirstConsumer"
SELECTED = {pvbinding.SELECTED_NODE: "node-1"}


@pytest.mark.parametrize(("pvc", "volumes", "cls", "action", "reason"), [
    (claim(cls="gold"), [], None, "wait", "ProvisioningFailed"),
    (claim(cls="late"), [volume("v", cls="late")], sc("late", WFFC), "wait",
     "WaitForFirstConsumer"),
    (claim(cls="late", annotations=SELECTED), [volume("v", cls="late")], sc("late", WFFC),
     "bind", None),
    (claim(cls="local-path", annotations=SELECTED), [], localpath.storage_class(),
     "provision", None),
    (claim(cls="csi"), [], sc("csi"), "wait", "ExternalProvisioning"),
    (claim(cls=""), [], None, "wait", "FailedBinding"),
    (claim(cls="now"), [volume("v", cls="now")], sc("now"), "bind", None),
    (claim(cls="local", annotations=SELECTED), [volume("v", cls="local", node="node-2")],
     sc("local", WFFC, pvbinding.NO_PROVISIONER), "wait", "FailedBinding"),
])
def test_plan_unbound_claim(pvc: Obj, volumes: list[Obj], cls: Obj | None, action: str,
                            reason: str | None) -> None:
    plan = pvbinding.plan_unbound_claim(pvc, volumes, cls)
    assert plan.action == action
    assert (plan.event.reason if plan.event else None) == reason


@pytest.mark.parametrize(("pvc", "pv", "phase", "reason"), [
    (claim(volume="v"), volume("v", ref=REF, phase="Bound"), "Bound", None),
    (claim(volume="v"), volume("v"), "Bound", None),  # pre-bound by volumeName
    (claim(volume="v", size="9Gi"), volume("v"), "Pending", "FailedBinding"),
    (claim(volume="v"), None, "Lost", "ClaimLost"),
    (claim(volume="v"), volume("v", ref={"namespace": "ns", "name": "x", "uid": "u9"}),
     "Pending", "FailedBinding"),
    (claim(volume="v", annotations={pvbinding.BIND_COMPLETED: "yes"}),
     volume("v", ref={"namespace": "ns", "name": "x", "uid": "u9"}), "Lost", "ClaimMisbound"),
])
def test_claim_phase(pvc: Obj, pv: Obj | None, phase: str, reason: str | None) -> None:
    got, event = pvbinding.claim_phase(pvc, pv)
    assert got == phase
    assert (event.reason if event else None) == reason


def test_bind_writes_claim_ref_and_annotations() -> None:
    pv = pvbinding.bind_volume(volume("v"), claim())
    assert pv["spec"]["claimRef"]["uid"] == "u1"
    assert pv["spec"]["claimRef"]["kind"] == "PersistentVolumeClaim"
    assert pv["metadata"]["annotations"] == {pvbinding.BOUND_BY_CONTROLLER: "yes"}
    pvc = pvbinding.bind_claim(claim(), pv)
    assert pvc["spec"]["volumeName"] == "v"
    assert pvc["metadata"]["annotations"] == {pvbinding.BOUND_BY_CONTROLLER: "yes",
                                              pvbinding.BIND_COMPLETED: "yes"}
    # A claim that named its volume was not bound by the controller.
    assert pvbinding.bind_claim(claim(volume="v"), pv)["metadata"]["annotations"] == {
        pvbinding.BIND_COMPLETED: "yes"}
    prebound = pvbinding.bind_volume(volume("v", ref={"namespace": "ns", "name": "c"}), claim())
    assert prebound["metadata"]["annotations"] == {}
    assert prebound["spec"]["claimRef"]["uid"] == "u1"
    status = pvbinding.bound_claim_status(pvc, pv, "Bound")
    assert status == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                      "capacity": {"storage": "5Gi"}}


LOCAL = {localpath.PROVISIONED_BY: localpath.PROVISIONER}


@pytest.mark.parametrize(("pv", "pvc", "phase", "action"), [
    (volume("v"), None, "Available", ""),
    (volume("v", ref={"namespace": "ns", "name": "c"}), None, "Available", ""),
    (volume("v", ref=REF), claim(volume="v"), "Bound", ""),
    (volume("v", ref=REF), claim(), "Bound", ""),  # the claim's sync finishes it
    (volume("v", ref=REF), None, "Released", ""),
    (volume("v", ref=REF), claim(uid="u2"), "Released", ""),  # same name, new claim
    (volume("v", ref=REF, policy="Delete", annotations=LOCAL), None, "Released", "delete"),
    (volume("v", ref=REF, policy="Delete"), None, "Failed", "fail"),
    (volume("v", ref=REF, policy="Recycle"), None, "Failed", "fail"),
    (volume("v", ref=REF, annotations={pvbinding.BOUND_BY_CONTROLLER: "yes"}),
     claim(volume="other"), "Available", "unbind"),
])
def test_plan_volume(pv: Obj, pvc: Obj | None, phase: str, action: str) -> None:
    plan = pvbinding.plan_volume(pv, pvc)
    assert (plan.phase, plan.action) == (phase, action)


def test_local_path_provisions_a_host_path_on_the_selected_node() -> None:
    node = {"metadata": {"name": "node-1",
                         "annotations": {localpath.BASE_DIR_ANNOTATION: "/srv/lp"}}}
    pvc = claim(cls="local-path", annotations=SELECTED)
    pv = localpath.provision(pvc, localpath.storage_class(), "node-1", node)
    assert pv["metadata"]["name"] == "pvc-u1"
    assert pv["metadata"]["annotations"] == LOCAL
    assert pv["metadata"]["finalizers"] == [localpath.FINALIZER]
    spec = pv["spec"]
    assert spec["hostPath"] == {"path": "/srv/lp/pvc-u1_ns_c", "type": "DirectoryOrCreate"}
    assert spec["capacity"] == {"storage": "1Gi"}
    assert spec["persistentVolumeReclaimPolicy"] == "Delete"
    assert spec["storageClassName"] == "local-path"
    assert spec["claimRef"]["uid"] == "u1"
    host = "kubernetes.io/hostname"
    assert pvbinding.fits_node(pv, "node-1", {host: "node-1"})
    assert not pvbinding.fits_node(pv, "node-2", {host: "node-2"})
    assert pvbinding.find_matching_volume(pvc, [pv], "node-1") is pv
    # Retain class: no finalizer, the data stays; no annotation: the default directory.
    retain = localpath.provision(pvc, {**localpath.storage_class(), "reclaimPolicy": "Retain"},
                                 "node-1", None)
    assert "finalizers" not in retain["metadata"]
    assert retain["spec"]["hostPath"]["path"].startswith(localpath.DEFAULT_BASE_DIR + "/")


@pytest.mark.parametrize(("pvc", "node", "message"), [
    (claim(modes=("ReadWriteMany",)), "n", "NodePath only supports ReadWriteOnce"),
    (claim(mode="Block"), "n", "only supports Filesystem"),
    (claim(selector={"matchLabels": {"a": "b"}}), "n", "Selector is not supported"),
    (claim(), "", "no node was specified"),
])
def test_local_path_refuses(pvc: Obj, node: str, message: str) -> None:
    with pytest.raises(localpath.ProvisioningError, match=message):
        localpath.provision(pvc, localpath.storage_class(), node, None)


def _class(name: str, default: bool, created: str) -> Obj:
    ann = {storageadmission.DEFAULT_CLASS: "true"} if default else {}
    return {"metadata": {"name": name, "annotations": ann, "creationTimestamp": created}}


@pytest.mark.parametrize(("spec", "classes", "want"), [
    ({}, [_class("local-path", True, "2026-01-01T00:00:00Z")], "local-path"),
    ({}, [_class("a", False, "2026-01-01T00:00:00Z")], None),
    ({}, [_class("old", True, "2026-01-01T00:00:00Z"),
          _class("new", True, "2026-02-01T00:00:00Z")], "new"),
    ({"storageClassName": ""}, [_class("local-path", True, "2026-01-01T00:00:00Z")], ""),
    ({"storageClassName": "gold"}, [_class("local-path", True, "2026-01-01T00:00:00Z")],
     "gold"),
])
def test_default_storage_class(spec: Obj, classes: list[Obj], want: str | None) -> None:
    pvc: Obj = {"metadata": {"name": "c"}, "spec": dict(spec)}
    storageadmission.admit_claim(pvc, classes)
    assert pvc["spec"].get("storageClassName") == want
    assert pvc["metadata"]["finalizers"] == [storageadmission.PVC_PROTECTION]


def test_claim_in_use_until_its_pods_finish() -> None:
    def pod(phase: str, claim_name: str = "c", ns: str = "ns") -> Obj:
        return {"metadata": {"name": "p", "namespace": ns},
                "spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {
                    "claimName": claim_name}}]}, "status": {"phase": phase}}
    assert claim_in_use(claim(), [pod("Running")])
    assert claim_in_use(claim(), [pod("Pending")])
    assert not claim_in_use(claim(), [pod("Succeeded"), pod("Failed")])
    assert not claim_in_use(claim(), [pod("Running", "other"), pod("Running", ns="x")])


def _deleted(pv: Obj) -> Obj:
    pv["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pv["metadata"]["finalizers"] = [localpath.FINALIZER]
    return pv


@pytest.mark.parametrize(("pv", "want"), [
    (_deleted(volume("v", node="node-1", policy="Delete", annotations=LOCAL)),
     node_localpath.Cleanup("/base/v", True)),
    (_deleted(volume("v", node="node-1", policy="Retain", annotations=LOCAL)),
     node_localpath.Cleanup("", True)),
    (_deleted(volume("v", node="node-2", policy="Delete", annotations=LOCAL)),
     node_localpath.NOTHING),
    (_deleted(volume("v", node="node-1", policy="Delete")), node_localpath.NOTHING),
    (volume("v", node="node-1", policy="Delete", annotations=LOCAL), node_localpath.NOTHING),
])
def test_node_cleanup_plan(pv: Obj, want: node_localpath.Cleanup) -> None:
    pv["spec"]["hostPath"]["path"] = f"/base/{pv['metadata']['name']}"
    assert node_localpath.plan_cleanup(pv, "node-1", Path("/base")) == want


def test_node_cleanup_never_leaves_its_base() -> None:
    pv = _deleted(volume("v", node="node-1", policy="Delete", annotations=LOCAL))
    for path in ("/etc", "/base", "/base/../etc"):
        pv["spec"]["hostPath"]["path"] = path
        assert node_localpath.plan_cleanup(pv, "node-1", Path("/base")) == \
            node_localpath.Cleanup("", True)


@pytest.mark.parametrize(("pvc", "why"), [
    ({**claim(volume="v"), "status": {"phase": "Bound"}}, ""),
    (claim(), "PVC is not bound"),
    ({**claim(volume="v"), "status": {"phase": "Bound"},
      "metadata": {"name": "c", "namespace": "ns", "deletionTimestamp": "x"}},
     "can't start pod because PVC ns/c is being deleted"),
])
def test_node_claim_problem(pvc: Obj, why: str) -> None:
    assert node_claims.claim_problem(pvc) == why


def test_failed_mount_event_reads_as_kubelet() -> None:
    e = node_claims.failed_mount("data", "ns", "c", "PVC is not bound")
    assert e.event == ("Unable to attach or mount volumes: unmounted volumes=[data], "
                       "unattached volumes=[], failed to process volumes=[data]: "
                       "error processing PVC ns/c: PVC is not bound")
    assert e.reason == "ContainerCreating"


async def test_a_directory_the_node_cannot_make_is_a_failed_mount(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    pod = {"metadata": {"uid": "u", "name": "p", "namespace": "ns"},
           "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}]}}
    pv = volume("v")
    pv["spec"]["hostPath"] = {"path": str(blocker / "sub"), "type": "DirectoryOrCreate"}
    with pytest.raises(VolumeError) as e:
        await VolumeManager(tmp_path).setup(pod, {}, {}, {"c": pv})
    assert e.value.event.startswith('MountVolume.SetUp failed for volume "data" : ')
