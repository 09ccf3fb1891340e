"""`jota expose`: a Service whose selector and ports come from the exposed object."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from jota.cli.commands import expose
from jota.cli.context import UsageError
from tests.unit.fakeclient import FakeClient, install, run_cli


def deployment(ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"team": "a"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx",
                                                           "ports": ports or []}]}}}}


def flags(**kw: str) -> argparse.Namespace:
    base = {"port": "", "target_port": "", "protocol": "", "name": "", "type": "",
            "selector": "", "labels": "", "cluster_ip": "", "external_ip": ""}
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    return install(monkeypatch, tmp_path)


@pytest.mark.parametrize(("obj", "selector"), [
    (deployment(), {"app": "web"}),
    ({"kind": "Pod", "metadata": {"labels": {"run": "x"}}}, {"run": "x"}),
    ({"kind": "Service", "spec": {"selector": {"app": "db"}}}, {"app": "db"}),
])
def test_selector_for(obj: dict[str, Any], selector: dict[str, str]) -> None:
    assert expose.selector_for(obj) == selector


def test_selector_for_pod_without_labels() -> None:
    with pytest.raises(UsageError, match="the pod has no labels and cannot be exposed"):
        expose.selector_for({"kind": "Pod", "metadata": {}})


def test_build_with_port_flags() -> None:
    svc = expose.build(deployment(), flags(port="80", target_port="8080", type="NodePort"))
    assert svc["metadata"] == {"name": "web", "labels": {"team": "a"}}
    assert svc["spec"] == {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                           "selector": {"app": "web"}, "type": "NodePort"}


def test_build_ports_found_by_introspection() -> None:
    svc = expose.build(deployment([{"containerPort": 80}, {"containerPort": 53,
                                                          "protocol": "UDP"}]), flags())
    assert svc["spec"]["ports"] == [
        {"name": "port-1", "port": 80, "protocol": "TCP", "targetPort": 80},
        {"name": "port-2", "port": 53, "protocol": "UDP", "targetPort": 53}]


@pytest.mark.parametrize(("obj", "message"), [
    ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}},
     "cannot expose a Job.batch"),
    (deployment(), "couldn't find port via --port flag or introspection"),
])
def test_build_errors(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        expose.build(obj, flags())


def test_expose_prints_exposed(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(deployment())
    assert run_cli(["expose", "deploy/web", "--port=80", "--target-port=8080",
                    "--name=front"]) == 0
    assert capsys.readouterr().out == "service/front exposed\n"
    assert fake.stored("services", "front")["spec"]["selector"] == {"app": "web"}


def test_expose_missing_object(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["expose", "deployment", "nope", "--port=80"]) == 1
    assert capsys.readouterr().err == (
        'Error from server (NotFound): deployments.apps "nope" not found\n')
