"""The node lifecycle controller's decisions: when a silent node turns Unknown, which
taints follow its Ready condition, and when a pod on a tainted node is evicted."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.apiserver.admission import prepare_for_create
from controlplane.controllers.nodelifecycle import (
    NOT_READY,
    UNREACHABLE,
    NodeLifecycleSettings,
    Probe,
    desired_taints,
    eviction_time,
    heartbeat_of,
    not_ready_status,
    observe,
    stale_conditions,
)
from controlplane.controllers.replicaset import format_time, parse_time
from jota.api.registry import by_plural

T0 = parse_time("2026-01-01T00:00:00Z") or 0.0
SETTINGS = NodeLifecycleSettings(default_unreachable_toleration_seconds=2)


def node(ready: str | None = "True", taints: list[dict[str, Any]] | None = None,
         heartbeat: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    conditions = [] if ready is None else [
        {"type": "Ready", "status": ready, "reason": "KubeletReady",
         "lastHeartbeatTime": heartbeat, "lastTransitionTime": heartbeat},
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"}]
    return {"metadata": {"name": "n1"}, "spec": {"taints": taints} if taints else {},
            "status": {"conditions": conditions}}


def lease(renew: str) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "namespace": "kube-node-lease"},
            "spec": {"renewTime": renew}}


def test_a_renewed_lease_resets_the_clock_and_a_silent_one_does_not() -> None:
    p = observe(None, heartbeat_of(node(), lease("a")), T0)
    assert observe(p, heartbeat_of(node(), lease("a")), T0 + 30) is p
    assert observe(p, heartbeat_of(node(), lease("b")), T0 + 30).observed_at == T0 + 30


@pytest.mark.parametrize("silent,changes", [(39.0, False), (40.0, False), (41.0, True)])
def test_ready_goes_unknown_after_the_grace_period(silent: float, changes: bool) -> None:
    conds = stale_conditions(node(), Probe(("a", ""), T0), T0 + silent, 40.0)
    assert (conds is not None) == changes
    if conds:
        ready = next(c for c in conds if c["type"] == "Ready")
        assert ready["status"] == "Unknown"
        assert ready["reason"] == "NodeStatusUnknown"
        assert ready["message"] == "Kubelet stopped posting node status."
        assert ready["lastTransitionTime"] == format_time(T0 + silent)
        assert ready["lastHeartbeatTime"] == "2026-01-01T00:00:00Z"
        mem = next(c for c in conds if c["type"] == "MemoryPressure")
        assert mem["status"] == "Unknown"


def test_an_unknown_node_is_left_alone_and_a_never_reported_one_is_marked() -> None:
    assert stale_conditions(node("Unknown"), Probe(("", ""), T0), T0 + 99, 40.0) == [
        c if c["type"] == "Ready" else {**c, "status": "Unknown",
                                        "reason": "NodeStatusUnknown",
                                        "message": "Kubelet stopped posting node status.",
                                        "lastTransitionTime": format_time(T0 + 99)}
        for c in node("Unknown")["status"]["conditions"]]
    conds = stale_conditions(node(None), Probe(("", ""), T0), T0 + 99, 40.0)
    assert conds is not None
    assert conds[0]["reason"] == "NodeStatusNeverUpdated"
    assert conds[0]["message"] == "Kubelet never posted node status."


OTHER = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


@pytest.mark.parametrize("ready,before,after", [
    ("True", [OTHER], [OTHER]),
    ("Unknown", [OTHER], [OTHER, {"key": UNREACHABLE, "effect": "NoSchedule"},
                          {"key": UNREACHABLE, "effect": "NoExecute",
                           "timeAdded": "2026-01-01T00:00:05Z"}]),
    ("False", [], [{"key": NOT_READY, "effect": "NoSchedule"},
                   {"key": NOT_READY, "effect": "NoExecute",
                    "timeAdded": "2026-01-01T00:00:05Z"}]),
    ("True", [{"key": UNREACHABLE, "effect": "NoExecute"}, OTHER], [OTHER]),
    ("False", [{"key": UNREACHABLE, "effect": "NoSchedule"}],
     [{"key": NOT_READY, "effect": "NoSchedule"},
      {"key": NOT_READY, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:05Z"}]),
])
def test_taints_follow_the_ready_condition(ready: str, before: list[Any],
                                           after: list[Any]) -> None:
    assert desired_taints(node(ready, before), T0 + 5) == after


def test_existing_taints_keep_their_time_added() -> None:
    taints = [{"key": UNREACHABLE, "effect": "NoSchedule"},
              {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}]
    assert desired_taints(node("Unknown", taints), T0 + 50) == taints


def defaulted_pod(tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {"metadata": {}, "spec": {"containers": [{"name": "c"}]}}
    if tolerations is not None:
        pod["spec"]["tolerations"] = tolerations
    prepare_for_create(by_plural("pods"), pod)
    return pod


def test_admission_adds_the_default_tolerations_unless_the_pod_has_its_own() -> None:
    assert defaulted_pod()["spec"]["tolerations"] == [
        {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]
    own = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
           "tolerationSeconds": 7}
    assert [t["key"] for t in defaulted_pod([own])["spec"]["tolerations"]] == [
        UNREACHABLE, NOT_READY]
    assert defaulted_pod([{"operator": "Exists"}])["spec"]["tolerations"] == [
        {"operator": "Exists"}]


UNREACHABLE_AT_T0 = [{"key": UNREACHABLE, "effect": "NoSchedule"},
                     {"key": UNREACHABLE, "effect": "NoExecute",
                      "timeAdded": "2026-01-01T00:00:00Z"}]


@pytest.mark.parametrize("tolerations,when", [
    (None, T0 + 2),                                       # admission's default, flag: 2 s
    ([], T0 + 10),                                        # (explicitly none: at once = now)
    ([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
       "tolerationSeconds": 60}], T0 + 60),
    ([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], None),
    ([{"operator": "Exists"}], None),
])
def test_pods_are_evicted_when_their_toleration_runs_out(
        tolerations: list[dict[str, Any]] | None, when: float | None) -> None:
    pod = defaulted_pod(tolerations) if tolerations is None else {
        "spec": {"tolerations": tolerations}}
    assert eviction_time(pod, UNREACHABLE_AT_T0, T0 + 10, SETTINGS) == when


def test_no_execute_free_nodes_evict_nothing() -> None:
    assert eviction_time({"spec": {}}, [OTHER], T0, SETTINGS) is None


def test_pods_on_a_silent_node_are_marked_not_ready() -> None:
    pod = {"status": {"phase": "Running", "conditions": [
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}]}}
    status = not_ready_status(pod, T0)
    assert status is not None
    assert status["conditions"][1] == {"type": "Ready", "status": "False",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}
    assert not_ready_status({"status": status}, T0) is None
