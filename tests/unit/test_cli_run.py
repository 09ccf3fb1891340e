"""`jota run`: the Pod kubectl run would create."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.fakeclient import FakeClient, install, run_cli


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    return install(monkeypatch, tmp_path)


def test_run_creates_labelled_pod(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "web", "--image=nginx:1.25", "--port=80", "--env=MODE=prod"]) == 0
    assert capsys.readouterr().out == "pod/web created\n"
    pod = fake.stored("pods", "web")
    assert pod["metadata"]["labels"] == {"run": "web"}
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["dnsPolicy"] == "ClusterFirst"
    assert pod["spec"]["containers"] == [{
        "image": "nginx:1.25", "name": "web", "env": [{"name": "MODE", "value": "prod"}],
        "ports": [{"containerPort": 80}], "resources": {}}]


@pytest.mark.parametrize(("extra", "field", "value"), [
    (["--", "sleep", "10"], "args", ["sleep", "10"]),
    (["--command", "--", "sh", "-c", "echo hi"], "command", ["sh", "-c", "echo hi"]),
])
def test_run_args_and_command(fake: FakeClient, extra: list[str], field: str,
                              value: list[str]) -> None:
    assert run_cli(["run", "job", "--image=busybox", "--restart=Never", *extra]) == 0
    pod = fake.stored("pods", "job")
    assert pod["spec"]["containers"][0][field] == value
    assert pod["spec"]["restartPolicy"] == "Never"


def test_run_labels_replace_run_label(fake: FakeClient) -> None:
    run_cli(["run", "web", "--image=nginx", "--labels=app=web,tier=front"])
    assert fake.stored("pods", "web")["metadata"]["labels"] == {"app": "web", "tier": "front"}


def test_run_dry_run_prints_without_sending(fake: FakeClient,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "web", "--image=nginx", "--dry-run=client", "-o", "name"]) == 0
    assert capsys.readouterr().out == "pod/web\n"
    assert fake.calls == []


def test_run_expose_creates_service_first(fake: FakeClient,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "web", "--image=nginx", "--port=80", "--expose"]) == 0
    assert capsys.readouterr().out == "service/web created\npod/web created\n"
    svc = fake.stored("services", "web")
    assert svc["spec"]["selector"] == {"run": "web"}
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]


@pytest.mark.parametrize(("argv", "err"), [
    (["run", "web"], "error: --image is required\n"),
    (["run", "web", "--image=x", "--env=NOVALUE"], "error: invalid env: NOVALUE\n"),
])
def test_run_errors(fake: FakeClient, capsys: pytest.CaptureFixture[str], argv: list[str],
                    err: str) -> None:
    assert run_cli(argv) == 1
    assert capsys.readouterr().err == err
