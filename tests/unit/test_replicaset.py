"""The ReplicaSet controller: batches, which pods go first, status, expectations."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from controlplane.controllers.expectations import ControllerExpectations
from controlplane.controllers.replicaset import (
    ReplicaSetController,
    calculate_status,
    format_time,
    is_pod_available,
    plan_claims,
    pod_from_template,
    pods_to_delete,
    slow_start_batches,
)
from jota.api.meta import Obj
from jota.api.selectors import from_set
from jota.client import SharedInformerFactory

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
pytestmark = pytest.mark.usefixtures("no_task_left_running")


def ts(t: float) -> str:
    return format_time(t)


def pod(name: str, *, node: str = "", phase: str = "Pending", ready: bool = False,
        ready_at: float = T0, created: float = T0, restarts: int = 0,
        labels: dict[str, str] | None = None, owner: str = "", cost: str = "",
        deleting: bool = False) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "labels": labels or {"app": "web"},
               "creationTimestamp": ts(created), "resourceVersion": "1"}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                  "name": "web", "uid": owner, "controller": True}]
    if cost:
        md["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": cost}
    if deleting:
        md["deletionTimestamp"] = ts(T0)
    status: Obj = {"phase": phase,
                   "containerStatuses": [{"name": "c", "restartCount": restarts}]}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True",
                                 "lastTransitionTime": ts(ready_at)}]
    return {"metadata": md, "spec": {"nodeName": node} if node else {}, "status": status}


def replica_set(replicas: int = 3, min_ready: int = 0, uid: str = "rs-uid") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": uid, "generation": 2,
                         "resourceVersion": "5"},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "fe"},
                                               "annotations": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


@pytest.mark.parametrize(("count", "batches"), [
    (0, []), (1, [1]), (2, [1, 1]), (3, [1, 2]), (7, [1, 2, 4]), (10, [1, 2, 4, 3]),
    (500, [1, 2, 4, 8, 16, 32, 64, 128, 245]),
])
def test_slow_start_batches_double(count: int, batches: list[int]) -> None:
    assert slow_start_batches(count) == batches
    assert sum(batches) == count


# Each pair: (less valuable, more valuable): the first must be deleted first.
ORDER_CASES = [
    ("unscheduled before scheduled", pod("a"), pod("b", node="n1")),
    ("pending before running", pod("a", node="n1"), pod("b", node="n1", phase="Running")),
    ("not ready before ready", pod("a", node="n1", phase="Running"),
     pod("b", node="n1", phase="Running", ready=True)),
    ("lower deletion cost first", pod("a", node="n1", phase="Running", ready=True, cost="-5"),
     pod("b", node="n1", phase="Running", ready=True)),
    ("ready for less time first", pod("a", node="n1", phase="Running", ready=True,
                                      ready_at=T0 + 50),
     pod("b", node="n1", phase="Running", ready=True, ready_at=T0)),
    ("more restarts first", pod("a", node="n1", phase="Running", restarts=5),
     pod("b", node="n1", phase="Running", restarts=1)),
    ("newer first", pod("a", node="n1", created=T0 + 10), pod("b", node="n1", created=T0)),
]


@pytest.mark.parametrize(("why", "worse", "better"), ORDER_CASES,
                         ids=[c[0] for c in ORDER_CASES])
def test_least_valuable_pods_are_deleted_first(why: str, worse: Obj, better: Obj) -> None:
    for pods in ([worse, better], [better, worse]):
        assert pods_to_delete(pods, pods, 1) == [worse], why


def test_pods_doubled_up_on_a_node_go_before_lonely_ones() -> None:
    crowded = pod("a", node="n1", phase="Running", ready=True)
    lonely = pod("b", node="n2", phase="Running", ready=True)
    sibling = pod("c", node="n1", phase="Running", ready=True)
    assert pods_to_delete([lonely, crowded], [lonely, crowded, sibling], 1) == [crowded]


def test_deleting_more_than_there_are_takes_all() -> None:
    pods = [pod("a"), pod("b")]
    assert pods_to_delete(pods, pods, 5) == pods


def test_status_counts_ready_available_and_labels() -> None:
    rs = replica_set(min_ready=10)
    pods = [
        pod("a", labels={"app": "web", "tier": "fe"}, ready=True, ready_at=T0 - 60),
        pod("b", labels={"app": "web", "tier": "fe"}, ready=True, ready_at=T0 - 5),
        pod("c"),
    ]
    assert calculate_status(rs, pods, T0) == {
        "replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2,
        "availableReplicas": 1, "observedGeneration": 2}


def test_status_records_and_clears_replica_failure() -> None:
    rs = replica_set()
    st = calculate_status(rs, [], T0, ("FailedCreate", 'pods "x" is forbidden: quota'))
    assert st["conditions"] == [{
        "type": "ReplicaFailure", "status": "True", "lastTransitionTime": ts(T0),
        "reason": "FailedCreate", "message": 'pods "x" is forbidden: quota'}]
    rs["status"] = st
    assert "conditions" not in calculate_status(rs, [], T0 + 5)


@pytest.mark.parametrize(("ready", "ready_at", "min_ready", "available"), [
    (False, T0, 0, False), (True, T0, 0, True), (True, T0 - 9, 10, False),
    (True, T0 - 10, 10, True),
])
def test_available_means_ready_for_min_ready_seconds(ready: bool, ready_at: float,
                                                     min_ready: int, available: bool) -> None:
    assert is_pod_available(pod("a", ready=ready, ready_at=ready_at), min_ready, T0) == \
        available


def test_claims_adopt_orphans_release_mismatches_and_ignore_others() -> None:
    rs = replica_set()
    mine = pod("mine", owner="rs-uid")
    orphan = pod("orphan")
    strayed = pod("strayed", owner="rs-uid", labels={"app": "other"})
    foreign = pod("foreign", owner="other-uid")
    going = pod("going", deleting=True)
    claims = plan_claims(rs, from_set({"app": "web"}), [mine, orphan, strayed, foreign, going])
    assert [p["metadata"]["name"] for p in claims.owned] == ["mine"]
    assert [p["metadata"]["name"] for p in claims.adopt] == ["orphan"]
    assert [p["metadata"]["name"] for p in claims.release] == ["strayed"]


def test_a_new_pod_copies_the_template_and_names_its_controller() -> None:
    p = pod_from_template(replica_set())
    assert p["metadata"] == {
        "generateName": "web-", "namespace": "ns",
        "labels": {"app": "web", "tier": "fe"}, "annotations": {"a": "b"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                             "uid": "rs-uid", "controller": True,
                             "blockOwnerDeletion": True}]}
    assert p["spec"] == {"containers": [{"name": "c", "image": "i"}]}


# ---- expectations ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_expectations_hold_until_observed() -> None:
    exp = ControllerExpectations()
    assert exp.satisfied_expectations("ns/web")  # nothing expected yet
    exp.expect_creations("ns/web", 2)
    assert not exp.satisfied_expectations("ns/web")
    exp.creation_observed("ns/web")
    assert not exp.satisfied_expectations("ns/web")
    exp.creation_observed("ns/web")
    assert exp.satisfied_expectations("ns/web")


def test_deletions_are_counted_once_per_pod() -> None:
    exp = ControllerExpectations()
    exp.expect_deletions("ns/web", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/web", "ns/a")
    exp.deletion_observed("ns/web", "ns/a")  # marked deleting, then gone: one deletion
    exp.deletion_observed("ns/web", "ns/zzz")  # not one we deleted
    assert not exp.satisfied_expectations("ns/web")
    exp.deletion_observed("ns/web", "ns/b")
    assert exp.satisfied_expectations("ns/web")


def test_expectations_expire_after_five_minutes() -> None:
    clock = Clock()
    exp = ControllerExpectations(clock)
    exp.expect_creations("ns/web", 1)
    clock.t = 299.0
    assert not exp.satisfied_expectations("ns/web")
    clock.t = 301.0
    assert exp.satisfied_expectations("ns/web")
    exp.delete_expectations("ns/web")
    assert exp.get("ns/web") is None


# ---- the controller with a slow watch ---------------------------------------------------------


class FakeClient:
    """Answers writes at once; the informer caches are fed by the test (the "watch")."""

    def __init__(self) -> None:
        self.created: list[Obj] = []
        self.deleted: list[str] = []
        self.statuses: list[Obj] = []
        self.names = itertools.count()

    async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        obj = copy.deepcopy(obj)
        if resource == "pods":
            obj["metadata"]["name"] = f"{obj['metadata']['generateName']}{next(self.names)}"
            obj["metadata"]["resourceVersion"] = "1"
            self.created.append(obj)
        return obj

    async def delete(self, resource: str, name: str, namespace: str = "", **_: Any) -> Obj:
        self.deleted.append(name)
        return {}

    async def update_status(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        self.statuses.append(obj["status"])
        return obj

    async def patch(self, *args: Any, **kwargs: Any) -> Obj:
        return {}

    async def get(self, resource: str, name: str, namespace: str = "") -> Obj:
        raise AssertionError("the controller reads the cache")

    def list(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not listing in this test")

    def watch(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not watching in this test")


@pytest.fixture
async def controller() -> Any:
    fake = FakeClient()
    c = ReplicaSetController(fake, SharedInformerFactory(fake))  # type: ignore[arg-type]
    c.recorder.sink = fake
    yield c, fake
    c.queue.shut_down()
    await c.recorder.shutdown()


async def test_a_slow_watch_never_doubles_creates(controller: Any) -> None:
    c, fake = controller
    rs = replica_set(replicas=3)
    c.rs_informer.store.update(rs)
    await c.sync("ns/web")
    assert len(fake.created) == 3
    await c.sync("ns/web")  # the pod informer has not seen them yet
    assert len(fake.created) == 3
    for p in fake.created:
        c.pod_informer.store.update(p)
        c._add_pod(p)  # the watch catches up
    assert c.expectations.satisfied_expectations("ns/web")
    await c.sync("ns/web")
    assert len(fake.created) == 3
    assert fake.statuses[-1]["replicas"] == 3


async def test_a_slow_watch_never_doubles_deletes(controller: Any) -> None:
    c, fake = controller
    rs = replica_set(replicas=1)
    c.rs_informer.store.update(rs)
    for name in ("a", "b", "c"):
        c.pod_informer.store.update(pod(name, owner="rs-uid"))
    await c.sync("ns/web")
    assert len(fake.deleted) == 2
    await c.sync("ns/web")
    assert len(fake.deleted) == 2
    for name in fake.deleted:
        gone = c.pod_informer.store.get_by_key(f"ns/{name}")
        c.pod_informer.store.delete(gone)
        c._delete_pod(gone)
    assert c.expectations.satisfied_expectations("ns/web")
    await c.sync("ns/web")
    assert len(fake.deleted) == 2
