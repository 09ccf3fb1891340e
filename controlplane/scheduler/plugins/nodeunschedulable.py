"""NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new pods, unless
the pod tolerates node.kubernetes.io/unschedulable (node_unschedulable.go)."""

from __future__ import annotations

from controlplane.scheduler.framework import SUCCESS, CycleState, Status, unresolvable
from controlplane.scheduler.plugins.tainttoleration import tolerated
from controlplane.scheduler.snapshot import NodeInfo, PodInfo

NAME = "NodeUnschedulable"
ERR_REASON = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.unschedulable:
            return SUCCESS
        if tolerated(UNSCHEDULABLE_TAINT, pod.spec.get("tolerations") or []):
            return SUCCESS
        return unresolvable(ERR_REASON)
