"""Node and pod documents for the scheduler's unit tests, shaped as the API stores them."""

from __future__ import annotations

from typing import Any

from controlplane.scheduler.framework import CycleState, Status
from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot
from jota.api.meta import Obj


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110, *,
         labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
         unschedulable: bool = False, images: list[tuple[str, int]] | None = None,
         extra: dict[str, str] | None = None) -> Obj:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods), **(extra or {})}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec,
            "status": {"allocatable": alloc, "capacity": alloc,
                       "images": [{"names": [n], "sizeBytes": s} for n, s in images or []]}}


def pod(name: str, cpu: str | None = None, memory: str | None = None, *,
        namespace: str = "default", node_name: str = "", labels: dict[str, str] | None = None,
        priority: int | None = None, image: str = "nginx:1.27",
        **spec: Any) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: dict[str, Any] = {"name": "c", "image": image,
                                 "resources": {"requests": requests} if requests else {}}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    if "extended" in spec:
        container["resources"].setdefault("requests", {}).update(spec.pop("extended"))
    body: dict[str, Any] = {"containers": [container], "schedulerName": "default-scheduler",
                            **spec}
    if node_name:
        body["nodeName"] = node_name
    if priority is not None:
        body["priority"] = priority
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                         "labels": labels or {},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": body, "status": {"phase": "Pending"}}


def info(nd: Obj, *pods: Obj) -> NodeInfo:
    return Snapshot.build([nd], pods).nodes[0]


def run_filter(plugin: Any, p: Obj, nd: NodeInfo, snap: Snapshot | None = None) -> Status:
    """PreFilter (if any) then Filter, as the framework would for one node."""
    state = CycleState()
    pi = PodInfo.of(p)
    snap = snap or Snapshot([nd], {nd.name: nd}, {})
    if hasattr(plugin, "pre_filter"):
        pre = plugin.pre_filter(state, pi, snap)
        if pre.code.name == "SKIP":
            return Status()
        if not pre.success:
            failed: Status = pre
            return failed
    result: Status = plugin.filter(state, pi, nd)
    return result


def run_scores(plugin: Any, p: Obj, snap: Snapshot) -> list[int]:
    state = CycleState()
    pi = PodInfo.of(p)
    if hasattr(plugin, "pre_score"):
        pre = plugin.pre_score(state, pi, snap.nodes, snap)
        if pre.code.name == "SKIP":
            return [0] * len(snap.nodes)
    scores = [plugin.score(state, pi, n) for n in snap.nodes]
    plugin.normalize(state, pi, scores)
    return scores
