"""`jota version`, `jota explain` and `jota api-resources`: the discovery verbs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jota.api.gen import resources_pb2 as pb
from jota.cli.commands import api_resources
from tests.unit.fakeclient import FakeClient, install, run_cli


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    return install(monkeypatch, tmp_path)


def test_version(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    fake.server_version = "0.1.0"
    assert run_cli(["version"]) == 0
    assert capsys.readouterr().out == "Client Version: v0.1.0\nServer Version: v0.1.0\n"
    assert run_cli(["version", "--client"]) == 0
    assert capsys.readouterr().out == "Client Version: v0.1.0\n"


def test_version_json(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["version", "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["clientVersion"]["gitVersion"] == "v0.1.0"
    assert doc["clientVersion"]["major"] == "0" and doc["clientVersion"]["minor"] == "1"
    assert doc["serverVersion"]["gitVersion"] == "v0.1.0"


def test_explain_passes_path(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["explain", "pods.spec.containers", "--recursive"]) == 0
    assert fake.explained == [("pods.spec.containers", True)]
    assert capsys.readouterr().out.startswith("KIND:     pods\n")


def resource(name: str, group: str, kind: str, namespaced: bool = True,
             short: tuple[str, ...] = ()) -> pb.APIResource:
    return pb.APIResource(name=name, group=group, version="v1", kind=kind,
                          namespaced=namespaced, short_names=list(short),
                          verbs=["get", "list"], categories=["all"] if group == "apps" else [])


RESOURCES = [resource("deployments", "apps", "Deployment", short=("deploy",)),
             resource("pods", "", "Pod", short=("po",)),
             resource("namespaces", "", "Namespace", namespaced=False, short=("ns",))]


def test_api_resources_table() -> None:
    chosen = api_resources.select(RESOURCES)
    assert api_resources.render(chosen) == (
        "NAME          SHORTNAMES   APIVERSION   NAMESPACED   KIND\n"
        "namespaces    ns           v1           false        Namespace\n"
        "pods          po           v1           true         Pod\n"
        "deployments   deploy       apps/v1      true         Deployment")


@pytest.mark.parametrize(("kwargs", "output", "text"), [
    ({"namespaced": "false"}, "name", "namespaces"),
    ({"api_group": "apps"}, "name", "deployments.apps"),
    ({"api_group": ""}, "name", "namespaces\npods"),
    ({"sort_by": "kind"}, "name", "deployments.apps\nnamespaces\npods"),
])
def test_api_resources_filters(kwargs: dict[str, str], output: str, text: str) -> None:
    assert api_resources.render(api_resources.select(RESOURCES, **kwargs), output) == text


def test_api_resources_wide() -> None:
    text = api_resources.render(api_resources.select(RESOURCES, api_group="apps"), "wide")
    assert text.splitlines()[1].endswith("Deployment   [get list]   all")


def test_api_resources_cli(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["api-resources", "--namespaced=false", "-o", "name"]) == 0
    names = capsys.readouterr().out.split()
    assert "namespaces" in names and "nodes" in names and "pods" not in names
