"""Template hashes, revision annotations, rollback bookkeeping and history cleanup."""

from __future__ import annotations

import pytest

from controlplane.controllers.deployment import revisions as rev
from controlplane.controllers.replicaset import format_time
from jota.api.meta import Obj

T0 = 1_800_000_000.0
TEMPLATE: Obj = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}


def deployment(**spec: object) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid",
                         "annotations": {"kubernetes.io/change-cause": "v2",
                                         rev.LAST_APPLIED: "{}", rev.REVISION: "1"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": TEMPLATE, **spec}}


def rs(name: str, revision: str = "", replicas: int = 0, actual: int = 0,
       created: float = T0, generation: int = 1, observed: int = 1) -> Obj:
    md: Obj = {"name": name, "uid": name, "generation": generation,
               "creationTimestamp": format_time(created)}
    if revision:
        md["annotations"] = {rev.REVISION: revision}
    return {"metadata": md, "spec": {"replicas": replicas, "template": TEMPLATE},
            "status": {"replicas": actual, "observedGeneration": observed}}


def test_fnv32a_matches_the_reference_vectors() -> None:
    assert rev.fnv32a(b"") == 0x811C9DC5
    assert rev.fnv32a(b"a") == 0xE40C292C
    assert rev.fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encoding_avoids_vowels() -> None:
    assert rev.safe_encode_string("0123456789") == "456789bcdf"
    assert set(rev.compute_hash(TEMPLATE)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_the_hash_depends_on_the_template_and_the_collision_count_only() -> None:
    h = rev.compute_hash(TEMPLATE)
    reordered = {"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]}
    assert rev.compute_hash(reordered) == h
    other = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}
    assert rev.compute_hash(other) != h
    assert len({h, rev.compute_hash(TEMPLATE, 0), rev.compute_hash(TEMPLATE, 1)}) == 3


def test_new_replica_set_is_labelled_named_and_owned() -> None:
    new = rev.new_replica_set(deployment(minReadySeconds=5), None)
    h = rev.compute_hash(TEMPLATE)
    assert new["metadata"]["name"] == f"web-{h}"
    assert new["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert new["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": h}}
    assert new["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == h
    assert new["spec"]["minReadySeconds"] == 5
    assert new["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-uid",
        "controller": True, "blockOwnerDeletion": True}]
    assert TEMPLATE["metadata"]["labels"] == {"app": "web"}  # the Deployment's untouched


def test_find_new_ignores_the_hash_label_and_prefers_the_oldest() -> None:
    d = deployment()
    hashed = rev.new_replica_set(d, None)
    hashed["metadata"].update(uid="x", creationTimestamp=format_time(T0 + 5))
    older = rev.new_replica_set(d, 3)
    older["metadata"].update(name="web-older", uid="y", creationTimestamp=format_time(T0))
    other = rs("web-other")
    other["spec"]["template"] = {"metadata": {"labels": {"app": "web"}}, "spec": {}}
    found = rev.find_new_replica_set(d, [other, hashed, older])
    assert found is not None and found["metadata"]["name"] == "web-older"
    assert [r["metadata"]["name"] for r in rev.find_old_replica_sets(d, [other, hashed, older])
            ] == ["web-other", "web-" + rev.compute_hash(TEMPLATE)]


def test_new_replica_set_annotations_on_creation() -> None:
    new = rs("new")
    assert rev.set_new_rs_annotations(deployment(), new, 2, False, max_surge=1)
    assert new["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "v2", rev.REVISION: "2",
        rev.DESIRED_REPLICAS: "3", rev.MAX_REPLICAS: "4"}


def test_a_rollback_moves_the_revision_and_remembers_the_old_one() -> None:
    old = rs("old", revision="1")
    old["metadata"]["annotations"][rev.REVISION_HISTORY] = "0"
    assert rev.set_new_rs_annotations(deployment(), old, 4, True, max_surge=1)
    ann = old["metadata"]["annotations"]
    assert ann[rev.REVISION] == "4"
    assert ann[rev.REVISION_HISTORY] == "0,1"
    assert rev.DESIRED_REPLICAS not in ann  # only set on creation
    assert not rev.set_new_rs_annotations(deployment(), old, 4, True, max_surge=1)


def test_revision_history_is_bounded_in_characters() -> None:
    r = rs("r", revision="99")
    r["metadata"]["annotations"][rev.REVISION_HISTORY] = "10,11,12"
    rev.set_new_rs_annotations(deployment(), r, 100, True, 1, limit_chars=8)
    assert r["metadata"]["annotations"][rev.REVISION_HISTORY] == "11,12,99"


@pytest.mark.parametrize(("limit", "sets", "cleaned"), [
    (10, [rs("a", "1"), rs("b", "2")], []),
    (1, [rs("a", "1"), rs("b", "2"), rs("c", "3")], ["a", "b"]),
    (0, [rs("b", "2"), rs("a", "1")], ["a", "b"]),
    # still scaled up, still has pods, or not yet observed: kept
    (0, [rs("a", "1", replicas=1), rs("b", "2", actual=1), rs("c", "3", generation=2)], []),
])
def test_history_cleanup_removes_the_lowest_settled_revisions(limit: int, sets: list[Obj],
                                                              cleaned: list[str]) -> None:
    d = deployment(revisionHistoryLimit=limit)
    assert [r["metadata"]["name"] for r in rev.replica_sets_to_clean(d, sets)] == cleaned


def test_deployment_revision_annotation() -> None:
    d = deployment()
    assert not rev.set_deployment_revision(d, "1")
    assert rev.set_deployment_revision(d, "2")
    assert d["metadata"]["annotations"][rev.REVISION] == "2"
