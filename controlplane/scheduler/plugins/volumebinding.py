"""VolumeBinding: a pod's PersistentVolumeClaims must be bindable on the node
(volumebinding/).

A claim bound to a PV with node affinity (a local volume) pins the pod to the
nodes that PV allows. An unbound claim of a WaitForFirstConsumer class waits for
the scheduler's choice (the scheduler then annotates it with the selected node);
with the no-provisioner class an Available PV must match on that node. An unbound
claim of an Immediate class must be bound first: the pod is unresolvable until then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from controlplane.scheduler.framework import (
    SKIP,
    SUCCESS,
    CycleState,
    Status,
    unresolvable,
)
from controlplane.scheduler.plugins.nodeaffinity import match_terms
from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot
from jota.api.meta import Obj
from jota.api.quantity import memory_bytes

NAME = "VolumeBinding"
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
ERR_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_MISSING_PV = "pvc(s) bound to non-existent pv(s)"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
WAIT = "WaitForFirstConsumer"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
_STATE = "VolumeBinding"


class VolumeLister(Protocol):
    def get_pvc(self, namespace: str, name: str) -> Obj | None: ...

    def get_pv(self, name: str) -> Obj | None: ...

    def get_storage_class(self, name: str) -> Obj | None: ...

    def list_pvs(self) -> list[Obj]: ...


def claim_names(pod: PodInfo) -> list[str]:
    names = []
    for v in pod.spec.get("volumes") or []:
        if v.get("persistentVolumeClaim"):
            names.append(str(v["persistentVolumeClaim"].get("claimName", "")))
        elif v.get("ephemeral"):
            names.append(f"{pod.meta.get('name', '')}-{v.get('name', '')}")
    return names


@dataclass
class ClaimsState:
    bound_pvs: list[Obj] = field(default_factory=list)
    delayed: list[Obj] = field(default_factory=list)  # unbound, WaitForFirstConsumer


def pv_node_terms(pv: Obj) -> list[dict[str, Any]] | None:
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required"))
    if not required:
        return None
    terms: list[dict[str, Any]] = required.get("nodeSelectorTerms") or []
    return terms


def pv_fits_node(pv: Obj, node: NodeInfo) -> bool:
    terms = pv_node_terms(pv)
    return terms is None or match_terms(terms, node.name, node.labels)


def pv_matches_claim(pv: Obj, pvc: Obj) -> bool:
    spec, pvc_spec = pv.get("spec") or {}, pvc.get("spec") or {}
    if (pv.get("status") or {}).get("phase", "Available") != "Available" or spec.get("claimRef"):
        return False
    if (spec.get("storageClassName") or "") != (pvc_spec.get("storageClassName") or ""):
        return False
    if not set(pvc_spec.get("accessModes") or []).issubset(spec.get("accessModes") or []):
        return False
    want = ((pvc_spec.get("resources") or {}).get("requests") or {}).get("storage", 0)
    have = (spec.get("capacity") or {}).get("storage", 0)
    return memory_bytes(have) >= memory_bytes(want)


class VolumeBinding:
    name = NAME

    def __init__(self, lister: VolumeLister) -> None:
        self.lister = lister

    def pre_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> Status:
        names = claim_names(pod)
        if not names:
            return SKIP
        st = ClaimsState()
        unbound_immediate = False
        for name in names:
            pvc = self.lister.get_pvc(pod.namespace, name)
            if pvc is None:
                return unresolvable(f'persistentvolumeclaim "{name}" not found')
            if (pvc.get("metadata") or {}).get("deletionTimestamp"):
                return unresolvable(f'persistentvolumeclaim "{name}" is being deleted')
            volume = (pvc.get("spec") or {}).get("volumeName")
            if volume:
                pv = self.lister.get_pv(volume)
                if pv is None:
                    return unresolvable(ERR_MISSING_PV)
                st.bound_pvs.append(pv)
                continue
            cls = self.lister.get_storage_class((pvc.get("spec") or {})
                                                .get("storageClassName") or "")
            if cls is not None and cls.get("volumeBindingMode") == WAIT:
                st.delayed.append(pvc)
            else:
                unbound_immediate = True
        if unbound_immediate:
            return unresolvable(ERR_UNBOUND_IMMEDIATE)
        state[_STATE] = st
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        st: ClaimsState = state[_STATE]
        if not all(pv_fits_node(pv, node) for pv in st.bound_pvs):
            return unresolvable(ERR_NODE_CONFLICT)
        for pvc in st.delayed:
            cls = self.lister.get_storage_class((pvc.get("spec") or {})
                                                .get("storageClassName") or "") or {}
            if cls.get("provisioner") != NO_PROVISIONER:
                continue  # dynamic provisioning will make one on the chosen node
            if not any(pv_matches_claim(pv, pvc) and pv_fits_node(pv, node)
                       for pv in self.lister.list_pvs()):
                return unresolvable(ERR_BIND_CONFLICT)
        return SUCCESS


def claims_to_annotate(state: CycleState) -> list[Obj]:
    """The delayed-binding claims that should learn the chosen node (PreBind)."""
    st: ClaimsState | None = state.get(_STATE)
    return list(st.delayed) if st else []
