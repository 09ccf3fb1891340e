"""`jota autoscale` writes an autoscaling/v2 HPA; `jota get hpa` shows it; autoscaling/v1
documents are stored as v2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jota.api.conversion import hpa_v1_to_v2, to_stored_version
from tests.unit.fakeclient import FakeClient, install, run_cli


def workload(kind: str, name: str = "web") -> dict[str, Any]:
    group = {"Pod": "v1"}.get(kind, "apps/v1")
    return {"apiVersion": group, "kind": kind,
            "metadata": {"name": name, "namespace": "default"}, "spec": {}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    f = install(monkeypatch, tmp_path)
    f.add(workload("Deployment"))
    f.add(workload("StatefulSet", "db"))
    f.add(workload("Pod", "bare"))
    return f


def test_autoscale_a_deployment(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["autoscale", "deploy/web", "--cpu-percent=50", "--min=1", "--max=5"]) == 0
    assert capsys.readouterr().out == "horizontalpodautoscaler.autoscaling/web autoscaled\n"
    hpa = fake.stored("horizontalpodautoscalers", "web")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}
    assert run_cli(["get", "hpa"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                              "REPLICAS", "AGE"]
    assert out[1].split()[:7] == ["web", "Deployment/web", "cpu:", "<unknown>/50%", "1", "5",
                                  "0"]


def test_autoscale_a_statefulset_with_a_name_and_no_target(
        fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["autoscale", "sts", "db", "--max=3", "--name=db-hpa"]) == 0
    assert capsys.readouterr().out == "horizontalpodautoscaler.autoscaling/db-hpa autoscaled\n"
    spec = fake.stored("horizontalpodautoscalers", "db-hpa")["spec"]
    assert spec == {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                       "name": "db"}, "maxReplicas": 3}


@pytest.mark.parametrize("argv,message", [
    (["autoscale", "deploy/web"],
     "error: --max=MAXPODS is required and must be at least 1, max: -1\n"),
    (["autoscale", "deploy/web", "--min=5", "--max=2"],
     "error: --max=MAXPODS must be larger or equal to --min=MINPODS, max: 2, min: 5\n"),
    (["autoscale", "pod/bare", "--max=2"],
     "error: cannot autoscale a Pod: could not find scale subresource for /v1, "
     "Resource=pods in discovery information\n"),
    (["autoscale", "deploy/nope", "--max=2"],
     'Error from server (NotFound): deployments.apps "nope" not found\n'),
])
def test_autoscale_errors_in_kubectls_words(fake: FakeClient,
                                            capsys: pytest.CaptureFixture[str],
                                            argv: list[str], message: str) -> None:
    assert run_cli(argv) == 1
    assert capsys.readouterr().err == message


def test_autoscale_twice_is_already_exists(fake: FakeClient,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["autoscale", "deploy/web", "--max=2"]) == 0
    assert run_cli(["autoscale", "deploy/web", "--max=2"]) == 1
    assert capsys.readouterr().err == ('Error from server (AlreadyExists): '
                                       'horizontalpodautoscalers.autoscaling "web" already '
                                       "exists\n")


def test_v1_autoscalers_are_stored_as_v2() -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "web"},
          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": "web"},
                   "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60},
          "status": {"currentReplicas": 2, "desiredReplicas": 3,
                     "currentCPUUtilizationPercentage": 73}}
    v2 = hpa_v1_to_v2(v1)
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    assert "targetCPUUtilizationPercentage" not in v2["spec"]
    assert v2["status"] == {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu",
                                          "current": {"averageUtilization": 73}}}]}
    assert to_stored_version(v2) is v2
    assert "targetCPUUtilizationPercentage" in v1["spec"]  # the input is not changed
