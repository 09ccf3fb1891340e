"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as `jota patch --type`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jota.api import errors
from jota.api.patch import json_equal, json_patch, merge_patch

# RFC 7386 appendix A, wrapped in an object where the RFC's target or result is not one.
MERGE_CASES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"a": "foo"}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
    ({"spec": {"replicas": 1, "template": {"x": 1}}}, {"spec": {"replicas": 3}},
     {"spec": {"replicas": 3, "template": {"x": 1}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), MERGE_CASES)
def test_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
    assert merge_patch(target, patch) == expected
    assert target == before_target and patch == before_patch, "inputs must not change"


def test_merge_patch_result_shares_nothing_with_the_patch() -> None:
    patch = {"a": {"b": [1]}}
    result = merge_patch({}, patch)
    result["a"]["b"].append(2)
    assert patch == {"a": {"b": [1]}}


@pytest.mark.parametrize("patch", [["a"], "x", 3, None])
def test_merge_patch_must_be_an_object(patch: Any) -> None:
    with pytest.raises(errors.BadRequest, match="merge patch must be a JSON object"):
        merge_patch({"a": 1}, patch)


DOC: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web", "a/b": "x", "m~n": "y"}},
    "spec": {"replicas": 1, "ports": [80, 443]},
}

JSON_PATCH_CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("replace", [{"op": "replace", "path": "/spec/replicas", "value": 3}],
     {**DOC, "spec": {"replicas": 3, "ports": [80, 443]}}),
    ("add map key", [{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}],
     {**DOC, "metadata": {"name": "web", "labels": {**DOC["metadata"]["labels"],
                                                    "tier": "fe"}}}),
    ("add replaces an existing key", [{"op": "add", "path": "/spec/replicas", "value": 2}],
     {**DOC, "spec": {"replicas": 2, "ports": [80, 443]}}),
    ("append with -", [{"op": "add", "path": "/spec/ports/-", "value": 8080}],
     {**DOC, "spec": {"replicas": 1, "ports": [80, 443, 8080]}}),
    ("insert at index", [{"op": "add", "path": "/spec/ports/0", "value": 22}],
     {**DOC, "spec": {"replicas": 1, "ports": [22, 80, 443]}}),
    ("insert at end index", [{"op": "add", "path": "/spec/ports/2", "value": 22}],
     {**DOC, "spec": {"replicas": 1, "ports": [80, 443, 22]}}),
    ("remove list element", [{"op": "remove", "path": "/spec/ports/0"}],
     {**DOC, "spec": {"replicas": 1, "ports": [443]}}),
    ("escaped ~1 and ~0", [{"op": "remove", "path": "/metadata/labels/a~1b"},
                           {"op": "remove", "path": "/metadata/labels/m~0n"}],
     {**DOC, "metadata": {"name": "web", "labels": {"app": "web"}}}),
    ("move", [{"op": "move", "from": "/spec/replicas", "path": "/spec/count"}],
     {**DOC, "spec": {"ports": [80, 443], "count": 1}}),
    ("copy", [{"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/name"}],
     {**DOC, "metadata": {"name": "web", "labels": {**DOC["metadata"]["labels"],
                                                    "name": "web"}}}),
    ("test then replace", [{"op": "test", "path": "/spec/replicas", "value": 1},
                           {"op": "replace", "path": "/spec/replicas", "value": 5}],
     {**DOC, "spec": {"replicas": 5, "ports": [80, 443]}}),
    ("test a whole list", [{"op": "test", "path": "/spec/ports", "value": [80, 443]}], DOC),
    ("replace root", [{"op": "replace", "path": "", "value": {"a": 1}}], {"a": 1}),
    ("no ops", [], DOC),
]


@pytest.mark.parametrize(("ops", "expected"), [(c[1], c[2]) for c in JSON_PATCH_CASES],
                         ids=[c[0] for c in JSON_PATCH_CASES])
def test_json_patch(ops: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(DOC)
    assert json_patch(DOC, ops) == expected
    assert before == DOC, "input must not change"


JSON_PATCH_ERRORS: list[tuple[Any, str]] = [
    ([{"op": "replace", "path": "/spec/foo", "value": 1}],
     "jsonpatch replace operation does not apply: doc is missing key: /spec/foo"),
    ([{"op": "remove", "path": "/spec/foo"}],
     "jsonpatch remove operation does not apply: doc is missing path: /spec/foo"),
    ([{"op": "add", "path": "/nope/foo", "value": 1}],
     "jsonpatch add operation does not apply: doc is missing path: /nope/foo"),
    ([{"op": "add", "path": "/spec/ports/5", "value": 1}],
     "jsonpatch add operation does not apply: array index 5 out of bounds in /spec/ports/5"),
    ([{"op": "remove", "path": "/spec/ports/01"}],
     "jsonpatch remove operation does not apply: invalid array index '01' in /spec/ports/01"),
    ([{"op": "move", "from": "/spec/nope", "path": "/spec/x"}],
     "jsonpatch move operation does not apply: doc is missing from: /spec/nope"),
    ([{"op": "move", "from": "/spec", "path": "/spec/inner"}],
     "jsonpatch move operation does not apply: cannot move /spec into its own child"),
    ([{"op": "test", "path": "/spec/replicas", "value": 2}],
     "jsonpatch test operation does not apply: testing value /spec/replicas failed: "
     "is 1, not 2"),
    ([{"op": "test", "path": "/spec/replicas", "value": True}],
     "testing value /spec/replicas failed"),
    ([{"op": "frobnicate", "path": "/a"}], "unexpected operation 'frobnicate'"),
    ([{"op": "add", "value": 1}], "jsonpatch add operation does not apply: missing or "
                                  "invalid 'path' field"),
    ([{"op": "add", "path": "/a"}], "jsonpatch add operation does not apply: missing value"),
    ([{"op": "add", "path": "a", "value": 1}], "must start with '/'"),
    ([{"op": "replace", "path": "", "value": [1]}], "patched document is not a JSON object"),
    (["add"], "operation 0 is not a JSON object"),
    ({"op": "add"}, "a JSON patch must be a list of operations"),
]


@pytest.mark.parametrize(("ops", "message"), JSON_PATCH_ERRORS)
def test_json_patch_errors_name_the_op_and_path(ops: Any, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        json_patch(DOC, ops)
    assert message in caught.value.message


def test_failed_json_patch_leaves_the_input_alone() -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(errors.BadRequest):
        json_patch(DOC, [{"op": "remove", "path": "/spec/replicas"},
                         {"op": "test", "path": "/spec/replicas", "value": 1}])
    assert before == DOC


@pytest.mark.parametrize(("a", "b", "equal"), [
    (1, 1.0, True),
    (True, 1, False),
    (False, 0, False),
    ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
    ({"a": 1}, {"a": 1, "b": 2}, False),
    ([1, 2], [2, 1], False),
    ("1", 1, False),
])
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
