"""TaintToleration: NoSchedule/NoExecute taints keep pods off unless tolerated;
PreferNoSchedule taints only lower the score (taint_toleration.go)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controlplane.scheduler.framework import (
    SUCCESS,
    CycleState,
    Status,
    default_normalize,
    unresolvable,
)
from controlplane.scheduler.snapshot import NodeInfo, PodInfo

NAME = "TaintToleration"
Taint = Mapping[str, Any]
Toleration = Mapping[str, Any]


def tolerates(tol: Toleration, taint: Taint) -> bool:
    """v1.Toleration.ToleratesTaint."""
    if tol.get("effect") and tol.get("effect") != taint.get("effect"):
        return False
    if tol.get("key") and tol.get("key") != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (tol.get("value") or "") == (taint.get("value") or "")


def tolerated(taint: Taint, tolerations: Iterable[Toleration]) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def first_untolerated(taints: Iterable[Taint], tolerations: list[Toleration],
                      effects: tuple[str, ...] = ("NoSchedule", "NoExecute")) -> Taint | None:
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(taint, tolerations):
            return taint
    return None


def untolerated_reason(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"


def count_intolerable_prefer_no_schedule(taints: Iterable[Taint],
                                         tolerations: list[Toleration]) -> int:
    relevant = [t for t in tolerations if t.get("effect") in (None, "", "PreferNoSchedule")]
    return sum(1 for t in taints
               if t.get("effect") == "PreferNoSchedule" and not tolerated(t, relevant))


class TaintTolerationPlugin:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.taints:
            return SUCCESS
        taint = first_untolerated(node.taints, pod.spec.get("tolerations") or [])
        return SUCCESS if taint is None else unresolvable(untolerated_reason(taint))

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        return count_intolerable_prefer_no_schedule(node.taints,
                                                    pod.spec.get("tolerations") or [])

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)
