"""`jota apply`'s three-way patch, checked against golden re-applies in golden/apply/."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from jota.api import errors
from jota.api.apply import LAST_APPLIED, annotate_last_applied, last_applied_of, three_way_patch
from jota.api.registry import by_kind
from jota.api.strategic import strategic_merge_patch
from tests.unit.test_strategic import PODS

GOLDEN = sorted((Path(__file__).parent / "golden" / "apply").glob("*.yaml"))


def _without_last_applied(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop the new last-applied annotation (and the maps it leaves empty)."""
    doc = copy.deepcopy(doc)
    metadata: dict[str, Any] = doc.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    if "annotations" in metadata and not annotations:
        del metadata["annotations"]
    if "metadata" in doc and not metadata:
        del doc["metadata"]
    return doc


def _live_with_annotation(case: dict[str, Any]) -> dict[str, Any]:
    live: dict[str, Any] = copy.deepcopy(case["live"])
    if case["previous"] is not None:
        text = annotate_last_applied(case["previous"])["metadata"]["annotations"][LAST_APPLIED]
        live["metadata"].setdefault("annotations", {})[LAST_APPLIED] = text
    return live


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_reapply(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    rt = by_kind(case["kind"])
    live = _live_with_annotation(case)
    modified = annotate_last_applied(case["manifest"])

    patch = three_way_patch(last_applied_of(live), modified, live, rt)

    if case["previous"] == case["manifest"]:
        assert patch == {}, "an identical re-apply must print `unchanged`"
        return
    assert _without_last_applied(patch) == case["patch"]
    assert patch["metadata"]["annotations"][LAST_APPLIED] == (
        modified["metadata"]["annotations"][LAST_APPLIED])

    result = strategic_merge_patch(live, patch, rt)
    assert _without_last_applied(result) == case["result"]
    assert last_applied_of(result) == last_applied_of(modified)
    # Applying the same manifest again is now a no-op.
    assert three_way_patch(last_applied_of(result), modified, result, rt) == {}


def test_golden_cases_cover_the_issue() -> None:
    names = {p.stem for p in GOLDEN}
    for needed in ("01-env-entry-removed", "02-labels", "03-status-and-defaults",
                   "04-identical", "05-container-added-and-removed", "06-replicas"):
        assert needed in names


def test_env_entry_removed_keeps_the_other_entries_in_order() -> None:
    case = yaml.safe_load((GOLDEN[0]).read_text())
    rt = by_kind("Deployment")
    live = _live_with_annotation(case)
    patch = three_way_patch(last_applied_of(live), case["manifest"], live, rt)  # bare manifest
    result = strategic_merge_patch(live, patch, rt)
    env = result["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["MODE", "PORT"]


def test_three_way_patch_annotates_a_bare_manifest() -> None:
    rt = by_kind("ConfigMap")
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"a": "1"}}
    live = {**copy.deepcopy(manifest), "metadata": {"name": "c", "uid": "u"}}
    patch = three_way_patch(None, manifest, live, rt)
    assert json.loads(patch["metadata"]["annotations"][LAST_APPLIED]) == {
        **manifest, "metadata": {"name": "c", "annotations": {}}}


def test_annotate_last_applied_matches_kubectl() -> None:
    manifest: dict[str, Any] = {
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "c", "annotations": {LAST_APPLIED: "old", "x": "é"}},
        "data": {"b": "2", "a": "1"},
    }
    annotated = annotate_last_applied(manifest)
    text = annotated["metadata"]["annotations"][LAST_APPLIED]
    assert text == ('{"apiVersion":"v1","data":{"a":"1","b":"2"},"kind":"ConfigMap",'
                    '"metadata":{"annotations":{"x":"é"},"name":"c"}}\n')
    assert annotated["metadata"]["annotations"]["x"] == "é"
    assert manifest["metadata"]["annotations"][LAST_APPLIED] == "old", "input untouched"
    assert annotate_last_applied(annotated) == annotated, "idempotent"


@pytest.mark.parametrize(("annotations", "expected"), [
    (None, None),
    ({}, None),
    ({LAST_APPLIED: ""}, None),
    ({LAST_APPLIED: "not json"}, None),
    ({LAST_APPLIED: "[1, 2]"}, None),
    ({LAST_APPLIED: '{"kind":"Pod"}\n'}, {"kind": "Pod"}),
])
def test_last_applied_of(annotations: dict[str, str] | None,
                         expected: dict[str, Any] | None) -> None:
    live: dict[str, Any] = {"metadata": {"name": "x"}}
    if annotations is not None:
        live["metadata"]["annotations"] = annotations
    assert last_applied_of(live) == expected


def test_changed_image_and_removed_env_in_one_container() -> None:
    rt = by_kind("Pod")
    previous: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "a:1",
                                 "env": [{"name": "X", "value": "1"},
                                         {"name": "Y", "value": "2"}]}]},
    }
    manifest = copy.deepcopy(previous)
    manifest["spec"]["containers"][0]["image"] = "a:2"
    del manifest["spec"]["containers"][0]["env"][0]
    live = annotate_last_applied(previous)
    live["spec"]["nodeName"] = "n1"
    patch = three_way_patch(last_applied_of(live), manifest, live, rt)
    result = strategic_merge_patch(live, patch, rt)
    assert result["spec"]["containers"] == [
        {"name": "c", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]
    assert result["spec"]["nodeName"] == "n1"


def test_finalizers_removed_from_manifest_keep_foreign_ones() -> None:
    rt = by_kind("ConfigMap")
    previous = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "finalizers": ["a/x", "a/y"]}}
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "finalizers": ["a/x"]}}
    live = annotate_last_applied(previous)
    live["metadata"]["finalizers"] = ["a/x", "a/y", "other/z"]
    patch = three_way_patch(last_applied_of(live), manifest, live, rt)
    assert patch["metadata"]["$deleteFromPrimitiveList/finalizers"] == ["a/y"]
    result = strategic_merge_patch(live, patch, rt)
    assert result["metadata"]["finalizers"] == ["a/x", "other/z"]


@pytest.mark.parametrize(("last", "modified", "live"), [
    ("x", {}, {}),
    (None, [], {}),
    (None, {}, "live"),
])
def test_wrong_types_are_bad_requests(last: Any, modified: Any, live: Any) -> None:
    with pytest.raises(errors.BadRequest):
        three_way_patch(last, modified, live, by_kind("Pod"))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(PODS, PODS)
def test_apply_converges_on_the_manifest(previous: dict[str, Any],
                                         manifest: dict[str, Any]) -> None:
    """With nobody else touching the object, apply makes it exactly the manifest,
    and applying again is `unchanged`."""
    rt = by_kind("Pod")
    live = annotate_last_applied(previous)
    patch = three_way_patch(last_applied_of(live), manifest, live, rt)
    result = strategic_merge_patch(live, patch, rt)
    assert result == annotate_last_applied(manifest)
    assert three_way_patch(last_applied_of(result), manifest, result, rt) == {}
