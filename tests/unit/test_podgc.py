"""The pod garbage collector's decisions: which pods are force-deleted, and why."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.controllers.podgc import (
    ORPHANED,
    OUT_OF_SERVICE_REASON,
    TERMINATED,
    UNSCHEDULED,
    PodGCController,
    due,
    failed_status,
    missing_nodes,
    plan,
    quarantine,
    terminated_to_delete,
    terminating_out_of_service,
)
from jota.api import errors
from jota.client import SharedInformerFactory

Obj = dict[str, Any]
OOS = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown",
       "effect": "NoExecute"}


def pod(name: str, *, node: str = "n1", phase: str = "Running", created: int = 0,
        deleting: bool = False, reason: str = "", grace: int | None = None,
        ns: str = "default") -> Obj:
    md: Obj = {"name": name, "namespace": ns,
               "creationTimestamp": f"2026-01-01T00:00:{created:02d}Z"}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T01:00:00Z"
        if grace is not None:
            md["deletionGracePeriodSeconds"] = grace
    status: Obj = {"phase": phase}
    if reason:
        status["reason"] = reason
    return {"metadata": md, "spec": {"nodeName": node} if node else {}, "status": status}


def node(name: str, *, ready: str = "True", taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name}, "spec": {"taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


@pytest.mark.parametrize("threshold,expected", [
    (0, []),            # 0 turns terminated-pod GC off
    (3, []),            # at the threshold: nothing
    (2, ["evicted"]),   # evicted first, whatever its age
    (1, ["evicted", "old"]),
    (-1, []),
])
def test_terminated_above_threshold_evicted_then_oldest(threshold: int, expected: list[str]):
    pods = [pod("new", phase="Succeeded", created=30), pod("old", phase="Failed", created=10),
            pod("evicted", phase="Failed", reason="Evicted", created=50),
            pod("running", phase="Running", created=1), pod("pending", phase="Pending"),
            pod("unknown", phase="Unknown")]
    assert names(terminated_to_delete(pods, threshold)) == expected


def test_same_age_terminated_pods_go_by_name():
    pods = [pod("b", phase="Succeeded"), pod("a", phase="Succeeded"), pod("c", phase="Failed")]
    assert names(terminated_to_delete(pods, 1)) == ["a", "b"]


@pytest.mark.parametrize("the_node,deleting,expected", [
    (node("n1", ready="False", taints=[OOS]), True, ["p"]),
    (node("n1", ready="Unknown", taints=[OOS]), True, ["p"]),
    (node("n1", ready="True", taints=[OOS]), True, []),     # Ready: its agent will finish
    (node("n1", ready="False"), True, []),                  # no taint: may come back
    (node("n1", ready="False", taints=[OOS]), False, []),   # not terminating: left running
    (node("other", ready="False", taints=[OOS]), True, []),  # pod's node not cached
])
def test_terminating_on_out_of_service_node(the_node: Obj, deleting: bool,
                                            expected: list[str]):
    pods = [pod("p", node="n1", deleting=deleting)]
    nodes = {the_node["metadata"]["name"]: the_node}
    assert names(terminating_out_of_service(pods, nodes)) == expected


def test_missing_nodes_are_quarantined_then_due():
    pods = [pod("a", node="gone"), pod("b", node="n1"), pod("c", node="")]
    missing = missing_nodes(pods, ["n1"])
    assert missing == {"gone"}
    since = quarantine({}, missing, now=100.0)
    assert since == {"gone": 100.0}
    assert due(since, 139.0, 40.0) == set()
    since = quarantine(since, missing, now=139.0)  # still missing: the first sighting counts
    assert due(since, 140.0, 40.0) == {"gone"}


def test_a_node_back_in_the_cache_leaves_quarantine():
    since = quarantine({"late": 0.0, "gone": 0.0}, {"gone"}, now=10.0)
    assert since == {"gone": 0.0}


def test_plan_reasons_in_kubes_order_and_each_pod_once():
    nodes = {"n1": node("n1"), "down": node("down", ready="False", taints=[OOS])}
    pods = [
        pod("done", node="gone", phase="Succeeded", created=1),  # terminated and orphaned
        pod("stuck", node="down", deleting=True),
        pod("orphan", node="gone"),
        pod("unbound", node="", deleting=True, phase="Pending"),
        pod("fine", node="n1"),
        pod("held", node="gone", phase="Failed", deleting=True, grace=0, created=5),
    ]
    got = [(d.pod["metadata"]["name"], d.reason) for d in plan(pods, nodes, 1, {"gone"})]
    assert got == [("done", TERMINATED), ("stuck", OUT_OF_SERVICE_REASON),
                   ("orphan", ORPHANED), ("unbound", UNSCHEDULED)]
    orphan = next(d for d in plan(pods, nodes, 1, {"gone"}) if d.reason == ORPHANED)
    assert orphan.condition is not None
    assert (orphan.condition["type"], orphan.condition["reason"], orphan.condition["message"]) \
        == ("DisruptionTarget", "DeletionByPodGC", "PodGC: node no longer exists")


def test_orphans_wait_for_the_apiserver_to_confirm():
    pods = [pod("orphan", node="gone")]
    assert plan(pods, {}, 12500, set()) == []


def test_failed_status_sets_phase_and_condition():
    p = pod("p")
    p["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists"}
    status = failed_status(p, cond, 0.0)
    assert status is not None
    assert status["phase"] == "Failed"
    assert status["conditions"][0] == {"type": "Ready", "status": "True"}
    assert status["conditions"][1]["type"] == "DisruptionTarget"
    assert status["conditions"][1]["lastTransitionTime"] == "1970-01-01T00:00:00Z"
    assert p["status"]["phase"] == "Running"  # the input is not touched


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_finished_pods_keep_their_status(phase: str):
    assert failed_status(pod("p", phase=phase), None, 0.0) is None


def test_failed_status_without_condition_only_sets_phase():
    status = failed_status(pod("p", phase="Pending"), None, 0.0)
    assert status == {"phase": "Failed"}


# ---- the controller's pass, over a fake client ------------------------------------------------


class FakeClient:
    """The apiserver as the controller sees it; the caches are fed by the test."""

    def __init__(self, nodes: set[str]) -> None:
        self.nodes = nodes
        self.gets: list[str] = []
        self.statuses: dict[str, Obj] = {}
        self.deleted: list[tuple[str, int]] = []

    async def get(self, resource: str, name: str, namespace: str = "") -> Obj:
        self.gets.append(name)
        if name not in self.nodes:
            raise errors.NotFound.of("nodes", name)
        return node(name)

    async def update_status(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        self.statuses[obj["metadata"]["name"]] = obj["status"]
        return obj

    async def delete(self, resource: str, name: str, namespace: str = "", *,
                     grace_period_seconds: int = -1, **_: Any) -> Obj:
        self.deleted.append((name, grace_period_seconds))
        return {}


async def test_orphans_go_after_the_quarantine_once_the_apiserver_agrees():
    fake = FakeClient(nodes={"late"})  # "late" exists, the node cache has not seen it yet
    clock = [0.0]
    c = PodGCController(fake, SharedInformerFactory(fake),  # type: ignore[arg-type]
                        clock=lambda: clock[0])
    for p in (pod("orphan", node="gone"), pod("fine", node="late")):
        c.pod_informer.store.update(p)
    await c.gc()
    assert (fake.gets, fake.deleted) == ([], [])  # quarantined, not asked yet
    clock[0] = 39.0
    await c.gc()
    assert (fake.gets, fake.deleted) == ([], [])
    clock[0] = 40.0
    await c.gc()
    assert sorted(fake.gets) == ["gone", "late"]
    assert fake.deleted == [("orphan", 0)]  # grace 0: a force deletion
    status = fake.statuses["orphan"]
    assert status["phase"] == "Failed"
    assert status["conditions"][-1]["reason"] == "DeletionByPodGC"
    assert c.missing_since == {"gone": 0.0}  # "late" starts a new quarantine if still missing
