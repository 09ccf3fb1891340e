"""PodDisruptionBudget status (the disruption controller) and the eviction decision."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.apiserver.eviction import decide, delete_options
from controlplane.controllers.disruption import compute_status, status_changed
from controlplane.controllers.replicaset import format_time
from jota.api import errors

NOW = 1_700_000_000.0
WEB = {"app": "web"}


def pod(name: str, *, ready: bool = True, owner: str | None = "rs-uid",
        deleting: bool = False, phase: str = "Running") -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "ns", "labels": dict(WEB)}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                  "name": "rs", "uid": owner, "controller": True}]
    if deleting:
        md["deletionTimestamp"] = "2023-11-14T22:13:20Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(status: dict[str, Any] | None = None, generation: int = 1,
        **spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                           "metadata": {"name": "b", "namespace": "ns",
                                        "generation": generation},
                           "spec": {"selector": {"matchLabels": WEB}, **spec}}
    if status is not None:
        doc["status"] = {"observedGeneration": 1, **status}
    return doc


def scale(n: int) -> Any:
    return lambda ref, ns: (ref["uid"], n) if ref.get("uid") == "rs-uid" else None


def pods(*ready: bool) -> list[dict[str, Any]]:
    return [pod(f"p{i}", ready=r) for i, r in enumerate(ready)]


@pytest.mark.parametrize("spec,ready,replicas,expected", [
    # (currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed)
    ({"minAvailable": 3}, (True, True, True), 3, (3, 3, 3, 0)),
    ({"minAvailable": 2}, (True, True, True), 3, (3, 2, 3, 1)),
    ({"minAvailable": 2}, (True, True, False), 3, (2, 2, 3, 0)),
    ({"minAvailable": "50%"}, (True, True, True), 3, (3, 2, 3, 1)),   # ceil(1.5) = 2
    ({"minAvailable": "50%"}, (True, True, True), 4, (3, 2, 4, 1)),   # scale, not pods
    ({"maxUnavailable": 1}, (True, True, True), 3, (3, 2, 3, 1)),
    ({"maxUnavailable": 1}, (True, True, False), 3, (2, 2, 3, 0)),
    ({"maxUnavailable": "100%"}, (True, True), 2, (2, 0, 2, 2)),
    ({"maxUnavailable": "34%"}, (True, True, True), 3, (3, 1, 3, 2)),  # ceil(1.02) = 2
    ({"maxUnavailable": 0}, (True, True), 2, (2, 2, 2, 0)),
    ({"minAvailable": 1}, (), 0, (0, 1, 0, 0)),
])
def test_status_from_pods_and_scale(spec: dict[str, Any], ready: tuple[bool, ...],
                                    replicas: int, expected: tuple[int, ...]) -> None:
    status, recheck = compute_status(pdb(**spec), pods(*ready), scale(replicas), NOW)
    assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"],
            status["disruptionsAllowed"]) == expected
    cond = status["conditions"][0]
    allowed = expected[3] > 0
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "DisruptionAllowed", "True" if allowed else "False",
        "SufficientPods" if allowed else "InsufficientPods")
    assert status["observedGeneration"] == 1 and recheck is None


def test_pods_being_deleted_or_just_evicted_are_not_healthy() -> None:
    just = format_time(NOW - 10)
    long_ago = format_time(NOW - 500)
    budget = pdb({"disruptedPods": {"p0": just, "p1": long_ago}}, minAvailable=1)
    current = [pod("p0"), pod("p1"), pod("p2", deleting=True), pod("p3")]
    status, recheck = compute_status(budget, current, scale(4), NOW)
    assert status["currentHealthy"] == 2            # p1 (expired note) and p3
    assert status["disruptedPods"] == {"p0": just}  # the expired note is dropped
    assert recheck == pytest.approx(NOW - 10 + 120)


def test_a_percentage_without_a_known_controller_fails_safe() -> None:
    status, _ = compute_status(pdb({"disruptionsAllowed": 3}, maxUnavailable="50%"),
                               [pod("p0", owner="other")], scale(1), NOW)
    assert status["disruptionsAllowed"] == 0
    assert status["conditions"][0]["reason"] == "SyncFailed"


def test_the_transition_time_moves_only_with_the_condition() -> None:
    first, _ = compute_status(pdb(minAvailable=1), pods(True, True), scale(2), NOW)
    again, _ = compute_status(pdb(first, minAvailable=1), pods(True, True), scale(2),
                              NOW + 60)
    assert not status_changed(first, again)
    assert again["conditions"][0]["lastTransitionTime"] == format_time(NOW)
    blocked, _ = compute_status(pdb(first, minAvailable=1), pods(True, False), scale(2),
                                NOW + 60)
    assert first["conditions"][0]["status"] == "True"  # the input is not changed
    assert blocked["conditions"][0]["lastTransitionTime"] == format_time(NOW + 60)


# ---- the eviction decision ------------------------------------------------------------------


STAMP = "2023-11-14T22:13:20Z"


def test_eviction_takes_one_disruption_and_notes_the_pod() -> None:
    budget = pdb({"currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1},
                 minAvailable=2)
    decision = decide(pod("p0"), [budget], STAMP)
    assert decision.pdb is not None
    status = decision.pdb["status"]
    assert status["disruptionsAllowed"] == 0
    assert status["disruptedPods"] == {"p0": STAMP}
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    assert "disruptedPods" not in budget["status"]  # the input is not changed


@pytest.mark.parametrize("budget", [
    pdb({"currentHealthy": 3, "desiredHealthy": 3, "disruptionsAllowed": 0}, minAvailable=3),
    pdb({"disruptionsAllowed": 1}, generation=2, minAvailable=1),  # not yet observed
])
def test_eviction_is_refused_with_429(budget: dict[str, Any]) -> None:
    with pytest.raises(errors.TooManyRequests) as e:
        decide(pod("p0"), [budget], STAMP)
    assert e.value.message == "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.mark.parametrize("target,budgets", [
    (pod("p0"), []),                                              # no budget
    (pod("p0", phase="Pending"), ["blocked"]),                    # not running yet
    (pod("p0", phase="Succeeded"), ["blocked"]),                  # finished
    (pod("p0", deleting=True), ["blocked"]),                      # already going
    (pod("p0", ready=False), ["healthy-budget"]),                 # unready, budget holds
])
def test_eviction_without_spending_a_disruption(target: dict[str, Any],
                                                budgets: list[str]) -> None:
    made = {"blocked": pdb({"currentHealthy": 3, "desiredHealthy": 3,
                            "disruptionsAllowed": 0}, minAvailable=3),
            "healthy-budget": pdb({"currentHealthy": 2, "desiredHealthy": 2,
                                   "disruptionsAllowed": 0}, minAvailable=2)}
    assert decide(target, [made[b] for b in budgets], STAMP).pdb is None


def test_two_budgets_are_an_internal_error() -> None:
    budget = pdb({"disruptionsAllowed": 1}, minAvailable=1)
    with pytest.raises(errors.InternalError) as e:
        decide(pod("p0"), [budget, {**budget, "metadata": {**budget["metadata"],
                                                           "name": "c"}}], STAMP)
    assert e.value.message == ("Internal error occurred: This pod has more than one "
                               "PodDisruptionBudget, which the eviction subresource does "
                               "not support.")


def test_delete_options_of_an_eviction() -> None:
    assert delete_options({"deleteOptions": {"gracePeriodSeconds": 0}}) == {
        "grace_period": 0, "propagation": "", "precondition_rv": "", "dry_run": False}
    assert delete_options({})["grace_period"] == -1
