"""Pure decisions of the PersistentVolume binder (Kubernetes' pv_controller).

Which volume a claim gets (`find_matching_volume`: the smallest Available PV that
satisfies class, size, access modes, volume mode and selector; a PV pre-bound to
the claim by claimRef first), what an unbound claim waits for (`plan_unbound_claim`),
what a bound claim and a volume should look like (`claim_phase`, `plan_volume`),
and the objects a bind writes (`bind_volume`, `bind_claim`). No I/O: the
controller (pvbinder.py) reads informers, asks, and writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from controlplane.controllers import localpath
from controlplane.scheduler.plugins.nodeaffinity import match_terms
from jota.api.meta import Obj, annotations_of, labels_of, name_of, namespace_of
from jota.api.quantity import memory_bytes
from jota.api.selectors import from_label_selector_object

BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
NORMAL, WARNING = "Normal", "Warning"


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class ClaimPlan:
    """What to do for an unbound claim: "bind" `volume`, "provision", or "wait"."""

    action: str
    volume: Obj | None = None
    event: Event | None = None


@dataclass(frozen=True)
class VolumePlan:
    """The phase a volume should show and what to do: "", "unbind", "delete" or "fail"."""

    phase: str
    action: str = ""
    event: Event | None = None


# ---- facts ----------------------------------------------------------------------------------


def claim_class(claim: Obj) -> str:
    spec = claim.get("spec") or {}
    return str(annotations_of(claim).get("volume.beta.kubernetes.io/storage-class")
               or spec.get("storageClassName") or "")


def volume_class(pv: Obj) -> str:
    return str(annotations_of(pv).get("volume.beta.kubernetes.io/storage-class")
               or (pv.get("spec") or {}).get("storageClassName") or "")


def requested(claim: Obj) -> int:
    req = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {})
    return memory_bytes(req.get("storage", 0))


def capacity(pv: Obj) -> int:
    return memory_bytes(((pv.get("spec") or {}).get("capacity") or {}).get("storage", 0))


def uid_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def claim_ref(pv: Obj) -> dict[str, Any] | None:
    ref = (pv.get("spec") or {}).get("claimRef")
    return ref if isinstance(ref, dict) and ref else None


def is_deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_prebound_to(pv: Obj, claim: Obj) -> bool:
    """The volume's claimRef names this claim (any uid it carries is this claim's)."""
    ref = claim_ref(pv)
    if ref is None or ref.get("name") != name_of(claim) or \
            (ref.get("namespace") or "") != namespace_of(claim):
        return False
    return not ref.get("uid") or ref["uid"] == uid_of(claim)


def unsatisfied(pv: Obj, claim: Obj) -> str | None:
    """checkVolumeSatisfyClaim: why the volume cannot serve the claim, or None."""
    spec, cspec = pv.get("spec") or {}, claim.get("spec") or {}
    if volume_class(pv) != claim_class(claim):
        return "storageClassName does not match"
    if not set(cspec.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return "incompatible accessMode"
    if capacity(pv) < requested(claim):
        return "requested PV is too small"
    if (spec.get("volumeMode") or "Filesystem") != (cspec.get("volumeMode") or "Filesystem"):
        return "incompatible volumeMode"
    selector = cspec.get("selector")
    if selector and not from_label_selector_object(selector).matches(labels_of(pv)):
        return "selector does not match"
    return None


def fits_node(pv: Obj, node_name: str, node_labels: dict[str, str]) -> bool:
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")
    if not required:
        return True
    return match_terms(required.get("nodeSelectorTerms") or [], node_name, node_labels)


def find_matching_volume(claim: Obj, volumes: list[Obj], node_name: str = "",
                         node_labels: dict[str, str] | None = None) -> Obj | None:
    """The volume the claim should bind: one pre-bound to it, else the smallest that
    fits; with a node (delayed binding) only volumes that node can reach."""
    labels = node_labels if node_labels is not None else \
        {"kubernetes.io/hostname": node_name}
    best: Obj | None = None
    for pv in sorted(volumes, key=name_of):
        if is_deleting(pv) or unsatisfied(pv, claim) is not None:
            continue
        if node_name and not fits_node(pv, node_name, labels):
            continue
        if is_prebound_to(pv, claim):
            return pv
        if claim_ref(pv) is not None:
            continue
        if (pv.get("status") or {}).get("phase", "Available") not in ("Available", "Pending"):
            continue
        if best is None or capacity(pv) < capacity(best):
            best = pv
    return best


# ---- claims ----------------------------------------------------------------------------------


def plan_unbound_claim(claim: Obj, volumes: list[Obj], cls: Obj | None,
                       node: Obj | None = None) -> ClaimPlan:
    """syncUnboundClaim for a claim without volumeName."""
    class_name = claim_class(claim)
    if class_name and cls is None:
        return ClaimPlan("wait", event=Event(
            WARNING, "ProvisioningFailed",
            f'storageclass.storage.k8s.io "{class_name}" not found'))
    delayed = cls is not None and cls.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER
    node_name = annotations_of(claim).get(SELECTED_NODE, "") if delayed else ""
    if delayed and not node_name:
        return ClaimPlan("wait", event=Event(
            NORMAL, "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding"))
    labels = labels_of(node) if node is not None else None
    volume = find_matching_volume(claim, volumes, node_name, labels)
    if volume is not None:
        return ClaimPlan("bind", volume=volume)
    provisioner = str((cls or {}).get("provisioner") or "")
    if provisioner == localpath.PROVISIONER:
        return ClaimPlan("provision")
    if provisioner and provisioner != NO_PROVISIONER:
        return ClaimPlan("wait", event=Event(
            NORMAL, "ExternalProvisioning",
            f"Waiting for a volume to be created either by the external provisioner "
            f"'{provisioner}' or manually by the system administrator. If volume creation "
            f"is delayed, please verify that the provisioner is running and correctly "
            f"registered."))
    message = "no persistent volumes available for this claim" + \
        ("" if class_name else " and no storage class is set")
    return ClaimPlan("wait", event=Event(NORMAL, "FailedBinding", message))


def claim_phase(claim: Obj, pv: Obj | None) -> tuple[str, Event | None]:
    """syncBoundClaim: the phase of a claim with volumeName, and why when not Bound."""
    volume = str((claim.get("spec") or {}).get("volumeName") or "")
    if pv is None:
        return "Lost", Event(WARNING, "ClaimLost", "Bound claim has lost reference to "
                             "PersistentVolume. Data on the volume is lost!")
    ref = claim_ref(pv)
    if ref is None or is_prebound_to(pv, claim):
        why = unsatisfied(pv, claim) if ref is None else None
        if why is not None:
            return "Pending", Event(WARNING, "FailedBinding",
                                    f'Cannot bind to requested volume "{volume}": {why}')
        return "Bound", None
    if annotations_of(claim).get(BIND_COMPLETED):
        return "Lost", Event(WARNING, "ClaimMisbound", "Two claims are bound to the same "
                             "volume, this one is bound incorrectly")
    return "Pending", Event(WARNING, "FailedBinding",
                            f'volume "{volume}" already bound to a different claim.')


def bind_volume(pv: Obj, claim: Obj) -> Obj:
    """The volume with its claimRef on the claim (bindVolumeToClaim)."""
    new = copy.deepcopy(pv)
    if claim_ref(pv) is None:  # a volume the user pre-bound keeps no such mark
        new["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
    new["spec"]["claimRef"] = localpath.claim_ref(claim)
    return new


def bind_claim(claim: Obj, pv: Obj) -> Obj:
    """The claim with volumeName and the bind annotations (bindClaimToVolume)."""
    new = copy.deepcopy(claim)
    ann = new["metadata"].setdefault("annotations", {})
    if not (claim.get("spec") or {}).get("volumeName"):
        ann[BOUND_BY_CONTROLLER] = "yes"
    ann[BIND_COMPLETED] = "yes"
    new["spec"]["volumeName"] = name_of(pv)
    return new


def bound_claim_status(claim: Obj, pv: Obj | None, phase: str) -> Obj:
    status: Obj = {**(claim.get("status") or {}), "phase": phase}
    if phase == "Bound" and pv is not None:
        spec = pv.get("spec") or {}
        status["accessModes"] = list(spec.get("accessModes") or [])
        status["capacity"] = dict(spec.get("capacity") or {})
    elif phase != "Lost":
        status.pop("accessModes", None)
        status.pop("capacity", None)
    return status


# ---- volumes --------------------------------------------------------------------------------


def plan_volume(pv: Obj, claim: Obj | None) -> VolumePlan:
    """syncVolume: `claim` is the one the volume's claimRef names (None when gone)."""
    ref = claim_ref(pv)
    if ref is None:
        return VolumePlan("Available")
    if not ref.get("uid"):
        return VolumePlan("Available")  # pre-bound: the claim's sync binds it
    if claim is not None and uid_of(claim) == ref["uid"]:
        volume = (claim.get("spec") or {}).get("volumeName")
        if volume and volume != name_of(pv):
            if annotations_of(pv).get(BOUND_BY_CONTROLLER):
                return VolumePlan("Available", "unbind")
            return VolumePlan((pv.get("status") or {}).get("phase") or "Bound")
        return VolumePlan("Bound")
    return reclaim(pv)


def reclaim(pv: Obj) -> VolumePlan:
    """A volume whose claim is gone: Released, then what its reclaim policy says."""
    policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
    if policy == "Retain":
        return VolumePlan("Released")
    if policy == "Delete":
        if localpath.is_local_path(pv):
            return VolumePlan("Released", "delete")
        return VolumePlan("Failed", "fail", Event(
            WARNING, "VolumeFailedDelete",
            f'error getting deleter volume plugin for volume "{name_of(pv)}": '
            f"no deletable volume plugin matched"))
    return VolumePlan("Failed", "fail", Event(WARNING, "VolumeFailedRecycle",
                                              "No recycler plugin found for the volume!"))


def unbind_volume(pv: Obj) -> Obj:
    new = copy.deepcopy(pv)
    new["spec"].pop("claimRef", None)
    (new["metadata"].get("annotations") or {}).pop(BOUND_BY_CONTROLLER, None)
    return new
