"""Strategic merge patch: keyed lists from the schema, directives, and computed patches."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jota.api import errors
from jota.api.registry import by_kind
from jota.api.strategic import (
    DiffOptions,
    PatchMeta,
    Schema,
    create_two_way_patch,
    diff,
    strategic_merge_patch,
)

POD = by_kind("Pod")
DEPLOY = by_kind("Deployment")


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": list(containers), **spec}}


def c(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


@pytest.mark.parametrize(("path", "field", "strategies", "merge_key"), [
    (("spec",), "containers", {"merge"}, "name"),
    (("spec",), "initContainers", {"merge"}, "name"),
    (("spec",), "imagePullSecrets", {"merge"}, "name"),
    (("spec",), "volumes", {"merge", "retainKeys"}, "name"),
    (("spec",), "tolerations", set(), None),
    (("spec", "containers", "[]"), "env", {"merge"}, "name"),
    (("spec", "containers", "[]"), "ports", {"merge"}, "containerPort"),
    (("spec", "containers", "[]"), "volumeMounts", {"merge"}, "mountPath"),
    (("spec", "containers", "[]"), "args", set(), None),
    (("metadata",), "finalizers", {"merge"}, None),
    (("metadata",), "ownerReferences", {"merge"}, "uid"),
    (("metadata",), "labels", set(), None),
    (("status",), "conditions", {"merge"}, "type"),
    (("spec", "nope"), "x", set(), None),
])
def test_schema_lookup_for_pods(path: tuple[str, ...], field: str, strategies: set[str],
                                merge_key: str | None) -> None:
    meta = Schema(Schema.of(POD).root, path).meta(field)
    assert meta == PatchMeta(frozenset(strategies), merge_key)


def test_schema_lookup_follows_refs_through_a_deployment_template() -> None:
    containers = Schema.of(DEPLOY).child("spec").child("template").child("spec")
    assert containers.meta("containers").merge_key == "name"
    assert Schema.of(DEPLOY).child("spec").meta("strategy").retain_keys


PATCH_CASES: list[tuple[str, Any, dict[str, Any], Any, Any]] = [
    ("containers merge by name",
     POD, pod(c("a", image="a:1"), c("b", image="b:1")),
     {"spec": {"containers": [c("b", image="b:2")]}},
     pod(c("a", image="a:1"), c("b", image="b:2"))),
    ("a new container (no order directive) goes first, as apimachinery does",
     POD, pod(c("a")), {"spec": {"containers": [c("b")]}}, pod(c("b"), c("a"))),
    ("$setElementOrder puts a new container where the manifest has it",
     POD, pod(c("a"), c("b")),
     {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "n"}],
               "containers": [c("n")]}},
     pod(c("a"), c("b"), c("n"))),
    ("$setElementOrder alone reorders",
     POD, pod(c("a"), c("b")),
     {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}},
     pod(c("b"), c("a"))),
    ("env entry deleted with $patch: delete",
     POD, pod(c("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])),
     {"spec": {"containers": [c("a", env=[{"$patch": "delete", "name": "X"}])]}},
     pod(c("a", env=[{"name": "Y", "value": "2"}]))),
    ("ports merge by containerPort",
     POD, pod(c("a", ports=[{"containerPort": 80, "protocol": "TCP"}])),
     {"spec": {"containers": [c("a", ports=[{"containerPort": 80, "name": "http"}])]}},
     pod(c("a", ports=[{"containerPort": 80, "protocol": "TCP", "name": "http"}]))),
    ("args are atomic: replaced",
     POD, pod(c("a", args=["x", "y"])), {"spec": {"containers": [c("a", args=["z"])]}},
     pod(c("a", args=["z"]))),
    ("tolerations have no merge key: replaced",
     POD, pod(c("a"), tolerations=[{"key": "k1"}]),
     {"spec": {"tolerations": [{"key": "k2"}]}}, pod(c("a"), tolerations=[{"key": "k2"}])),
    ("$patch: replace on a list element replaces the whole list",
     POD, pod(c("a"), c("b")),
     {"spec": {"containers": [{"$patch": "replace"}, c("z")]}}, pod(c("z"))),
    ("$patch: replace on a map",
     POD, pod(c("a"), nodeSelector={"x": "1", "y": "2"}),
     {"spec": {"nodeSelector": {"$patch": "replace", "z": "3"}}},
     pod(c("a"), nodeSelector={"z": "3"})),
    ("$patch: delete on a map empties it",
     POD, pod(c("a"), nodeSelector={"x": "1"}),
     {"spec": {"nodeSelector": {"$patch": "delete"}}}, pod(c("a"), nodeSelector={})),
    ("null deletes; nulls for absent keys are ignored",
     POD, pod(c("a"), nodeName="n1"),
     {"spec": {"nodeName": None, "hostname": None}}, pod(c("a"))),
    ("maps merge recursively",
     POD, {"metadata": {"labels": {"a": "1", "b": "2"}}},
     {"metadata": {"labels": {"b": None, "c": "3"}}},
     {"metadata": {"labels": {"a": "1", "c": "3"}}}),
    ("finalizers: a merged set of strings",
     POD, {"metadata": {"finalizers": ["x", "y"]}}, {"metadata": {"finalizers": ["y", "z"]}},
     {"metadata": {"finalizers": ["x", "y", "z"]}}),
    ("$deleteFromPrimitiveList",
     POD, {"metadata": {"finalizers": ["x", "y", "z"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["y", "nope"]}},
     {"metadata": {"finalizers": ["x", "z"]}}),
    ("$retainKeys clears the other fields of a deployment strategy",
     DEPLOY, {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     {"spec": {"strategy": {"type": "Recreate"}}}),
    ("volumes merge by name and retain keys per element",
     POD, pod(c("a"), volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]),
     {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"],
                            "hostPath": {"path": "/x"}}]}},
     pod(c("a"), volumes=[{"name": "v", "hostPath": {"path": "/x"}},
                          {"name": "w", "emptyDir": {}}])),
    ("a new keyed list is cleaned of directives and nulls",
     POD, {"spec": {}}, {"spec": {"containers": [c("a", image=None)]}},
     {"spec": {"containers": [c("a")]}}),
    ("an explicit empty keyed list is kept",
     POD, {"metadata": {}}, {"metadata": {"finalizers": [], "ownerReferences": []}},
     {"metadata": {"finalizers": [], "ownerReferences": []}}),
    ("deleting from an absent list adds nothing",
     POD, {"spec": {}}, {"spec": {"containers": [{"$patch": "delete", "name": "a"}]}},
     {"spec": {}}),
    ("status conditions merge by type",
     POD, {"status": {"conditions": [{"type": "Ready", "status": "False"},
                                     {"type": "Scheduled", "status": "True"}]}},
     {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
     {"status": {"conditions": [{"type": "Ready", "status": "True"},
                                {"type": "Scheduled", "status": "True"}]}}),
    ("a type change replaces",
     POD, {"spec": {"nodeSelector": "x"}}, {"spec": {"nodeSelector": {"a": "1"}}},
     {"spec": {"nodeSelector": {"a": "1"}}}),
]


@pytest.mark.parametrize(("rt", "obj", "patch", "expected"), [c[1:] for c in PATCH_CASES],
                         ids=[c[0] for c in PATCH_CASES])
def test_strategic_merge_patch(rt: Any, obj: dict[str, Any], patch: Any,
                               expected: Any) -> None:
    before_obj, before_patch = copy.deepcopy(obj), copy.deepcopy(patch)
    assert strategic_merge_patch(obj, patch, rt) == expected
    assert obj == before_obj and patch == before_patch, "inputs must not change"


PATCH_ERRORS: list[tuple[Any, Any, str]] = [
    (pod(c("a")), ["x"], "strategic merge patch must be a JSON object"),
    (pod(c("a")), {"spec": {"containers": [{"image": "x"}]}},
     'does not contain declared merge key: name'),
    (pod(c("a")), {"spec": {"containers": ["a"]}}, "is not a map"),
    (pod(c("a")), {"spec": {"containers": [{"$patch": "frob", "name": "a"}]}},
     "Unknown patch type: frob"),
    (pod(c("a")), {"spec": {"containers": [{"$patch": "merge", "name": "a"}]}},
     "merging lists cannot yet be specified in the patch"),
    (pod(c("a")), {"spec": {"$patch": "nope"}}, "Unknown patch type: nope"),
    (pod(c("a")), {"spec": {"$retainKeys": "x"}}, "invalid patch format of retainKeys"),
    (pod(c("a")), {"spec": {"$retainKeys": ["a"], "nodeName": "n"}},
     "invalid patch format of retainKeys"),
    ({"metadata": {"finalizers": "x"}}, {"metadata": {"$deleteFromPrimitiveList/finalizers":
                                                      ["x"]}}, "finalizers is not a list"),
    ({"metadata": {}}, {"metadata": {"$setElementOrder/finalizers": "x"}}, "must be a list"),
]


@pytest.mark.parametrize(("obj", "patch", "message"), PATCH_ERRORS)
def test_bad_patches_are_bad_requests(obj: Any, patch: Any, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message):
        strategic_merge_patch(obj, patch, POD)


TWO_WAY_CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("nothing changed", pod(c("a")), pod(c("a")), {}),
    ("image changed",
     pod(c("a", image="1")), pod(c("a", image="2")),
     {"spec": {"$setElementOrder/containers": [{"name": "a"}],
               "containers": [{"name": "a", "image": "2"}]}}),
    ("container removed and added",
     pod(c("a"), c("b")), pod(c("a"), c("n")),
     {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "n"}],
               "containers": [c("n"), {"$patch": "delete", "name": "b"}]}}),
    ("containers reordered",
     pod(c("a"), c("b")), pod(c("b"), c("a")),
     {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
    ("label removed", {"metadata": {"labels": {"a": "1", "b": "2"}}},
     {"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"b": None}}}),
    ("finalizer removed", {"metadata": {"finalizers": ["x", "y"]}},
     {"metadata": {"finalizers": ["y"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"],
                   "$setElementOrder/finalizers": ["y"]}}),
    ("atomic list replaced", pod(c("a", args=["1"])), pod(c("a", args=["1", "2"])),
     {"spec": {"$setElementOrder/containers": [{"name": "a"}],
               "containers": [{"name": "a", "args": ["1", "2"]}]}}),
    ("bool versus int is a change", pod(c("a"), hostNetwork=1), pod(c("a"), hostNetwork=True),
     {"spec": {"hostNetwork": True}}),
]


@pytest.mark.parametrize(("original", "modified", "expected"), [c[1:] for c in TWO_WAY_CASES],
                         ids=[c[0] for c in TWO_WAY_CASES])
def test_create_two_way_patch(original: dict[str, Any], modified: dict[str, Any],
                              expected: dict[str, Any]) -> None:
    patch = create_two_way_patch(original, modified, POD)
    assert patch == expected
    assert strategic_merge_patch(original, patch, POD) == modified


ROUND_TRIPS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (pod(c("a", env=[{"name": "X", "value": "1"}], ports=[{"containerPort": 80}])),
     pod(c("a", env=[{"name": "Y", "value": "2"}, {"name": "X", "value": "3"}],
           ports=[{"containerPort": 443}, {"containerPort": 80, "name": "http"}]),
         c("b", image="x"))),
    (pod(c("a"), c("b"), c("c")), pod(c("c"), c("a"))),
    (pod(c("a"), volumes=[{"name": "v", "emptyDir": {}}]),
     pod(c("a"), volumes=[{"name": "v", "configMap": {"name": "cm"}}])),
    ({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1"}}, "spec": {"containers": []}},
     {"metadata": {"finalizers": ["c", "a"]}, "spec": {"containers": [c("q")]}}),
]


@pytest.mark.parametrize(("original", "modified"), ROUND_TRIPS)
def test_two_way_patch_round_trips(original: dict[str, Any], modified: dict[str, Any]) -> None:
    patch = create_two_way_patch(original, modified, POD)
    assert strategic_merge_patch(original, patch, POD) == modified
    assert create_two_way_patch(modified, modified, POD) == {}


def test_diff_ignoring_deletions_keeps_server_fields() -> None:
    live = pod(c("a", image="1", imagePullPolicy="Always"), nodeName="n1")
    manifest = pod(c("a", image="1"))
    assert diff(live, manifest, Schema.of(POD), DiffOptions(ignore_deletions=True)) == {}


def test_unknown_kind_replaces_lists() -> None:
    schema = Schema(None)
    assert schema.meta("containers") == PatchMeta()
    assert diff({"l": [1, 2]}, {"l": [2]}, schema, DiffOptions()) == {"l": [2]}


# --- properties ---------------------------------------------------------------------------

_NAMES = st.sampled_from(["a", "b", "c", "d"])
_ENV = st.lists(st.fixed_dictionaries({"name": _NAMES, "value": st.sampled_from(["1", "2"])}),
                max_size=3, unique_by=lambda e: e["name"])
_CONTAINER = st.fixed_dictionaries(
    {"name": _NAMES, "image": st.sampled_from(["x", "y"])},
    optional={"env": _ENV, "args": st.lists(_NAMES, max_size=2)})
PODS = st.fixed_dictionaries({
    "metadata": st.fixed_dictionaries({}, optional={
        "labels": st.dictionaries(_NAMES, _NAMES, max_size=3),
        "finalizers": st.lists(_NAMES, max_size=3, unique=True)}),
    "spec": st.fixed_dictionaries(
        {"containers": st.lists(_CONTAINER, max_size=3, unique_by=lambda c: c["name"])},
        optional={"nodeName": _NAMES}),
})


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(PODS, PODS)
def test_two_way_patch_always_round_trips(original: dict[str, Any],
                                          modified: dict[str, Any]) -> None:
    patch = create_two_way_patch(original, modified, POD)
    assert strategic_merge_patch(original, patch, POD) == modified


_KEYS = st.sampled_from(["spec", "containers", "name", "env", "$patch", "metadata",
                         "finalizers", "$retainKeys", "$setElementOrder/containers",
                         "$deleteFromPrimitiveList/finalizers", "ports", "containerPort"])
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 2),
              st.sampled_from(["a", "delete", "replace", "merge"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=15)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(_KEYS, _JSON, max_size=4), _JSON)
def test_garbage_is_a_bad_request_or_a_result(obj: dict[str, Any], patch: Any) -> None:
    try:
        assert isinstance(strategic_merge_patch(obj, patch, POD), dict)
        if isinstance(patch, dict):
            create_two_way_patch(obj, patch, POD)
    except errors.BadRequest:
        pass
