"""The rollout arithmetic: rolling steps, recreate, proportional scaling, and a simulated
cluster in which no rollout ever breaks its maxSurge/maxUnavailable bounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.controllers.deployment import sync
from controlplane.controllers.replicaset import format_time
from jota.api.meta import Obj

T0 = 1_800_000_000.0


def dep(replicas: int = 10, surge: Any = "25%", unavailable: Any = "25%",
        strategy: str = "RollingUpdate") -> Obj:
    spec: Obj = {"replicas": replicas, "strategy": {"type": strategy}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "web", "generation": 1}, "spec": spec}


def rs(name: str, replicas: int, available: int | None = None, created: float = T0,
       actual: int | None = None, desired: int | None = None, max_r: int | None = None
       ) -> Obj:
    ann = {}
    if desired is not None:
        ann["deployment.kubernetes.io/desired-replicas"] = str(desired)
    if max_r is not None:
        ann["deployment.kubernetes.io/max-replicas"] = str(max_r)
    return {"metadata": {"name": name, "uid": name, "creationTimestamp": format_time(created),
                         "annotations": ann},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas if actual is None else actual,
                       "availableReplicas": replicas if available is None else available}}


@pytest.mark.parametrize(("surge", "unavailable", "desired", "expected"), [
    ("25%", "25%", 10, (3, 2)),
    ("25%", "25%", 3, (1, 0)),
    ("25%", "25%", 1, (1, 0)),
    (0, 0, 5, (0, 1)),  # never both zero: the rollout must be able to move
    ("0%", "0%", 5, (0, 1)),
    (2, "50%", 5, (2, 2)),
    ("100%", 0, 4, (4, 0)),
])
def test_fenceposts_round_surge_up_and_unavailable_down(surge: Any, unavailable: Any,
                                                        desired: int,
                                                        expected: tuple[int, int]) -> None:
    assert sync.resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert sync.max_unavailable(dep(replicas=2, surge=0, unavailable=5)) == 2
    assert sync.max_unavailable(dep(strategy="Recreate")) == 0
    assert sync.max_surge(dep(strategy="Recreate")) == 0


@pytest.mark.parametrize(("d", "old", "new", "expected"), [
    # a fresh rollout of 10 with surge 3: the new set may take 3
    (dep(), [rs("old", 10)], rs("new", 0), {"new": 3}),
    # all surge used: wait for old pods to go
    (dep(), [rs("old", 10)], rs("new", 3, available=0), {}),
    # old scaled down to 7: three more fit
    (dep(), [rs("old", 7)], rs("new", 3, available=0), {"new": 6}),
    # old scaled down but its pods are still there (status lags): wait
    (dep(), [rs("old", 7, actual=10)], rs("new", 3, available=0), {}),
    # never above replicas
    (dep(), [rs("old", 0)], rs("new", 9), {"new": 10}),
    # above replicas (scaled down): straight to replicas
    (dep(replicas=4), [], rs("new", 6), {"new": 4}),
    (dep(), [], rs("new", 10), {}),
])
def test_reconcile_new_replica_set(d: Obj, old: list[Obj], new: Obj,
                                   expected: dict[str, int]) -> None:
    assert sync.reconcile_new_replica_set(d, [*old, new], new) == expected


@pytest.mark.parametrize(("d", "old", "new", "expected"), [
    # new pods not available yet: only maxUnavailable (2) of the old may go
    (dep(), [rs("old", 10)], rs("new", 3, available=0), {"old": 8}),
    # 3 new available: 13 available, 8 needed
    (dep(), [rs("old", 10)], rs("new", 3, available=3), {"old": 5}),
    # unhealthy old pods go first (at most 13 - 8 - 3 new unavailable = 2 of them)
    (dep(), [rs("old", 10, available=6)], rs("new", 3, available=0), {"old": 8}),
    # ... then healthy ones while 8 stay available: 6 old + 3 new - 8 = 1 more
    (dep(), [rs("old", 10, available=6)], rs("new", 3, available=3), {"old": 5}),
    # maxUnavailable 0: only what the new set made available may go
    (dep(replicas=3, surge=1, unavailable=0), [rs("old", 3)], rs("new", 1, available=0), {}),
    (dep(replicas=3, surge=1, unavailable=0), [rs("old", 3)], rs("new", 1, available=1),
     {"old": 2}),
    # old sets go oldest first
    (dep(replicas=4, surge=0, unavailable=2),
     [rs("b", 2, created=T0 + 5), rs("a", 2, created=T0)], rs("new", 0), {"a": 0}),
    # pods above an old set's spec are not counted as available
    (dep(replicas=3, surge=1, unavailable=0), [rs("old", 2, actual=3, available=3)],
     rs("new", 1, available=1), {}),
])
def test_reconcile_old_replica_sets(d: Obj, old: list[Obj], new: Obj,
                                    expected: dict[str, int]) -> None:
    assert sync.reconcile_old_replica_sets(d, [*old, new], old, new) == expected


def test_rolling_step_scales_up_before_down() -> None:
    d = dep(replicas=3, surge=1, unavailable=1)
    step = sync.rolling_step(d, rs("new", 0), [rs("old", 3)])
    assert (step.phase, step.sizes) == ("new", {"new": 1})
    step = sync.rolling_step(d, rs("new", 1, available=0), [rs("old", 3)])
    assert (step.phase, step.sizes) == ("old", {"old": 2})
    step = sync.rolling_step(d, rs("new", 3), [rs("old", 0)])
    assert (step.phase, step.sizes) == ("", {})


def test_recreate_scales_all_old_down_and_waits_for_their_pods() -> None:
    assert sync.scale_down_old_for_recreate([rs("a", 3), rs("b", 0), rs("c", 1)]) == \
        {"a": 0, "c": 0}
    new = rs("new", 0)
    assert sync.old_pods_running(new, [rs("a", 0, actual=1)], {})
    running = {"phase": "Running"}
    assert sync.old_pods_running(new, [rs("a", 0, actual=0)], {"a": [{"status": running}]})
    done = {"status": {"phase": "Succeeded"}}
    assert not sync.old_pods_running(new, [rs("a", 0, actual=0)], {"a": [done]})
    assert not sync.old_pods_running(new, [rs("a", 0, actual=0)],
                                     {"new": [{"status": running}]})


def test_scaling_event_is_a_set_sized_for_another_replicas() -> None:
    d = dep(replicas=5)
    assert not sync.is_scaling_event(d, [rs("a", 5, desired=5)])
    assert sync.is_scaling_event(d, [rs("a", 3, desired=3)])
    assert not sync.is_scaling_event(d, [rs("a", 0, desired=3)])  # inactive


@pytest.mark.parametrize(("d", "new", "old", "expected"), [
    # one active set: it simply takes the new size
    (dep(replicas=5), rs("new", 3, desired=3), [rs("old", 0)], {"new": 5}),
    # mid-rollout 10 -> 20 (surge 3 -> 5, max 13 -> 25): 8+5 grow in proportion
    (dep(replicas=20), rs("new", 5, created=T0 + 9, desired=10, max_r=13),
     [rs("old", 8, desired=10, max_r=13)], {"old": 15, "new": 10}),
    # and down, 10 -> 5 (max 13 -> 7)
    (dep(replicas=5), rs("new", 5, created=T0 + 9, desired=10, max_r=13),
     [rs("old", 8, desired=10, max_r=13)], {"old": 4, "new": 3}),
])
def test_proportional_scaling(d: Obj, new: Obj, old: list[Obj],
                              expected: dict[str, int]) -> None:
    plan = sync.proportional_scale(d, new, old)
    assert plan.sizes == expected
    total = sum(plan.sizes.values())
    if len(plan.sizes) > 1:
        assert total == d["spec"]["replicas"] + sync.max_surge(d)


# ---- a simulated cluster --------------------------------------------------------------------


@dataclass
class SimRS:
    name: str
    spec: int
    created: float
    pods: list[bool] = field(default_factory=list)  # True = ready
    status_replicas: int = 0
    status_available: int = 0

    def obj(self) -> Obj:
        return {"metadata": {"name": self.name, "uid": self.name,
                             "creationTimestamp": format_time(self.created)},
                "spec": {"replicas": self.spec},
                "status": {"replicas": self.status_replicas,
                           "availableReplicas": self.status_available}}

    def sync(self) -> None:
        """The ReplicaSet controller: status from the pods it saw, then create or delete
        (unready pods first), as Kubernetes computes status before its writes land."""
        self.status_replicas = len(self.pods)
        self.status_available = sum(self.pods)
        if len(self.pods) < self.spec:
            self.pods += [False] * (self.spec - len(self.pods))
        elif len(self.pods) > self.spec:
            self.pods.sort()  # unready (False) first
            del self.pods[: len(self.pods) - self.spec]


class Cluster:
    def __init__(self, replicas: int, surge: Any, unavailable: Any) -> None:
        self.d = dep(replicas, surge, unavailable)
        self.old = SimRS("old", replicas, T0, [True] * replicas, replicas, replicas)
        self.new: SimRS | None = None
        self.surge, self.unavailable = sync.resolve_fenceposts(surge, unavailable, replicas)

    def sets(self) -> list[SimRS]:
        return [self.old] + ([self.new] if self.new else [])

    def deployment_sync(self) -> None:
        if self.new is None:
            new = SimRS("new", 0, T0 + 1)
            new.spec = sync.new_rs_new_replicas(self.d, [self.old.obj(), new.obj()],
                                                new.obj())
            self.new = new
            return
        step = sync.rolling_step(self.d, self.new.obj(), [self.old.obj()])
        for s in self.sets():
            s.spec = step.sizes.get(s.name, s.spec)

    def kubelet(self, i: int) -> None:
        if self.new is not None and self.new.pods:
            self.new.pods[i % len(self.new.pods)] = True

    def act(self, action: int) -> None:
        if action == 0:
            self.deployment_sync()
        elif action == 1:
            self.old.sync()
        elif action == 2 and self.new is not None:
            self.new.sync()
        else:
            self.kubelet(action)

    def check(self) -> None:
        replicas = self.d["spec"]["replicas"]
        total = sum(len(s.pods) for s in self.sets())
        ready = sum(sum(s.pods) for s in self.sets())
        assert total <= replicas + self.surge, (total, replicas, self.surge)
        assert ready >= replicas - self.unavailable, (ready, replicas, self.unavailable)

    def done(self) -> bool:
        return (self.new is not None and self.old.spec == 0 and not self.old.pods and
                self.new.spec == len(self.new.pods) == sum(self.new.pods) ==
                self.d["spec"]["replicas"])


bound = st.one_of(st.integers(0, 4), st.sampled_from(["0%", "10%", "25%", "50%", "100%"]))


@settings(max_examples=300, deadline=None)
@given(replicas=st.integers(1, 12), surge=bound, unavailable=bound,
       actions=st.lists(st.one_of(st.sampled_from([0, 1, 2]), st.integers(3, 40)),
                        max_size=200))
def test_a_rollout_never_breaks_its_bounds_and_always_converges(
        replicas: int, surge: Any, unavailable: Any, actions: list[int]) -> None:
    cluster = Cluster(replicas, surge, unavailable)
    for action in actions:
        cluster.act(action)
        cluster.check()
    # From any state, fair scheduling finishes the rollout.
    for i in range(20 * (replicas + 2)):
        if cluster.done():
            break
        for action in (0, 1, 2, 3 + i):
            cluster.act(action)
            cluster.check()
    assert cluster.done(), [vars(s) for s in cluster.sets()]
