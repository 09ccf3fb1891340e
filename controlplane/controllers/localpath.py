"""The local-path provisioner's decisions: k3s's local-path-provisioner, built in.

The controller-manager makes the StorageClass `local-path` when it is missing
(default class, WaitForFirstConsumer, reclaimPolicy Delete), so PVCs from the
docs and StatefulSet volumeClaimTemplates bind without an administrator. For a
claim of that class the scheduler names a node (`volume.kubernetes.io/selected-node`);
`provision` then returns the PV: a hostPath directory
`<base>/<pv>_<namespace>_<claim>` on that node (k3s's naming), pinned to the node
by a required nodeAffinity on `kubernetes.io/hostname`, already pre-bound to the
claim by its claimRef.

The base directory is the node's: its agent publishes it in the Node annotation
`local-path.jota.io/base-dir` (`<--root-dir>/local-path`), the role of k3s's
`nodePathMap`; a node without it gets DEFAULT_BASE_DIR. The agent creates the
directory when it first mounts it, and removes it when a Delete-policy PV it
provisioned is deleted: such PVs carry the external-provisioner finalizer, which
the node's agent drops once the directory is gone (node/agent/localpath.py).
"""

from __future__ import annotations

from jota.api.localpath import BASE_DIR_ANNOTATION as BASE_DIR_ANNOTATION
from jota.api.localpath import FINALIZER as FINALIZER
from jota.api.localpath import PROVISIONED_BY as PROVISIONED_BY
from jota.api.localpath import PROVISIONER as PROVISIONER
from jota.api.meta import Obj, annotations_of, name_of, namespace_of

CLASS_NAME = "local-path"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
DEFAULT_BASE_DIR = "/var/lib/jota-node/local-path"  # the agent's default --root-dir's
SUPPORTED_MODES = ("ReadWriteOnce", "ReadWriteOncePod")


class ProvisioningError(Exception):
    """The claim cannot be provisioned as asked; the text is the event's."""


def storage_class() -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": CLASS_NAME,
                         "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer"}


def is_local_path(pv: Obj) -> bool:
    return annotations_of(pv).get(PROVISIONED_BY) == PROVISIONER


def base_dir(node: Obj | None) -> str:
    return annotations_of(node or {}).get(BASE_DIR_ANNOTATION) or DEFAULT_BASE_DIR


def volume_name(claim: Obj) -> str:
    """pvc-<claim uid>, as every external provisioner names its volumes."""
    return f"pvc-{(claim.get('metadata') or {}).get('uid', '')}"


def node_affinity(node: str) -> Obj:
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}


def claim_ref(claim: Obj) -> Obj:
    md = claim.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "namespace": namespace_of(claim), "name": name_of(claim),
            "uid": md.get("uid", ""), "resourceVersion": md.get("resourceVersion", "")}


def provision(claim: Obj, cls: Obj, node_name: str, node: Obj | None) -> Obj:
    """The PV for `claim` on `node_name`, or ProvisioningError (k3s's messages)."""
    spec = claim.get("spec") or {}
    if not node_name:
        raise ProvisioningError("configuration error, no node was specified")
    if (spec.get("volumeMode") or "Filesystem") != "Filesystem":
        raise ProvisioningError("local-path only supports Filesystem volume mode")
    if spec.get("selector"):
        raise ProvisioningError("claim.Spec.Selector is not supported")
    modes = list(spec.get("accessModes") or [])
    if any(m not in SUPPORTED_MODES for m in modes):
        raise ProvisioningError("NodePath only supports ReadWriteOnce and ReadWriteOncePod "
                                "(1.22+) access modes")
    name = volume_name(claim)
    path = f"{base_dir(node).rstrip('/')}/{name}_{namespace_of(claim)}_{name_of(claim)}"
    policy = cls.get("reclaimPolicy") or "Delete"
    md: Obj = {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER}}
    if policy == "Delete":
        md["finalizers"] = [FINALIZER]
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": md,
            "spec": {"capacity": {"storage": storage}, "accessModes": modes,
                     "persistentVolumeReclaimPolicy": policy,
                     "storageClassName": name_of(cls), "volumeMode": "Filesystem",
                     "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                     "nodeAffinity": node_affinity(node_name),
                     "claimRef": claim_ref(claim)}}
