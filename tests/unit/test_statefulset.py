"""The StatefulSet controller's decisions: identities, claims, order, updates, status."""

from __future__ import annotations

import pytest

from controlplane.controllers.replicaset import format_time
from controlplane.controllers.statefulset import (
    HASH_LABEL,
    Action,
    calculate_status,
    new_claim,
    new_pod,
    plan_sync,
    revision_name,
)
from jota.api.meta import Obj

T0 = 1_800_000_000.0
REV = "web-new"


def sts(replicas: int = 3, *, parallel: bool = False, partition: int = 0,
        on_delete: bool = False, claims: bool = True, when_deleted: str = "Retain") -> Obj:
    spec: Obj = {
        "replicas": replicas, "serviceName": "nginx",
        "selector": {"matchLabels": {"app": "web"}},
        "podManagementPolicy": "Parallel" if parallel else "OrderedReady",
        "updateStrategy": {"type": "OnDelete"} if on_delete else
        {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": when_deleted,
                                                 "whenScaled": "Retain"},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx"}],
                              "volumes": [{"name": "www", "emptyDir": {}}]}}}
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "generation": 1},
            "spec": spec}


def spod(i: int, *, ready: bool = True, phase: str = "Running", rev: str = REV,
         deleting: bool = False) -> Obj:
    md: Obj = {"name": f"web-{i}", "namespace": "ns",
               "labels": {"app": "web", HASH_LABEL: rev}}
    if deleting:
        md["deletionTimestamp"] = format_time(T0)
    return {"metadata": md, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": format_time(T0)}]}}


def all_claims(n: int) -> set[str]:
    return {f"www-web-{i}" for i in range(n)}


def show(actions: list[Action]) -> list[str]:
    return [f"{a.verb} {a.obj['metadata']['name']}" for a in actions]


def test_pod_identity_and_claims() -> None:
    pod = new_pod(sts(), 2, REV)
    md = pod["metadata"]
    assert md["name"] == "web-2"
    assert md["labels"] == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-2",
                            "apps.kubernetes.io/pod-index": "2", HASH_LABEL: REV}
    assert md["ownerReferences"][0]["kind"] == "StatefulSet"
    assert pod["spec"]["hostname"] == "web-2"
    assert pod["spec"]["subdomain"] == "nginx"
    # the claim template replaces the template's volume of the same name
    assert pod["spec"]["volumes"] == [{"name": "www", "persistentVolumeClaim": {
        "claimName": "www-web-2"}}]
    claim = new_claim(sts(), sts()["spec"]["volumeClaimTemplates"][0], 2)
    assert claim["metadata"] == {"name": "www-web-2", "namespace": "ns",
                                 "labels": {"app": "web"}}
    assert claim["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    owned = new_claim(sts(when_deleted="Delete"), sts()["spec"]["volumeClaimTemplates"][0], 0)
    assert owned["metadata"]["ownerReferences"][0]["uid"] == "u1"


def test_revision_name_follows_the_template() -> None:
    a, b = sts(), sts()
    b["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert revision_name(a).startswith("web-")
    assert revision_name(a) == revision_name(sts()) != revision_name(b)
    # recording collisionCount: 0 in the status does not change the revision
    a["status"] = {"collisionCount": 0}
    assert revision_name(a) == revision_name(sts())
    a["status"] = {"collisionCount": 1}
    assert revision_name(a) != revision_name(sts())


@pytest.mark.parametrize("case,set_,pods,claims,want", [
    ("first pod: claim then pod", sts(), [], set(),
     ["create_claim www-web-0", "create_pod web-0"]),
    ("waits for web-0 to be ready", sts(), [spod(0, ready=False)], all_claims(1), []),
    ("waits for web-0 to be running", sts(), [spod(0, phase="Pending", ready=False)],
     all_claims(1), []),
    ("then web-1", sts(), [spod(0)], all_claims(1), ["create_claim www-web-1",
                                                    "create_pod web-1"]),
    ("claim kept from before is reused", sts(), [spod(0)], all_claims(2),
     ["create_pod web-1"]),
    ("parallel creates all", sts(parallel=True), [], all_claims(3),
     ["create_pod web-0", "create_pod web-1", "create_pod web-2"]),
    ("a failed pod is deleted first", sts(), [spod(0, phase="Failed", ready=False)],
     all_claims(1), ["delete_pod web-0"]),
    ("a hole is refilled", sts(), [spod(0), spod(2)], all_claims(3), ["create_pod web-1"]),
    ("scale down: highest first, one at a time", sts(1), [spod(0), spod(1), spod(2)],
     all_claims(3), ["delete_pod web-2"]),
    ("scale down waits for a terminating pod", sts(1),
     [spod(0), spod(1), spod(2, deleting=True)], all_claims(3), []),
    ("scale down waits for unhealthy replicas", sts(1),
     [spod(0, ready=False), spod(1), spod(2)], all_claims(3), []),
    ("an unhealthy condemned pod that is the first unhealthy goes", sts(1),
     [spod(0), spod(1), spod(2, ready=False)], all_claims(3), ["delete_pod web-2"]),
    ("parallel scale down deletes all", sts(1, parallel=True), [spod(0), spod(1), spod(2)],
     all_claims(3), ["delete_pod web-2", "delete_pod web-1"]),
    ("rolling update starts at the top", sts(), [spod(0, rev="old"), spod(1, rev="old"),
                                                 spod(2, rev="old")], all_claims(3),
     ["delete_pod web-2"]),
    ("rolling update goes down when ready", sts(), [spod(0, rev="old"), spod(1, rev="old"),
                                                    spod(2)], all_claims(3),
     ["delete_pod web-1"]),
    ("rolling update waits for the updated pod", sts(),
     [spod(0, rev="old"), spod(1, rev="old"), spod(2, ready=False)], all_claims(3), []),
    ("partition stops the update", sts(partition=2),
     [spod(0, rev="old"), spod(1, rev="old"), spod(2)], all_claims(3), []),
    ("OnDelete leaves old pods", sts(on_delete=True),
     [spod(0, rev="old"), spod(1, rev="old"), spod(2, rev="old")], all_claims(3), []),
])
def test_plan_sync(case: str, set_: Obj, pods: list[Obj], claims: set[str],
                   want: list[str]) -> None:
    assert show(plan_sync(set_, pods, claims, REV)) == want, case


def test_status_during_and_after_a_rollout() -> None:
    s = sts()
    s["status"] = {"currentRevision": "web-old"}
    pods = [spod(0, rev="web-old"), spod(1, rev="web-old"), spod(2, ready=False)]
    assert calculate_status(s, pods, REV, T0 + 10) == {
        "observedGeneration": 1, "replicas": 3, "readyReplicas": 2, "availableReplicas": 2,
        "currentReplicas": 2, "updatedReplicas": 1, "currentRevision": "web-old",
        "updateRevision": REV, "collisionCount": 0}
    done = calculate_status(s, [spod(0), spod(1), spod(2)], REV, T0 + 10)
    assert done["currentRevision"] == REV
    assert done["currentReplicas"] == done["updatedReplicas"] == 3
    first = calculate_status(sts(), [], REV, T0)
    assert first == {"observedGeneration": 1, "replicas": 0, "currentRevision": REV,
                     "updateRevision": REV, "collisionCount": 0}
