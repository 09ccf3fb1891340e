"""DefaultPreemption, the PostFilter: when no node fits, find one where evicting
lower-priority pods would make room (default_preemption.go, preemption.go).

Pure: it returns the node to nominate and the victims; scheduler.py sets the pod's
`status.nominatedNodeName` and deletes the victims gracefully. On each node every
lower-priority pod is removed, the filters rerun, then victims are reprieved from
the most important down while the pod still fits. Among candidate nodes the one whose
most important victim matters least wins, then the smallest sum of priorities, then
the fewest victims.

PreFilter state (spreading and inter-pod counts) is not re-derived without the
victims, so those two constraints see the victims as still present.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.scheduler.framework import (
    SUCCESS,
    Code,
    CycleState,
    Framework,
    PostFilterResult,
    Status,
    fit_error_message,
    unresolvable,
    unschedulable,
)
from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot

NAME = "DefaultPreemption"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NEVER = "not eligible due to preemptionPolicy=Never."
TERMINATING = "not eligible due to a terminating pod on the nominated node."
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100


@dataclass
class Candidate:
    node: str
    victims: list[PodInfo]

    def rank(self) -> tuple[int, int, int]:
        return (max(v.priority for v in self.victims),
                sum(v.priority for v in self.victims), len(self.victims))


def eligible(pod: PodInfo, snap: Snapshot, statuses: dict[str, Status]) -> str:
    """"" if the pod may preempt, else why not (PodEligibleToPreemptOthers)."""
    if pod.preemption_policy == "Never":
        return NEVER
    nominated = (pod.pod.get("status") or {}).get("nominatedNodeName")
    if nominated and nominated in snap.by_name:
        st = statuses.get(nominated)
        if st is None or st.code is not Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
            node = snap.by_name[nominated]
            if any(p.terminating and p.priority < pod.priority for p in node.pods.values()):
                return TERMINATING
    return ""


def select_victims(fwk: Framework, state: CycleState, pod: PodInfo, node: NodeInfo
                   ) -> tuple[list[PodInfo], Status]:
    lower = [p for p in node.pods.values() if p.priority < pod.priority]
    if not lower:
        return [], unresolvable(NO_VICTIMS)
    sim = node.clone()
    for p in lower:
        sim.remove_pod(p.key)
    status = fwk.run_filters(state, pod, sim)
    if not status.success:
        return [], status
    victims = []
    for p in sorted(lower, key=lambda p: -p.priority):
        sim.add_pod(p)
        if not fwk.run_filters(state, pod, sim).success:
            sim.remove_pod(p.key)
            victims.append(p)
    if not victims:
        return [], Status(Code.ERROR, (f'expected at least one victim pod on node '
                                       f'"{node.name}"',))
    return victims, SUCCESS


class DefaultPreemption:
    name = NAME

    def __init__(self, fwk: Framework | None = None) -> None:
        self.fwk = fwk

    def post_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot,
                    statuses: dict[str, Status]) -> PostFilterResult:
        assert self.fwk is not None, "DefaultPreemption needs its framework"
        why_not = eligible(pod, snap, statuses)
        if why_not:
            return PostFilterResult(unschedulable(f"preemption: {why_not}"))
        node_statuses: dict[str, Status] = {}
        candidates: list[Candidate] = []
        want = max(len(snap.nodes) * MIN_CANDIDATE_NODES_PERCENTAGE // 100,
                   MIN_CANDIDATE_NODES_ABSOLUTE)
        for node in snap.nodes:
            st = statuses.get(node.name)
            if st is not None and st.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                node_statuses[node.name] = unresolvable(NOT_HELPFUL)
                continue
            if len(candidates) >= want:
                continue
            victims, status = select_victims(self.fwk, state.clone(), pod, node)
            if status.success:
                candidates.append(Candidate(node.name, victims))
            else:
                node_statuses[node.name] = status
        if not candidates:
            msg = fit_error_message(len(node_statuses), node_statuses.values())
            return PostFilterResult(unschedulable(f"preemption: {msg}"))
        best = min(candidates, key=Candidate.rank)
        return PostFilterResult(SUCCESS, best.node, best.victims)
