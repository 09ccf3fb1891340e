"""DefaultPreemption: which node to nominate and which pods to evict there."""

from __future__ import annotations

import pytest

from controlplane.scheduler.config import Profile
from controlplane.scheduler.framework import Algorithm, CycleState, FitError, Framework
from controlplane.scheduler.preemption import DefaultPreemption
from controlplane.scheduler.registry import build_framework
from controlplane.scheduler.snapshot import PodInfo, Snapshot
from jota.api.meta import Obj
from tests.unit.scheduler_helpers import node, pod

CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def _preempt(snap: Snapshot, p: Obj) -> tuple[FitError, str, list[str], str]:
    fwk: Framework = build_framework(Profile())
    state, pi = CycleState(), PodInfo.of(p)
    with pytest.raises(FitError) as e:
        Algorithm(fwk).schedule(state, pi, snap)
    plugin = fwk.post_filters[0]
    assert isinstance(plugin, DefaultPreemption)
    r = plugin.post_filter(state, pi, snap, e.value.statuses)
    if not r.status.success:
        e.value.post_filter_msg = r.status.message
    return e.value, r.nominated_node, sorted(v.meta["name"] for v in r.victims), str(e.value)


def test_evicts_as_few_and_as_unimportant_pods_as_it_can() -> None:
    snap = Snapshot.build(
        [node("a", "2"), node("b", "2")],
        [pod("a-low", "1", priority=1, node_name="a"),
         pod("a-mid", "1", priority=5, node_name="a"),
         pod("b-mid1", "1", priority=5, node_name="b"),
         pod("b-mid2", "1", priority=5, node_name="b")])
    _, nominated, victims, message = _preempt(snap, pod("vip", "1", priority=100))
    assert (nominated, victims) == ("a", ["a-low"])
    assert message == "0/2 nodes are available: 2 Insufficient cpu."


def test_no_lower_priority_pods_means_no_preemption() -> None:
    snap = Snapshot.build(
        [node("cp", "8", taints=[CP_TAINT]), node("w1", "1"), node("w2", "1")],
        [pod("x", "1", node_name="w1"), pod("y", "1", node_name="w2")])
    _, nominated, victims, message = _preempt(snap, pod("p", "1"))
    assert (nominated, victims) == ("", [])
    assert message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes "
        "are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims "
        "found for incoming pod..")  # sic: Kubernetes prints two dots


def test_evicting_everything_would_not_be_enough() -> None:
    snap = Snapshot.build([node("a", "2")], [pod("x", "1", priority=0, node_name="a")])
    _, nominated, _, message = _preempt(snap, pod("big", "2500m", priority=10))
    assert nominated == ""
    assert message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes "
                       "are available: 1 Preemption is not helpful for scheduling..")


def test_preemption_policy_never() -> None:
    snap = Snapshot.build([node("a", "1")], [pod("x", "1", priority=0, node_name="a")])
    polite = pod("p", "1", priority=10, preemptionPolicy="Never")
    _, nominated, _, message = _preempt(snap, polite)
    assert nominated == ""
    assert message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: not "
                       "eligible due to preemptionPolicy=Never..")


def test_priority_comes_from_what_admission_set() -> None:
    # The apiserver's Priority admission resolves priorityClassName into spec.priority
    # and spec.preemptionPolicy; the scheduler reads only those.
    hi = PodInfo.of(pod("p", priorityClassName="high", priority=1000))
    plain = PodInfo.of(pod("q"))
    polite = PodInfo.of(pod("s", priority=5, preemptionPolicy="Never"))
    assert (hi.priority, plain.priority, polite.priority) == (1000, 0, 5)
    assert (plain.preemption_policy, polite.preemption_policy) == ("PreemptLowerPriority",
                                                                   "Never")
