"""PodTopologySpread: keep matching pods within `maxSkew` of each other across
topology domains (podtopologyspread/).

`DoNotSchedule` constraints filter; `ScheduleAnyway` ones score. A pod that says
nothing still gets the system defaults (hostname maxSkew 3, zone maxSkew 5, both
ScheduleAnyway) over the pods of the Services/ReplicaSets/StatefulSets that select
it, so replicas spread over nodes without anyone asking.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
from controlplane.scheduler.plugins.nodeaffinity import matches_node
from controlplane.scheduler.plugins.tainttoleration import first_untolerated
from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot
from jota.api.selectors import LabelSelector, Requirement, from_label_selector_object

NAME = "PodTopologySpread"
ERR_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_NODE_LABEL = ERR_CONSTRAINTS + " (missing required label)"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
_FILTER, _SCORE = "PodTopologySpread/filter", "PodTopologySpread/score"

DefaultSelector = Callable[[PodInfo], "LabelSelector | None"]
"""The selector of the Services/ReplicaSets/StatefulSets selecting the pod."""


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: LabelSelector
    min_domains: int = 1
    honor_affinity: bool = True
    honor_taints: bool = False
    memo_key: str = ""  # the selector as a string, computed once: see count_matching

    def __post_init__(self) -> None:
        if not self.memo_key:
            text = "<nothing>" if self.selector.nothing else str(self.selector)
            object.__setattr__(self, "memo_key", f"spread\x00{text}")


def _constraint(c: dict[str, Any], pod: PodInfo) -> Constraint:
    sel = from_label_selector_object(c.get("labelSelector"))
    keys = [k for k in c.get("matchLabelKeys") or [] if k in pod.labels]
    if keys and not sel.nothing:
        extra = tuple(Requirement(k, "in", (pod.labels[k],)) for k in keys)
        sel = LabelSelector(sel.requirements + extra)
    return Constraint(int(c.get("maxSkew") or 1), str(c.get("topologyKey") or ""), sel,
                      int(c.get("minDomains") or 1),
                      c.get("nodeAffinityPolicy", "Honor") != "Ignore",
                      c.get("nodeTaintsPolicy", "Ignore") == "Honor")


def constraints_of(pod: PodInfo, when: str) -> list[Constraint]:
    return [_constraint(c, pod) for c in pod.spec.get("topologySpreadConstraints") or []
            if c.get("whenUnsatisfiable", "DoNotSchedule") == when]


def system_default_constraints(selector: LabelSelector) -> list[Constraint]:
    return [Constraint(3, HOSTNAME, selector), Constraint(5, ZONE, selector)]


def matches(pi: PodInfo, selector: LabelSelector) -> bool:
    """Memoized per pod: selectors are asked of the same pods on every cycle."""
    key = ("sel", selector)
    hit = pi.memo.get(key)
    if hit is None:
        hit = pi.memo[key] = selector.matches(pi.labels)
    return bool(hit)


def count_matching(node: NodeInfo, c: Constraint, namespace: str) -> int:
    """Matching, non-terminating pods of the namespace on the node; memoized until the
    node's pods change, since one cycle changes one node."""
    key = c.memo_key + "\x00" + namespace
    hit = node.memo.get(key)
    if hit is not None and hit[0] == node.generation:
        return int(hit[1])
    sel = c.selector
    n = sum(1 for p in node.pods.values()
            if p.namespace == namespace and not p.terminating and matches(p, sel))
    if len(node.memo) > 256:
        node.memo.clear()
    node.memo[key] = (node.generation, n)
    return n


def _node_counts(pod: PodInfo, c: Constraint, node: NodeInfo) -> bool:
    """Whether the node's pods count toward the constraint (its node policies)."""
    if c.honor_affinity and not matches_node(pod, node.name, node.labels):
        return False
    return not (c.honor_taints and node.taints and first_untolerated(
        node.taints, pod.spec.get("tolerations") or []) is not None)


@dataclass
class _FilterState:
    constraints: list[Constraint]
    counts: dict[tuple[str, str], int]
    min_match: dict[str, int]


