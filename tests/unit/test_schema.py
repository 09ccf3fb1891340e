"""The structural check: strict Kubernetes schemas, every error at once, kubectl paths."""

from __future__ import annotations

import time
from typing import Any

import pytest

from jota.api import errors
from jota.api.quantity import FORMAT_ERROR
from jota.api.registry import RESOURCES, ResourceType, by_kind
from jota.api.schema import check_schema


def nginx() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                                         "ports": [{"containerPort": 80}]}]},
            },
        },
    }


DEPLOY = by_kind("Deployment")


def unknown(path: str) -> str:
    """However errors.py renders an unknown field (kubectl: `unknown field "spec.x"`)."""
    return str(errors.unknown_field(path))


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    doc = nginx()
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


def test_valid_deployment_has_no_errors() -> None:
    assert check_schema(DEPLOY, nginx()) == []


CONTAINER = ["spec", "template", "spec", "containers", 0]


@pytest.mark.parametrize("path,value,expected", [
    (["spec", "contaners"], [], unknown("spec.contaners")),
    (["metadata", "labelz"], {}, unknown("metadata.labelz")),
    ([*CONTAINER, "imagePullPolcy"], "Always",
     unknown("spec.template.spec.containers[0].imagePullPolcy")),
    (["spec", "replicas"], "3", 'spec.replicas: Invalid value: "3": must be of type int32'),
    (["spec", "paused"], "yes", 'spec.paused: Invalid value: "yes": must be of type boolean'),
    ([*CONTAINER, "image"], 5,
     "spec.template.spec.containers[0].image: Invalid value: 5: must be of type string"),
    ([*CONTAINER, "ports", 0, "containerPort"], None,
     "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: null: "
     "must be of type int32"),
    (["metadata", "labels", "tier"], 3,
     "metadata.labels[tier]: Invalid value: 3: must be of type string"),
    ([*CONTAINER, "resources"], {"limits": {"cpu": [1]}},
     f"spec.template.spec.containers[0].resources.limits[cpu]: Invalid value: [1]: "
     f"{FORMAT_ERROR}"),
    (["spec", "strategy"], {"rollingUpdate": {"maxSurge": True}},
     "spec.strategy.rollingUpdate.maxSurge: Invalid value: true: must be of type "
     "int-or-string"),
    (["apiVersion"], "apps/v2",
     'apiVersion: Unsupported value: "apps/v2": supported values: "apps/v1"'),
])
def test_one_error(path: list[Any], value: Any, expected: str) -> None:
    found = check_schema(DEPLOY, with_change(path, value))
    assert [str(e) for e in found] == [expected]


def test_unknown_field_uses_the_contract_helper() -> None:
    found = check_schema(DEPLOY, with_change(["spec", "contaners"], []))
    assert found == [errors.unknown_field("spec.contaners")]


def test_missing_required_fields() -> None:
    doc = nginx()
    doc["spec"]["template"]["spec"]["containers"].append({"image": "x"})
    del doc["spec"]["selector"]
    found = {str(e) for e in check_schema(DEPLOY, doc)}
    assert found == {"spec.selector: Required value",
                     "spec.template.spec.containers[1].name: Required value"}


def test_every_error_is_reported_at_once() -> None:
    doc = nginx()
    doc["spec"]["contaners"] = []
    doc["spec"]["replicas"] = "three"
    doc["metadata"]["foo"] = 1
    doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = 6
    found = {str(e) for e in check_schema(DEPLOY, doc)}
    assert found == {
        unknown("spec.contaners"),
        unknown("metadata.foo"),
        'spec.replicas: Invalid value: "three": must be of type int32',
        "spec.template.spec.containers[0].ports[0].protocol: Invalid value: 6: must be of "
        "type string",
    }


@pytest.mark.parametrize("value", [None, "1", 1, "50%"])
def test_int_or_string_accepts_null_ints_and_strings(value: Any) -> None:
    doc = with_change(["spec", "strategy"], {"rollingUpdate": {"maxSurge": value}})
    assert check_schema(DEPLOY, doc) == []


@pytest.mark.parametrize("value", [None, "500m", 1, 0.5, "1Gi"])
def test_quantity_accepts_null_numbers_and_strings(value: Any) -> None:
    doc = with_change([*CONTAINER, "resources"], {"limits": {"cpu": value}})
    assert check_schema(DEPLOY, doc) == []


def test_autoscaling_v1_documents_use_the_v1_schema() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "php-apache"},
          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": "php-apache"},
                   "minReplicas": 1, "maxReplicas": 10, "targetCPUUtilizationPercentage": 50}}
    assert check_schema(hpa, v1) == []
    v2 = dict(v1, apiVersion="autoscaling/v2")
    assert unknown("spec.targetCPUUtilizationPercentage") in {
        str(e) for e in check_schema(hpa, v2)}


@pytest.mark.parametrize("doc", [[], "x", 3, None])
def test_non_objects_are_reported_not_raised(doc: Any) -> None:
    (err,) = check_schema(DEPLOY, doc)
    assert err.detail == "must be of type object"


def test_deeply_nested_garbage_is_an_error_not_a_crash() -> None:
    deep: Any = {}
    for _ in range(3000):
        deep = {"a": deep}
    doc = with_change(["spec", "template", "metadata", "annotations"], deep)
    found = check_schema(DEPLOY, doc)
    assert found and all(isinstance(e, errors.FieldError) for e in found)


def test_fast_path_is_well_under_a_millisecond() -> None:
    doc = nginx()
    check_schema(DEPLOY, doc)
    n = 500
    start = time.perf_counter()
    for _ in range(n):
        check_schema(DEPLOY, doc)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 0.001


@pytest.mark.parametrize("rt", RESOURCES, ids=[r.kind for r in RESOURCES])
def test_every_kind_has_a_schema_that_compiles(rt: ResourceType) -> None:
    minimal = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": {"name": "x"}}
    baseline = {str(e) for e in check_schema(rt, minimal)}
    assert all(e.endswith("Required value") for e in baseline)  # e.g. a Role's roleRef
    found = {str(e) for e in check_schema(rt, dict(minimal, bogus=1))}
    assert found == baseline | {unknown("bogus")}
