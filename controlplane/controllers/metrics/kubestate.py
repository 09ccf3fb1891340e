"""kube-state-metrics, the subset Jota's alerts and dashboards use: pure functions
from one object to its samples, with KSM's family names and labels exactly.

Nothing here reads a cache or a clock: `collector.py` walks the informers' stores
at scrape time and calls these, so an object costs nothing between scrapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import InvalidOperation

from jota.api.meta import Obj
from jota.api.quantity import parse_quantity

GAUGE = "gauge"
COUNTER = "counter"
INFO = "gauge"  # KSM's *_info families are gauges of value 1


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    help: str
    labels: tuple[str, ...]


_POD = ("namespace", "pod", "uid")
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("kube_pod_info", INFO, "Information about pod.",
           (*_POD, "host_ip", "pod_ip", "node", "created_by_kind", "created_by_name",
            "priority_class", "host_network")),
    Family("kube_pod_status_phase", GAUGE, "The pods current phase.", (*_POD, "phase")),
    Family("kube_pod_container_status_restarts_total", COUNTER,
           "The number of container restarts per container.", (*_POD, "container")),
    Family("kube_pod_container_status_waiting_reason", GAUGE,
           "Describes the reason the container is currently in waiting state.",
           (*_POD, "container", "reason")),
    Family("kube_pod_container_resource_limits", GAUGE,
           "The number of requested limit resource by a container.",
           (*_POD, "container", "node", "resource", "unit")),
    Family("kube_pod_container_resource_requests", GAUGE,
           "The number of requested request resource by a container.",
           (*_POD, "container", "node", "resource", "unit")),
    Family("kube_deployment_spec_replicas", GAUGE,
           "Number of desired pods for a deployment.", ("namespace", "deployment")),
    Family("kube_deployment_status_replicas", GAUGE,
           "The number of replicas per deployment.", ("namespace", "deployment")),
    Family("kube_deployment_status_replicas_available", GAUGE,
           "The number of available replicas per deployment.", ("namespace", "deployment")),
    Family("kube_deployment_status_replicas_updated", GAUGE,
           "The number of updated replicas per deployment.", ("namespace", "deployment")),
    Family("kube_node_info", INFO, "Information about a cluster node.",
           ("node", "kernel_version", "os_image", "container_runtime_version",
            "kubelet_version", "kubeproxy_version", "provider_id", "pod_cidr", "system_uuid",
            "internal_ip")),
    Family("kube_node_status_condition", GAUGE, "The condition of a cluster node.",
           ("node", "condition", "status")),
    Family("kube_node_status_allocatable", GAUGE,
           "The allocatable for different resources of a node that are available for "
           "scheduling.", ("node", "resource", "unit")),
    Family("kube_node_spec_unschedulable", GAUGE,
           "Whether a node can schedule new pods.", ("node",)),
)}

POD_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
CONDITION_STATUSES = ("true", "false", "unknown")


@dataclass(frozen=True)
class Sample:
    family: str
    labels: tuple[str, ...]  # values, in the family's label order
    value: float


def _pod_ids(pod: Obj) -> tuple[str, str, str]:
    md = pod.get("metadata") or {}
    return md.get("namespace", ""), md.get("name", ""), md.get("uid", "")


def _controller(pod: Obj) -> tuple[str, str]:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("kind", ""), ref.get("name", "")
    return "", ""


def _resource(name: str, value: object) -> tuple[str, str, float] | None:
    """(resource, unit, value) as KSM writes them: cpu in cores, memory in bytes."""
    try:
        amount = float(parse_quantity(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return None
    unit = {"cpu": "core", "memory": "byte", "ephemeral-storage": "byte"}.get(name, "integer")
    return name.replace(".", "_").replace("/", "_").replace("-", "_"), unit, amount


def pod_samples(pod: Obj) -> list[Sample]:
    ids = _pod_ids(pod)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName", "")
    kind, owner = _controller(pod)
    out = [Sample("kube_pod_info", (*ids, status.get("hostIP", ""), status.get("podIP", ""),
                                    node, kind, owner, spec.get("priorityClassName", ""),
                                    "true" if spec.get("hostNetwork") else "false"), 1.0)]
    phase = status.get("phase", "")
    if phase:
        out += [Sample("kube_pod_status_phase", (*ids, p), 1.0 if p == phase else 0.0)
                for p in POD_PHASES]
    for cs in status.get("containerStatuses") or []:
        name = cs.get("name", "")
        out.append(Sample("kube_pod_container_status_restarts_total", (*ids, name),
                          float(cs.get("restartCount") or 0)))
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if reason:
            out.append(Sample("kube_pod_container_status_waiting_reason",
                              (*ids, name, reason), 1.0))
    for c in spec.get("containers") or []:
        resources = c.get("resources") or {}
        for which, family in (("limits", "kube_pod_container_resource_limits"),
                              ("requests", "kube_pod_container_resource_requests")):
            for rname, value in sorted((resources.get(which) or {}).items()):
                r = _resource(rname, value)
                if r is not None:
                    out.append(Sample(family, (*ids, c.get("name", ""), node, r[0], r[1]),
                                      r[2]))
    return out


def deployment_samples(dep: Obj) -> list[Sample]:
    md = dep.get("metadata") or {}
    ids = (md.get("namespace", ""), md.get("name", ""))
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    replicas = spec.get("replicas")
    return [
        Sample("kube_deployment_spec_replicas", ids, float(1 if replicas is None else replicas)),
        Sample("kube_deployment_status_replicas", ids, float(status.get("replicas") or 0)),
        Sample("kube_deployment_status_replicas_available", ids,
               float(status.get("availableReplicas") or 0)),
        Sample("kube_deployment_status_replicas_updated", ids,
               float(status.get("updatedReplicas") or 0)),
    ]


def node_samples(node: Obj) -> list[Sample]:
    name = (node.get("metadata") or {}).get("name", "")
    spec, status = node.get("spec") or {}, node.get("status") or {}
    info = status.get("nodeInfo") or {}
    internal_ip = next((a.get("address", "") for a in status.get("addresses") or []
                        if a.get("type") == "InternalIP"), "")
    out = [Sample("kube_node_info", (
        name, info.get("kernelVersion", ""), info.get("osImage", ""),
        info.get("containerRuntimeVersion", ""), info.get("kubeletVersion", ""),
        info.get("kubeProxyVersion", ""), spec.get("providerID", ""),
        spec.get("podCIDR", ""), info.get("systemUUID", ""), internal_ip), 1.0),
        Sample("kube_node_spec_unschedulable", (name,),
               1.0 if spec.get("unschedulable") else 0.0)]
    for cond in status.get("conditions") or []:
        current = str(cond.get("status", "")).lower()
        out += [Sample("kube_node_status_condition", (name, cond.get("type", ""), s),
                       1.0 if s == current else 0.0) for s in CONDITION_STATUSES]
    for rname, value in sorted((status.get("allocatable") or {}).items()):
        r = _resource(rname, value)
        if r is not None:
            out.append(Sample("kube_node_status_allocatable", (name, r[0], r[1]), r[2]))
    return out