class PodTopologySpread:
    name = NAME

    def __init__(self, default_selector: DefaultSelector | None = None,
                 system_defaults: bool = True) -> None:
        self.default_selector = default_selector
        self.system_defaults = system_defaults

    def pre_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> Status:
        hard = constraints_of(pod, "DoNotSchedule")
        if not hard:
            return SKIP
        counts: dict[tuple[str, str], int] = {}
        keys = {c.topology_key for c in hard}
        for node in snap.nodes:
            if not keys.issubset(node.labels):
                continue
            for c in hard:
                if _node_counts(pod, c, node):
                    pair = (c.topology_key, node.labels[c.topology_key])
                    counts[pair] = counts.get(pair, 0) + count_matching(node, c, pod.namespace)
        min_match: dict[str, int] = {}
        for c in hard:
            domains = [n for (k, _), n in counts.items() if k == c.topology_key]
            min_match[c.topology_key] = 0 if len(domains) < c.min_domains \
                else min(domains, default=0)
        state[_FILTER] = _FilterState(hard, counts, min_match)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s: _FilterState = state[_FILTER]
        for c in s.constraints:
            value = node.labels.get(c.topology_key)
            if value is None:
                return unresolvable(ERR_NODE_LABEL)
            self_match = 1 if matches(pod, c.selector) else 0
            skew = s.counts.get((c.topology_key, value), 0) + self_match \
                - s.min_match[c.topology_key]
            if skew > c.max_skew:
                return unschedulable(ERR_CONSTRAINTS)
        return SUCCESS

    # -- scoring --

    def _soft_constraints(self, pod: PodInfo) -> tuple[list[Constraint], bool]:
        if pod.spec.get("topologySpreadConstraints"):
            return constraints_of(pod, "ScheduleAnyway"), False
        if not self.system_defaults or self.default_selector is None:
            return [], False
        sel = self.default_selector(pod)
        if sel is None or sel.empty or sel.nothing:
            return [], False
        return system_default_constraints(sel), True

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                  snap: Snapshot) -> Status:
        soft, defaulted = self._soft_constraints(pod)
        if not soft:
            return SKIP
        require_all = not defaulted
        keys = {c.topology_key for c in soft}
        ignored = [require_all and not keys.issubset(n.labels) for n in nodes]
        pairs: dict[tuple[str, str], int] = {}
        sizes = []
        for c in soft:
            if c.topology_key == HOSTNAME:
                sizes.append(len(nodes) - sum(ignored))
                continue
            values = {n.labels[c.topology_key] for n, ign in zip(nodes, ignored, strict=True)
                      if not ign and c.topology_key in n.labels}
            sizes.append(len(values))
            for v in values:
                pairs[(c.topology_key, v)] = 0
        if pairs:
            for node in snap.nodes:
                if require_all and not keys.issubset(node.labels):
                    continue
                for c in soft:
                    pair = (c.topology_key, node.labels.get(c.topology_key, ""))
                    if c.topology_key != HOSTNAME and pair in pairs \
                            and _node_counts(pod, c, node):
                        pairs[pair] += count_matching(node, c, pod.namespace)
        weights = [math.log(size + 2) for size in sizes]
        state[_SCORE] = (soft, pairs, weights, ignored)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        soft, pairs, weights, _ = state[_SCORE]
        total = 0.0
        for c, w in zip(soft, weights, strict=True):
            value = node.labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == HOSTNAME:
                cnt = count_matching(node, c, pod.namespace)
            else:
                cnt = pairs.get((c.topology_key, value), 0)
            total += cnt * w + (c.max_skew - 1)
        return round(total)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        ignored: list[bool] = state[_SCORE][3]
        valid = [s for s, ign in zip(scores, ignored, strict=True) if not ign]
        lo, hi = min(valid, default=0), max(valid, default=0)
        for i, s in enumerate(scores):
            if ignored[i]:
                scores[i] = 0
            elif hi == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (hi + lo - s) // hi
