"""`jota explain` prints what kubectl explain prints, from the same schemas."""

from __future__ import annotations

import pytest

from jota.api import errors
from jota.api.explain import explain


def test_kind() -> None:
    out = explain("deployment")
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\n"
                          "DESCRIPTION:\n    Deployment enables declarative updates for Pods "
                          "and ReplicaSets.\n")
    assert "FIELDS:\n  apiVersion\t<string>\n" in out
    assert "\n  spec\t<DeploymentSpec>\n" in out
    assert "\n  metadata\t<ObjectMeta>\n" in out


def test_core_kind_has_no_group_line() -> None:
    assert explain("po").startswith("KIND:       Pod\nVERSION:    v1\n")


def test_field() -> None:
    out = explain("deploy.spec.replicas")
    assert "FIELD: replicas <integer>\n" in out
    assert "DESCRIPTION:\n    Number of desired pods." in out
    assert "FIELDS:" not in out


def test_nested_field_lists_its_fields_with_required_markers() -> None:
    out = explain("deployment.spec")
    assert "FIELD: spec <DeploymentSpec>" in out
    assert "\n  selector\t<LabelSelector> -required-\n" in out
    assert "\n  template\t<PodTemplateSpec> -required-\n" in out
    assert "\n  replicas\t<integer>\n" in out


@pytest.mark.parametrize("path,line", [
    ("pods.spec.containers", "FIELD: containers <[]Container>"),
    ("pod.spec.containers.resources.limits", "FIELD: limits <map[string]Quantity>"),
    ("pod.spec.containers.ports.containerPort", "FIELD: containerPort <integer>"),
    ("svc.spec.ports.targetPort", "FIELD: targetPort <IntOrString>"),
    ("pod.metadata.labels", "FIELD: labels <map[string]string>"),
    ("pod.metadata.creationTimestamp", "FIELD: creationTimestamp <string>"),
    ("deployments.apps.spec.strategy", "FIELD: strategy <DeploymentStrategy>"),
])
def test_types(path: str, line: str) -> None:
    assert line in explain(path)


def test_containers_list_name_as_required() -> None:
    assert "\n  name\t<string> -required-\n" in explain("pod.spec.containers")


def test_recursive_lists_every_field_without_descriptions() -> None:
    out = explain("deployment.spec.strategy", recursive=True)
    assert out.endswith("FIELDS:\n  rollingUpdate\t<RollingUpdateDeployment>\n"
                        "    maxSurge\t<IntOrString>\n    maxUnavailable\t<IntOrString>\n"
                        "  type\t<string>\n")


def test_unknown_field() -> None:
    with pytest.raises(errors.NotFound) as exc:
        explain("deployment.spec.foo")
    assert exc.value.message == 'field "foo" does not exist'


def test_unknown_kind() -> None:
    with pytest.raises(errors.BadRequest) as exc:
        explain("widgets")
    assert exc.value.message == 'the server doesn\'t have a resource type "widgets"'


def test_descriptions_wrap_at_80_columns() -> None:
    for line in explain("pod.spec").splitlines():
        assert len(line) <= 80 or "://" in line
