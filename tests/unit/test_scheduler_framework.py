"""One scheduling cycle: filters, scores, the pick, and the FailedScheduling message."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.scheduler.config import Profile
from controlplane.scheduler.framework import (
    Algorithm,
    Code,
    CycleState,
    FitError,
    Framework,
    Status,
    default_normalize,
    fit_error_message,
    unresolvable,
    unschedulable,
)
from controlplane.scheduler.registry import build_framework
from controlplane.scheduler.snapshot import PodInfo, SchedulerCache, Snapshot
from jota.api.meta import Obj
from tests.unit.scheduler_helpers import node, pod

CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.mark.parametrize(("n", "statuses", "pre", "post", "message"), [
    (3, [unresolvable("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
         unschedulable("Insufficient cpu"), unschedulable("Insufficient cpu")], "", "",
     "0/3 nodes are available: 1 node(s) had untolerated taint "
     "{node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."),
    (2, [unschedulable("Insufficient cpu", "Insufficient memory"),
         unschedulable("Insufficient memory")], "", "",
     "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory."),
    # sorted as strings, as Kubernetes does: "10 ..." before "2 ..."
    (12, [unschedulable("Insufficient cpu")] * 10 + [unschedulable("Too many pods")] * 2, "",
     "", "0/12 nodes are available: 10 Insufficient cpu, 2 Too many pods."),
    (3, [unresolvable("x")] * 3, "pod has unbound immediate PersistentVolumeClaims",
     "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
     "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: "
     "0/3 nodes are available: 3 Preemption is not helpful for scheduling.."),
    (0, [], "", "", "0/0 nodes are available:"),
])
def test_fit_error_message(n: int, statuses: list[Status], pre: str, post: str,
                           message: str) -> None:
    assert fit_error_message(n, statuses, pre, post) == message


@pytest.mark.parametrize(("scores", "reverse", "out"), [
    ([0, 5, 10], False, [0, 50, 100]),
    ([0, 5, 10], True, [100, 50, 0]),
    ([0, 0], True, [100, 100]),
    ([0, 0], False, [0, 0]),
    ([3, 7], False, [42, 100]),
])
def test_default_normalize(scores: list[int], reverse: bool, out: list[int]) -> None:
    default_normalize(scores, reverse=reverse)
    assert scores == out


@pytest.mark.parametrize(("nodes", "pct", "want"), [
    (50, 0, 50), (100, 0, 100), (1000, 0, 420), (5000, 0, 500), (1000, 100, 1000),
    (1000, 10, 100), (10000, 0, 500),
])
def test_num_feasible_nodes_to_find(nodes: int, pct: int, want: int) -> None:
    assert Framework(percentage_of_nodes_to_score=pct).num_feasible_nodes_to_find(nodes) == want


def default_fwk(**kw: Any) -> Framework:
    return build_framework(Profile(**kw))


def schedule(snap: Snapshot, p: Obj, fwk: Framework | None = None, seed: int = 0) -> str:
    fwk = fwk or default_fwk()
    return Algorithm(fwk, random.Random(seed)).schedule(CycleState(), PodInfo.of(p), snap).node


def test_failed_scheduling_message_of_a_full_cycle() -> None:
    snap = Snapshot.build([node("cp", "8", taints=[CP_TAINT]), node("w1", "1"),
                           node("w2", "1")])
    fwk = default_fwk()
    with pytest.raises(FitError) as e:
        Algorithm(fwk).schedule(CycleState(), PodInfo.of(pod("p", "2")), snap)
    assert str(e.value) == ("0/3 nodes are available: 1 node(s) had untolerated taint "
                            "{node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.")
    assert e.value.statuses["w1"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE  # 2 > 1 cpu
    assert e.value.unschedulable_plugins == {"TaintToleration", "NodeResourcesFit"}


def test_least_allocated_spreads_and_most_allocated_packs() -> None:
    snap = Snapshot.build([node("a"), node("b")], [pod("x", "2", "2Gi", node_name="a")])
    assert schedule(snap, pod("p", "1", "1Gi")) == "b"
    packing = default_fwk(fit_strategy="MostAllocated")
    assert schedule(snap, pod("p", "1", "1Gi"), packing) == "a"


def test_ties_are_broken_at_random() -> None:
    snap = Snapshot.build([node("a"), node("b"), node("c")])
    picked = {schedule(snap, pod("p", "1"), seed=s) for s in range(30)}
    assert picked == {"a", "b", "c"}


def test_replicas_spread_over_nodes_by_default() -> None:
    """Six pods of one ReplicaSet land two per node, as with kube-scheduler."""
    from jota.api.selectors import from_set
    cache = SchedulerCache()
    for n in ("a", "b", "c"):
        cache.add_node(node(n, "8", "16Gi"))
    fwk = build_framework(Profile(), default_selector=lambda pi: from_set({"app": "web"}))
    algo = Algorithm(fwk, random.Random(1))
    for i in range(6):
        pi = PodInfo.of(pod(f"web-{i}", "100m", "64Mi", labels={"app": "web"}))
        cache.assume_pod(pi, algo.schedule(CycleState(), pi, cache.snapshot()).node)
    assert sorted(len(n.pods) for n in cache.snapshot().nodes) == [2, 2, 2]


def test_scan_resumes_where_the_last_one_stopped() -> None:
    snap = Snapshot.build([node(f"n{i:03}") for i in range(200)])
    fwk = default_fwk()
    fwk.percentage_of_nodes_to_score = 50  # 100 of 200 nodes per cycle
    algo = Algorithm(fwk)
    algo.schedule(CycleState(), PodInfo.of(pod("p")), snap)
    assert algo.next_start_index == 100


NODE = st.tuples(st.integers(0, 4000), st.integers(0, 8), st.integers(0, 4))
POD = st.tuples(st.integers(0, 2000), st.integers(0, 4))


@settings(max_examples=60, deadline=None)
@given(st.lists(NODE, min_size=1, max_size=6), st.lists(POD, max_size=25),
       st.sampled_from(["LeastAllocated", "MostAllocated"]))
def test_scheduling_never_overcommits_a_node(nodes: list[tuple[int, int, int]],
                                             pods: list[tuple[int, int]],
                                             strategy: str) -> None:
    cache = SchedulerCache()
    for i, (cpu, mem_gi, max_pods) in enumerate(nodes):
        cache.add_node(node(f"n{i}", f"{cpu}m", f"{mem_gi}Gi", max_pods))
    algo = Algorithm(default_fwk(fit_strategy=strategy), random.Random(0))
    for j, (cpu, mem_gi) in enumerate(pods):
        pi = PodInfo.of(pod(f"p{j}", f"{cpu}m", f"{mem_gi}Gi"))
        try:
            result = algo.schedule(CycleState(), pi, cache.snapshot())
        except FitError:
            continue
        cache.assume_pod(pi, result.node)
    for n in cache.snapshot().nodes:
        assert n.requested.milli_cpu <= n.allocatable.milli_cpu
        assert n.requested.memory <= n.allocatable.memory
        assert len(n.pods) <= n.allocatable.allowed_pods
