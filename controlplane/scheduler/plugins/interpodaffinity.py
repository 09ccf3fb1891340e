"""InterPodAffinity: place a pod near (affinity) or away from (anti-affinity) pods
matching a selector, per topology domain; existing pods' anti-affinity also keeps
the newcomer out (interpodaffinity/).

Terms are parsed once per pod and memoized on its PodInfo. A `namespaceSelector`
other than `{}` (all namespaces) would need namespace labels: only the term's
listed namespaces are used then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    SUCCESS,
    CycleState,
    Status,
    unresolvable,
    unschedulable,
)
from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot
from jota.api.selectors import LabelSelector, from_label_selector_object

NAME = "InterPodAffinity"
ERR_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_ANTI = "node(s) didn't match pod anti-affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1
_FILTER, _SCORE = "InterPodAffinity/filter", "InterPodAffinity/score"
Pair = tuple[str, str]


@dataclass(frozen=True)
class Term:
    selector: LabelSelector
    namespaces: frozenset[str] | None  # None: every namespace
    topology_key: str
    weight: int = 0

    def matches(self, pod: PodInfo) -> bool:
        if self.namespaces is not None and pod.namespace not in self.namespaces:
            return False
        return self.selector.matches(pod.labels)


def _term(t: dict[str, Any], namespace: str, weight: int = 0) -> Term:
    ns_sel = t.get("namespaceSelector")
    listed = frozenset(t.get("namespaces") or [])
    namespaces: frozenset[str] | None
    if ns_sel is not None and not ns_sel:
        namespaces = None
    else:
        namespaces = listed or (frozenset() if ns_sel else frozenset({namespace}))
    return Term(from_label_selector_object(t.get("labelSelector")), namespaces,
                str(t.get("topologyKey") or ""), weight)


def terms(pi: PodInfo, kind: str, required: bool) -> list[Term]:
    """`kind` is podAffinity or podAntiAffinity; memoized on the PodInfo."""
    key = ("terms", kind, required)
    got: list[Term] | None = pi.memo.get(key)
    if got is None:
        spec = ((pi.spec.get("affinity") or {}).get(kind)) or {}
        if required:
            got = [_term(t, pi.namespace)
                   for t in spec.get("requiredDuringSchedulingIgnoredDuringExecution") or []]
        else:
            got = [_term(w.get("podAffinityTerm") or {}, pi.namespace, int(w.get("weight") or 0))
                   for w in spec.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        pi.memo[key] = got
    return got


def _add(counts: dict[Pair, int], node: NodeInfo, key: str, n: int) -> None:
    value = node.labels.get(key)
    if value is not None:
        counts[(key, value)] = counts.get((key, value), 0) + n


@dataclass
class _FilterState:
    affinity: list[Term]
    anti: list[Term]
    existing_anti: dict[Pair, int]
    affinity_counts: dict[Pair, int]
    anti_counts: dict[Pair, int]


def pre_filter_state(pod: PodInfo, snap: Snapshot) -> _FilterState:
    aff, anti = terms(pod, "podAffinity", True), terms(pod, "podAntiAffinity", True)
    st = _FilterState(aff, anti, {}, {}, {})
    for node in snap.nodes:
        if node.pods_with_required_anti_affinity:
            for p in node.pods.values():
                for t in terms(p, "podAntiAffinity", True):
                    if t.matches(pod):
                        _add(st.existing_anti, node, t.topology_key, 1)
        if aff or anti:
            for p in node.pods.values():
                for t in aff:
                    if t.matches(p):
                        _add(st.affinity_counts, node, t.topology_key, 1)
                for t in anti:
                    if t.matches(p):
                        _add(st.anti_counts, node, t.topology_key, 1)
    return st


def filter_node(st: _FilterState, pod: PodInfo, node: NodeInfo) -> Status:
    labels = node.labels
    if st.affinity:
        if any(t.topology_key not in labels for t in st.affinity):
            return unresolvable(ERR_AFFINITY)
        exist = all(st.affinity_counts.get((t.topology_key, labels[t.topology_key]), 0) > 0
                    for t in st.affinity)
        # The first pod of a group with affinity to itself may go anywhere.
        if not exist and not (not st.affinity_counts
                              and all(t.matches(pod) for t in st.affinity)):
            return unresolvable(ERR_AFFINITY)
    for t in st.anti:
        value = labels.get(t.topology_key)
        if value is not None and st.anti_counts.get((t.topology_key, value), 0) > 0:
            return unschedulable(ERR_ANTI)
    if st.existing_anti and any(st.existing_anti.get(kv, 0) > 0 for kv in labels.items()):
        return unschedulable(ERR_EXISTING_ANTI)
    return SUCCESS


def topology_scores(pod: PodInfo, snap: Snapshot) -> dict[Pair, int]:
    """Weights per topology pair: the pod's preferred terms over existing pods, and
    existing pods' terms over the pod (symmetry), as PreScore computes them."""
    pref, pref_anti = terms(pod, "podAffinity", False), terms(pod, "podAntiAffinity", False)
    out: dict[Pair, int] = {}
    for node in snap.nodes:
        if not (pref or pref_anti) and not node.pods_with_affinity:
            continue
        for p in node.pods.values():
            for t in pref:
                if t.matches(p):
                    _add(out, node, t.topology_key, t.weight)
            for t in pref_anti:
                if t.matches(p):
                    _add(out, node, t.topology_key, -t.weight)
            if not p.has_affinity:
                continue
            for t in terms(p, "podAffinity", True):
                if t.matches(pod):
                    _add(out, node, t.topology_key, HARD_POD_AFFINITY_WEIGHT)
            for t in terms(p, "podAffinity", False):
                if t.matches(pod):
                    _add(out, node, t.topology_key, t.weight)
            for t in terms(p, "podAntiAffinity", False):
                if t.matches(pod):
                    _add(out, node, t.topology_key, -t.weight)
    return out


class InterPodAffinity:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> Status:
        st = pre_filter_state(pod, snap)
        if not (st.affinity or st.anti or st.existing_anti):
            return SKIP
        state[_FILTER] = st
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return filter_node(state[_FILTER], pod, node)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                  snap: Snapshot) -> Status:
        scores = topology_scores(pod, snap)
        if not scores:
            return SKIP
        state[_SCORE] = scores
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        scores: dict[Pair, int] = state[_SCORE]
        return sum(n for (k, v), n in scores.items() if node.labels.get(k) == v)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        lo, hi = min(scores, default=0), max(scores, default=0)
        for i, s in enumerate(scores):
            scores[i] = int(MAX_NODE_SCORE * (s - lo) / (hi - lo)) if hi > lo else 0
