"""Deployment status: counts and the Available/Progressing conditions in Kubernetes' words."""

from __future__ import annotations

import pytest

from controlplane.controllers.deployment import status as s
from controlplane.controllers.replicaset import format_time
from jota.api.meta import Obj

T0 = 1_800_000_000.0


def dep(replicas: int = 3, paused: bool = False, deadline: int | None = 600,
        conditions: list[Obj] | None = None, old_status: Obj | None = None,
        generation: int = 2) -> Obj:
    spec: Obj = {"replicas": replicas, "paused": paused,
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}}
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    st = dict(old_status or {})
    if conditions:
        st["conditions"] = conditions
    return {"metadata": {"name": "web", "generation": generation}, "spec": spec, "status": st}


def rs(name: str, replicas: int, ready: int, available: int) -> Obj:
    return {"metadata": {"name": name}, "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "readyReplicas": ready,
                       "availableReplicas": available}}


def cond(kind: str, status: str, reason: str, t: float = T0 - 100) -> Obj:
    return {"type": kind, "status": status, "lastUpdateTime": format_time(t),
            "lastTransitionTime": format_time(t), "reason": reason, "message": "m"}


def conditions(st: Obj) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in st["conditions"]}


def test_counts_are_summed_and_zeros_left_out() -> None:
    new, old = rs("web-new", 2, 1, 1), rs("web-old", 1, 1, 1)
    st = s.calculate_status(dep(), [old, new], new, T0)
    assert {k: v for k, v in st.items() if k != "conditions"} == {
        "observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "readyReplicas": 2,
        "availableReplicas": 2, "unavailableReplicas": 1}
    empty = s.calculate_status(dep(replicas=0), [], None, T0)
    assert set(empty) == {"observedGeneration", "conditions"}


@pytest.mark.parametrize(("available", "expected"), [
    (2, ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")),
    (1, ("False", "MinimumReplicasUnavailable",
         "Deployment does not have minimum availability.")),
])
def test_available_condition(available: int, expected: tuple[str, str, str]) -> None:
    new = rs("web-new", 3, available, available)
    assert conditions(s.calculate_status(dep(), [new], new, T0))["Available"] == expected


def test_complete_rollout_is_new_replica_set_available() -> None:
    new = rs("web-new", 3, 3, 3)
    d = dep(conditions=[cond("Progressing", "True", "ReplicaSetUpdated")])
    st = s.rollout_status(d, [new], new, T0)
    assert conditions(st)["Progressing"] == (
        "True", "NewReplicaSetAvailable", 'ReplicaSet "web-new" has successfully progressed.')
    assert s.requeue_after(d, st, T0) is None


def test_progress_updates_the_condition_but_keeps_its_transition_time() -> None:
    new = rs("web-new", 2, 1, 1)
    d = dep(conditions=[cond("Progressing", "True", "NewReplicaSetCreated")],
            old_status={"replicas": 3, "updatedReplicas": 1})
    st = s.rollout_status(d, [rs("web-old", 1, 1, 1), new], new, T0)
    (progressing,) = [c for c in st["conditions"] if c["type"] == "Progressing"]
    assert progressing["reason"] == "ReplicaSetUpdated"
    assert progressing["message"] == 'ReplicaSet "web-new" is progressing.'
    assert progressing["lastUpdateTime"] == format_time(T0)
    assert progressing["lastTransitionTime"] == format_time(T0 - 100)
    assert s.requeue_after(d, st, T0) == 601.0


def test_no_progress_past_the_deadline_times_out() -> None:
    new = rs("web-new", 1, 0, 0)
    st0 = {"replicas": 1, "updatedReplicas": 1, "observedGeneration": 2}
    d = dep(deadline=60, conditions=[cond("Progressing", "True", "NewReplicaSetCreated",
                                          T0 - 30)], old_status=st0)
    assert conditions(s.rollout_status(d, [new], new, T0))["Progressing"][1] == \
        "NewReplicaSetCreated"  # not yet
    late = s.rollout_status(d, [new], new, T0 + 31)
    assert conditions(late)["Progressing"] == (
        "False", "ProgressDeadlineExceeded", 'ReplicaSet "web-new" has timed out progressing.')


def test_without_a_deadline_there_is_no_progressing_condition() -> None:
    new = rs("web-new", 3, 3, 3)
    d = dep(deadline=None, conditions=[cond("Progressing", "True", "ReplicaSetUpdated")])
    assert "Progressing" not in conditions(s.rollout_status(d, [new], new, T0))


def test_replica_failures_are_surfaced() -> None:
    new = rs("web-new", 3, 0, 0)
    new["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True",
                                    "lastTransitionTime": format_time(T0),
                                    "reason": "FailedCreate", "message": "quota"}]
    st = s.rollout_status(dep(), [new], new, T0)
    assert conditions(st)["ReplicaFailure"] == ("True", "FailedCreate", "quota")


@pytest.mark.parametrize(("paused", "current", "expected"), [
    (True, None, ("Unknown", "DeploymentPaused", "Deployment is paused")),
    (True, "DeploymentPaused", None),
    (False, "DeploymentPaused", ("Unknown", "DeploymentResumed", "Deployment is resumed")),
    (False, "ReplicaSetUpdated", None),
    (True, "ProgressDeadlineExceeded", None),
])
def test_pause_and_resume_conditions(paused: bool, current: str | None,
                                     expected: tuple[str, str, str] | None) -> None:
    conds = [cond("Progressing", "Unknown", current)] if current else None
    c = s.paused_condition(dep(paused=paused, conditions=conds), T0)
    assert (None if c is None else (c["status"], c["reason"], c["message"])) == expected


def test_set_condition_keeps_an_unchanged_one() -> None:
    st: Obj = {"conditions": [cond("Available", "True", "MinimumReplicasAvailable")]}
    s.set_condition(st, s.new_condition("Available", "True", "MinimumReplicasAvailable",
                                        "x", T0))
    assert st["conditions"][0]["lastUpdateTime"] == format_time(T0 - 100)
