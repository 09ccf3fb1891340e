"""NodePorts: two pods cannot hold the same hostPort on one node (node_ports.go).

A port bound on 0.0.0.0 conflicts with the same port/protocol on any address."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controlplane.scheduler.framework import SKIP, SUCCESS, CycleState, Status, unschedulable
from controlplane.scheduler.snapshot import HostPort, NodeInfo, PodInfo, Snapshot

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
ANY = "0.0.0.0"


def conflicts(wanted: Iterable[HostPort], used: Mapping[HostPort, int]) -> bool:
    if not used:
        return False
    used_any = {(proto, port) for ip, proto, port in used if ip == ANY}
    used_pp = {(proto, port) for _, proto, port in used}
    for ip, proto, port in wanted:
        if (proto, port) in used_any or (ip, proto, port) in used:
            return True
        if ip == ANY and (proto, port) in used_pp:
            return True
    return False


class NodePorts:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> Status:
        return SUCCESS if pod.ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return unschedulable(ERR_REASON) if conflicts(pod.ports, node.used_ports) else SUCCESS
