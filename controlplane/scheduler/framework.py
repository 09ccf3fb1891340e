"""The scheduling framework: verdicts, extension points, and one pod's scheduling cycle.

As in Kubernetes' `pkg/scheduler/framework`, a plugin never raises to say "no": it
returns a `Status` whose code tells the scheduler what may help (`Unschedulable`:
evicting pods might; `UnschedulableAndUnresolvable`: nothing on this node will) and
whose reasons are the words kubectl users read in `0/3 nodes are available: ...`.

The cycle is synchronous and pure over a `Snapshot`: PreFilter once, Filter per node
(stopping, as kube-scheduler does, once enough feasible nodes are found), PreScore,
Score per feasible node, NormalizeScore per plugin, weights, then the best node
(ties broken at random). No I/O happens here; scheduler.py carries out the verdict.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
BASE_PERCENTAGE_OF_NODES_TO_SCORE = 50
NO_NODE_AVAILABLE = "0/{} nodes are available"


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    SKIP = 4


@dataclass(frozen=True)
class Status:
    """A plugin's verdict; `reasons` are counted per node in the FailedScheduling message."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def success(self) -> bool:
        return self.code is Code.SUCCESS

    @property
    def rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> Status:
        return Status(self.code, self.reasons, plugin)


SUCCESS = Status()
SKIP = Status(Code.SKIP)


def unschedulable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, reasons)


def unresolvable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)


def error(*reasons: str) -> Status:
    return Status(Code.ERROR, reasons)


