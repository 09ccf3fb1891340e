"""The DaemonSet controller's decisions: which nodes, which pods, rolling updates, status."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.controllers.daemonset import (
    HASH_LABEL,
    calculate_status,
    new_daemon_pod,
    node_should_run,
    plan_manage,
    plan_rolling_update,
    target_node,
    template_hash,
)
from controlplane.controllers.replicaset import format_time
from jota.api.meta import Obj

T0 = 1_800_000_000.0


def ds(*, selector: dict[str, str] | None = None, tolerations: list[Obj] | None = None,
       affinity: Obj | None = None, max_unavailable: Any = 1) -> Obj:
    spec: Obj = {"containers": [{"name": "agent", "image": "busybox"}]}
    if selector:
        spec["nodeSelector"] = selector
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "ns", "uid": "u1", "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec},
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": max_unavailable}}}}


def node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
         unschedulable: bool = False) -> Obj:
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"kind": "Node", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def dpod(name: str, on: str, hash_: str = "h1", ready: bool = True, phase: str = "Running",
         created: float = T0, deleting: bool = False) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "labels": {"app": "agent", HASH_LABEL: hash_},
               "creationTimestamp": format_time(created)}
    if deleting:
        md["deletionTimestamp"] = format_time(T0)
    return {"metadata": md, "spec": {"nodeName": on},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": format_time(T0)}]}}


def taint(key: str, effect: str = "NoSchedule", value: str = "") -> Obj:
    return {"key": key, "value": value, "effect": effect}


@pytest.mark.parametrize("daemon,n,want", [
    (ds(), node("n1"), (True, True)),
    (ds(selector={"disk": "ssd"}), node("n1", {"disk": "ssd"}), (True, True)),
    (ds(selector={"disk": "ssd"}), node("n1", {"disk": "hdd"}), (False, False)),
    (ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a"]}]}]}}}),
     node("n1", {"zone": "b"}), (False, False)),
    (ds(), node("n1", taints=[taint("dedicated")]), (False, True)),
    (ds(), node("n1", taints=[taint("dedicated", "NoExecute")]), (False, False)),
    (ds(), node("n1", taints=[taint("dedicated", "PreferNoSchedule")]), (True, True)),
    (ds(tolerations=[{"key": "dedicated", "operator": "Exists"}]),
     node("n1", taints=[taint("dedicated", "NoExecute")]), (True, True)),
    # Kubernetes' own taints are tolerated by every daemon pod; cordoning is ignored.
    (ds(), node("n1", unschedulable=True,
                taints=[taint("node.kubernetes.io/unschedulable")]), (True, True)),
    (ds(), node("n1", taints=[taint("node.kubernetes.io/not-ready", "NoExecute"),
                              taint("node.kubernetes.io/memory-pressure")]), (True, True)),
])
def test_node_should_run(daemon: Obj, n: Obj, want: tuple[bool, bool]) -> None:
    assert node_should_run(daemon, n) == want


def test_new_pod_is_pinned_by_node_affinity_with_daemon_tolerations() -> None:
    daemon = ds(tolerations=[{"key": "node.kubernetes.io/unschedulable",
                              "operator": "Exists", "effect": "NoSchedule"}],
                affinity={"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "a", "operator": "Exists"}]}]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 1, "preference": {"matchExpressions": [
                            {"key": "b", "operator": "Exists"}]}}]}})
    pod = new_daemon_pod(daemon, "n2", "abc")
    assert pod["metadata"]["generateName"] == "agent-"
    assert pod["metadata"]["labels"] == {"app": "agent", HASH_LABEL: "abc",
                                         "pod-template-generation": "2"}
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    aff = pod["spec"]["affinity"]["nodeAffinity"]
    assert aff["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}
    assert aff["preferredDuringSchedulingIgnoredDuringExecution"]
    assert "nodeName" not in pod["spec"]
    keys = [(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]]
    assert len(keys) == len(set(keys)) == 6  # the user's one is not doubled
    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
    assert target_node(pod) == "n2"
    assert target_node({"spec": {"nodeName": "n3"}}) == "n3"


def test_template_hash_follows_the_template() -> None:
    a, b = ds(), ds(selector={"x": "y"})
    assert template_hash(a) == template_hash(ds()) != template_hash(b)


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


@pytest.mark.parametrize("nodes,pods,create,delete", [
    ([node("n1"), node("n2")], [], ["n1", "n2"], []),
    ([node("n1"), node("n2")], [dpod("a", "n1")], ["n2"], []),
    # a second pod on one node: the oldest stays
    ([node("n1")], [dpod("new", "n1", created=T0 + 5), dpod("old", "n1")], [], ["new"]),
    # a failed pod is deleted; its replacement comes on the next sync
    ([node("n1")], [dpod("a", "n1", phase="Failed")], [], ["a"]),
    # NoSchedule keeps a running daemon, NoExecute evicts it
    ([node("n1", taints=[taint("t")])], [dpod("a", "n1")], [], []),
    ([node("n1", taints=[taint("t", "NoExecute")])], [dpod("a", "n1")], [], ["a"]),
    # a pod whose node is gone goes too; a terminating pod is not counted
    ([node("n1")], [dpod("a", "gone")], ["n1"], ["a"]),
    ([node("n1")], [dpod("a", "n1", deleting=True)], ["n1"], []),
])
def test_plan_manage(nodes: list[Obj], pods: list[Obj], create: list[str],
                     delete: list[str]) -> None:
    plan = plan_manage(ds(), nodes, pods)
    assert plan.create == create
    assert names(plan.delete) == delete


@pytest.mark.parametrize("max_unavailable,pods,want", [
    (1, [dpod("a", "n1"), dpod("b", "n2"), dpod("c", "n3")], ["a"]),
    (2, [dpod("a", "n1"), dpod("b", "n2"), dpod("c", "n3")], ["a", "b"]),
    ("100%", [dpod("a", "n1"), dpod("b", "n2"), dpod("c", "n3")], ["a", "b", "c"]),
    # a new pod not ready yet uses up the budget
    (1, [dpod("a", "n1", "h2", ready=False), dpod("b", "n2"), dpod("c", "n3")], []),
    (1, [dpod("a", "n1", "h2"), dpod("b", "n2"), dpod("c", "n3")], ["b"]),
    # an old pod that is unavailable anyway goes at once, and uses up the budget
    (1, [dpod("a", "n1", ready=False), dpod("b", "n2"), dpod("c", "n3")], ["a"]),
    (2, [dpod("a", "n1", ready=False), dpod("b", "n2"), dpod("c", "n3")], ["a", "b"]),
    (1, [dpod("a", "n1", "h2"), dpod("b", "n2", "h2"), dpod("c", "n3", "h2")], []),
])
def test_rolling_update(max_unavailable: Any, pods: list[Obj], want: list[str]) -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    assert names(plan_rolling_update(ds(max_unavailable=max_unavailable), nodes, pods, "h2",
                                     T0 + 60)) == want


def test_status_counts_nodes() -> None:
    nodes = [node("n1"), node("n2"), node("n3"), node("n4", taints=[taint("t")])]
    pods = [dpod("a", "n1", "h2"), dpod("b", "n2", ready=False), dpod("d", "n4")]
    assert calculate_status(ds(), nodes, pods, "h2", T0 + 60) == {
        "desiredNumberScheduled": 3, "currentNumberScheduled": 2, "numberMisscheduled": 1,
        "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 1,
        "numberUnavailable": 2, "observedGeneration": 2}
