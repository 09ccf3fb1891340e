"""NodeName: a pod that names its node fits only there (node_name.go)."""

from __future__ import annotations

from controlplane.scheduler.framework import SKIP, SUCCESS, CycleState, Status, unresolvable
from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    wanted = pod.spec.get("nodeName")
    return not wanted or wanted == node.name


class NodeName:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> Status:
        return SUCCESS if pod.spec.get("nodeName") else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else unresolvable(ERR_REASON)
