"""NodeAffinity: `nodeSelector` and required node affinity filter; preferred terms
add their weights to the score (node_affinity.go, nodeaffinity helpers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controlplane.scheduler.framework import (
    SKIP,
    SUCCESS,
    CycleState,
    Status,
    default_normalize,
    unresolvable,
)
from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot

NAME = "NodeAffinity"
ERR_REASON = "node(s) didn't match Pod's node affinity/selector"


def _match_expression(expr: Mapping[str, Any], value: str | None) -> bool:
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def match_term(term: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """A NodeSelectorTerm: all its expressions and fields hold; an empty term matches
    nothing, as in Kubernetes."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    for e in exprs:
        if not _match_expression(e, labels.get(str(e.get("key", "")))):
            return False
    for f in fields:
        value = name if f.get("key") == "metadata.name" else None
        if not _match_expression(f, value):
            return False
    return True


def match_terms(terms: Iterable[Mapping[str, Any]], name: str,
                labels: Mapping[str, str]) -> bool:
    """A NodeSelector: any of its terms."""
    return any(match_term(t, name, labels) for t in terms)


def _affinity(pod: PodInfo) -> Mapping[str, Any]:
    aff: Mapping[str, Any] = (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}
    return aff


def required_terms(pod: PodInfo) -> Sequence[Mapping[str, Any]] | None:
    req = _affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
    if req is None:
        return None
    terms: Sequence[Mapping[str, Any]] = req.get("nodeSelectorTerms") or []
    return terms


def matches_node(pod: PodInfo, name: str, labels: Mapping[str, str]) -> bool:
    """RequiredNodeAffinity.Match: nodeSelector and required affinity both hold."""
    selector = pod.spec.get("nodeSelector") or {}
    for k, v in selector.items():
        if labels.get(k) != v:
            return False
    terms = required_terms(pod)
    return terms is None or match_terms(terms, name, labels)


def preferred_score(pod: PodInfo, name: str, labels: Mapping[str, str]) -> int:
    total = 0
    for p in _affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        weight = int(p.get("weight") or 0)
        if weight and match_term(p.get("preference") or {}, name, labels):
            total += weight
    return total


class NodeAffinity:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> Status:
        if pod.spec.get("nodeSelector") or required_terms(pod) is not None:
            return SUCCESS
        return SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if matches_node(pod, node.name, node.labels) else unresolvable(ERR_REASON)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                  snap: Snapshot) -> Status:
        preferred = _affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution")
        return SUCCESS if preferred else SKIP

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return preferred_score(pod, node.name, node.labels)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores)
