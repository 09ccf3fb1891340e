"""`jota scale`: through the scale subresource, with kubectl's preconditions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.fakeclient import FakeClient, install, run_cli


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    f = install(monkeypatch, tmp_path)
    for name in ("web", "api"):
        f.add({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "labels": {"tier": "front"}},
               "spec": {"replicas": 1}})
    return f


def test_scale(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["scale", "deploy/web", "--replicas=3"]) == 0
    assert capsys.readouterr().out == "deployment.apps/web scaled\n"
    assert ("update_scale", ("deployments", "web", "default", 3)) in fake.calls
    assert fake.stored("deployments", "web")["spec"]["replicas"] == 3


def test_scale_by_selector(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["scale", "deployments", "-l", "tier=front", "--replicas=0"]) == 0
    assert capsys.readouterr().out == "deployment.apps/api scaled\ndeployment.apps/web scaled\n"


@pytest.mark.parametrize(("argv", "err"), [
    (["scale", "deploy/web"], "error: The --replicas=COUNT flag is required, and COUNT must "
                              "be greater than or equal to 0\n"),
    (["scale", "deploy/web", "--replicas=2", "--current-replicas=2"],
     "error: Expected replicas to be 2, was 1\n"),
    (["scale", "deploy/nope", "--replicas=2"],
     'Error from server (NotFound): deployments.apps "nope" not found\n'),
])
def test_scale_errors(fake: FakeClient, capsys: pytest.CaptureFixture[str], argv: list[str],
                      err: str) -> None:
    assert run_cli(argv) == 1
    assert capsys.readouterr().err == err


def test_scale_client_dry_run(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["scale", "deploy/web", "--replicas=5", "--dry-run=client"]) == 0
    assert capsys.readouterr().out == "deployment.apps/web scaled (dry run)\n"
    assert fake.stored("deployments", "web")["spec"]["replicas"] == 1