class CycleState(dict[str, Any]):
    """What PreFilter/PreScore computed once for the pod, read by Filter/Score per node."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()
        self.filters: list[FilterPlugin] | None = None  # the ones PreFilter did not skip

    def clone(self) -> CycleState:
        c = CycleState(self)
        c.skip_filter = set(self.skip_filter)
        c.skip_score = set(self.skip_score)
        c.filters = self.filters
        return c


# --- the extension points ------------------------------------------------------------------

@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> Status: ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                  snap: Snapshot) -> Status: ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None: ...


@dataclass
class PostFilterResult:
    """What preemption decided: the node to nominate and the pods to evict there."""

    status: Status
    nominated_node: str = ""
    victims: list[PodInfo] = field(default_factory=list)


@runtime_checkable
class PostFilterPlugin(Protocol):
    name: str

    def post_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot,
                    statuses: dict[str, Status]) -> PostFilterResult: ...


def default_normalize(scores: list[int], *, reverse: bool = False) -> None:
    """framework helper.DefaultNormalizeScore: scale to 0..100 by the highest score."""
    top = max(scores, default=0)
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        v = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - v if reverse else v


# --- the framework -------------------------------------------------------------------------

@dataclass
class Framework:
    """One profile's plugins, in order, with score weights."""

    pre_filters: list[PreFilterPlugin] = field(default_factory=list)
    filters: list[FilterPlugin] = field(default_factory=list)
    post_filters: list[PostFilterPlugin] = field(default_factory=list)
    pre_scores: list[PreScorePlugin] = field(default_factory=list)
    scores: list[tuple[ScorePlugin, int]] = field(default_factory=list)
    percentage_of_nodes_to_score: int = 0
    scheduler_name: str = "default-scheduler"

    @classmethod
    def build(cls, filter_plugins: Iterable[object], score_plugins: Iterable[tuple[object, int]],
              post_filter_plugins: Iterable[object] = (), **kwargs: Any) -> Framework:
        """Plugins sort themselves into extension points by the methods they have."""
        fps = list(filter_plugins)
        sps = list(score_plugins)
        return cls(
            pre_filters=[p for p in fps if isinstance(p, PreFilterPlugin)],
            filters=[p for p in fps if isinstance(p, FilterPlugin)],
            post_filters=[p for p in post_filter_plugins if isinstance(p, PostFilterPlugin)],
            pre_scores=[p for p, _ in sps if isinstance(p, PreScorePlugin)],
            scores=[(p, w) for p, w in sps if isinstance(p, ScorePlugin)],
            **kwargs)

    def run_pre_filter(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> Status:
        for p in self.pre_filters:
            s = p.pre_filter(state, pod, snap)
            if s.code is Code.SKIP:
                state.skip_filter.add(p.name)
            elif not s.success:
                return s.with_plugin(p.name)
        state.filters = [p for p in self.filters if p.name not in state.skip_filter]
        return SUCCESS

    def run_filters(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """The first rejection wins, as RunFilterPlugins returns on the first failure."""
        filters = state.filters
        if filters is None:
            filters = [p for p in self.filters if p.name not in state.skip_filter]
        for p in filters:
            s = p.filter(state, pod, node)
            if s.code is not Code.SUCCESS:
                return s.with_plugin(p.name)
        return SUCCESS

    def run_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                  snap: Snapshot) -> list[int]:
        for pre in self.pre_scores:
            s = pre.pre_score(state, pod, nodes, snap)
            if s.code is Code.SKIP:
                state.skip_score.add(pre.name)
            elif not s.success:
                raise SchedulingError(f"running PreScore plugin {pre.name!r}: {s.message}")
        totals = [0] * len(nodes)
        for plugin, weight in self.scores:
            if plugin.name in state.skip_score:
                continue
            scores = [plugin.score(state, pod, n) for n in nodes]
            plugin.normalize(state, pod, scores)
            for i, v in enumerate(scores):
                totals[i] += v * weight
        return totals

    def num_feasible_nodes_to_find(self, num_all: int) -> int:
        """kube-scheduler's adaptive percentageOfNodesToScore: big clusters stop early."""
        pct = self.percentage_of_nodes_to_score
        if num_all < MIN_FEASIBLE_NODES_TO_FIND or pct >= 100:
            return num_all
        if pct <= 0:
            pct = max(BASE_PERCENTAGE_OF_NODES_TO_SCORE - num_all // 125,
                      MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
        return max(num_all * pct // 100, MIN_FEASIBLE_NODES_TO_FIND)


class SchedulingError(Exception):
    """An internal failure (not a verdict): the pod is retried with backoff."""


@dataclass
class FitError(Exception):
    """No node fits: carries what each node said, for the FailedScheduling message."""

    num_all_nodes: int
    statuses: dict[str, Status]
    pre_filter_msg: str = ""
    post_filter_msg: str = ""
    unschedulable_plugins: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        return fit_error_message(self.num_all_nodes, self.statuses.values(),
                                 self.pre_filter_msg, self.post_filter_msg)


def fit_error_message(num_all: int, statuses: Iterable[Status], pre_filter_msg: str = "",
                      post_filter_msg: str = "") -> str:
    """FitError.Error(): reasons counted over nodes, `"<count> <reason>"` sorted as strings."""
    msg = NO_NODE_AVAILABLE.format(num_all) + ":"
    if pre_filter_msg:
        msg += f" {pre_filter_msg}."
    else:
        counts: dict[str, int] = {}
        for s in statuses:
            for r in s.reasons:
                counts[r] = counts.get(r, 0) + 1
        histogram = sorted(f"{n} {r}" for r, n in counts.items())
        if histogram:
            msg += f" {', '.join(histogram)}."
    if post_filter_msg:
        msg += f" {post_filter_msg}."
    return msg


@dataclass
class ScheduleResult:
    node: str
    evaluated: int
    feasible: int


@dataclass
class Algorithm:
    """schedulePod: filter, score, select; remembers where the next search starts."""

    fwk: Framework
    rng: random.Random = field(default_factory=random.Random)
    next_start_index: int = 0

    def schedule(self, state: CycleState, pod: PodInfo, snap: Snapshot) -> ScheduleResult:
        """The chosen node, or raise FitError (no node fits) / SchedulingError."""
        nodes = snap.nodes
        if not nodes:
            raise FitError(0, {})
        feasible, statuses = self.find_nodes_that_fit(state, pod, snap)
        if not feasible:
            raise FitError(len(nodes), statuses,
                           unschedulable_plugins={s.plugin for s in statuses.values()})
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, len(feasible) + len(statuses), 1)
        totals = self.fwk.run_score(state, pod, feasible, snap)
        return ScheduleResult(self.select_host(feasible, totals),
                              len(feasible) + len(statuses), len(feasible))

    def find_nodes_that_fit(self, state: CycleState, pod: PodInfo, snap: Snapshot
                            ) -> tuple[list[NodeInfo], dict[str, Status]]:
        nodes = snap.nodes
        statuses: dict[str, Status] = {}
        pre = self.fwk.run_pre_filter(state, pod, snap)
        if not pre.success:
            if pre.code is Code.ERROR:
                raise SchedulingError(f"running PreFilter plugin {pre.plugin!r}: "
                                      f"{pre.message}")
            rejected = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, pre.reasons, pre.plugin)
            raise FitError(len(nodes), {n.name: rejected for n in nodes},
                           pre_filter_msg=pre.message, unschedulable_plugins={pre.plugin})
        want = self.fwk.num_feasible_nodes_to_find(len(nodes))
        feasible: list[NodeInfo] = []
        n = len(nodes)
        start = self.next_start_index % n
        processed = 0
        for i in range(n):
            node = nodes[(start + i) % n]
            processed += 1
            s = self.fwk.run_filters(state, pod, node)
            if s.success:
                feasible.append(node)
                if len(feasible) >= want:
                    break
            elif s.code is Code.ERROR:
                raise SchedulingError(f"running {s.plugin!r} filter plugin: {s.message}")
            else:
                statuses[node.name] = s
        self.next_start_index = (start + processed) % n
        return feasible, statuses

    def select_host(self, nodes: Sequence[NodeInfo], totals: Sequence[int]) -> str:
        """The highest total; among equals each is equally likely (reservoir sampling)."""
        best, best_score, ties = "", -1, 0
        for node, score in zip(nodes, totals, strict=True):
            if score > best_score:
                best, best_score, ties = node.name, score, 1
            elif score == best_score:
                ties += 1
                if self.rng.random() * ties < 1:
                    best = node.name
        return best
