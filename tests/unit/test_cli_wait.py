"""`jota wait`: kubectl's --for and --timeout syntax, and waiting on a watch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jota.cli.commands import wait
from jota.cli.commands.wait import Condition
from jota.cli.context import UsageError
from tests.unit.fakeclient import FakeClient, install, run_cli


def deployment(available: str | None = None, generation: int = 1,
               observed: int = 1) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": observed}
    if available is not None:
        status["conditions"] = [{"type": "Available", "status": available}]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 1}, "status": status}


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("1h30m", 5400.0), ("500ms", 0.5),
    ("1.5s", 1.5), ("0", 0.0), ("-1s", -1.0),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert wait.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "message"), [
    ("30", 'invalid argument "30" for "--timeout" flag: time: missing unit in duration "30"'),
    ("soon", 'invalid argument "soon" for "--timeout" flag: time: invalid duration "soon"'),
])
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        wait.parse_duration(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "cond"), [
    ("delete", Condition("delete")),
    ("condition=Available", Condition("condition", "Available", "true")),
    ("condition=Ready=False", Condition("condition", "Ready", "False")),
    ("jsonpath={.status.phase}=Running", Condition("jsonpath", ".status.phase", "Running")),
    ("jsonpath='{.status.phase}'=Running".replace("'", ""),
     Condition("jsonpath", ".status.phase", "Running")),
    ("jsonpath={.status.readyReplicas}", Condition("jsonpath", ".status.readyReplicas", "")),
    ("jsonpath=.status.phase=Running", Condition("jsonpath", ".status.phase", "Running")),
])
def test_parse_condition(text: str, cond: Condition) -> None:
    assert wait.parse_condition(text) == cond


@pytest.mark.parametrize(("text", "message"), [
    ("ready", 'unrecognized condition: "ready"'),
    ("jsonpath={.status.phase}=", "jsonpath wait has to have a value after equal sign"),
    ("jsonpath={.status.phase", wait.JSONPATH_FORMAT),
])
def test_parse_condition_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        wait.parse_condition(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("obj", "cond", "met"), [
    (deployment("True"), Condition("condition", "Available", "true"), True),
    (deployment("False"), Condition("condition", "Available", "true"), False),
    (deployment("False"), Condition("condition", "available", "false"), True),
    (deployment(None), Condition("condition", "Available", "true"), False),
    (deployment("True", generation=2, observed=1),
     Condition("condition", "Available", "true"), False),
    ({"status": {"phase": "Running"}}, Condition("jsonpath", ".status.phase", "Running"), True),
    ({"status": {"readyReplicas": 3}}, Condition("jsonpath", ".status.readyReplicas", "3"),
     True),
    ({"status": {}}, Condition("jsonpath", ".status.readyReplicas", ""), False),
    ({"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
     Condition("jsonpath", '.status.conditions[?(@.type=="Ready")].status', "True"), True),
])
def test_condition_met(obj: dict[str, Any], cond: Condition, met: bool) -> None:
    assert wait.condition_met(cond, obj) is met


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    return install(monkeypatch, tmp_path)


def test_wait_condition_already_met(fake: FakeClient,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(deployment("True"))
    assert run_cli(["wait", "--for=condition=Available", "deploy/web"]) == 0
    assert capsys.readouterr().out == "deployment.apps/web condition met\n"
    assert not [c for c in fake.calls if c[0] == "watch"]


def test_wait_sees_change_on_watch(fake: FakeClient,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(deployment("False"))

    def become_available(f: FakeClient) -> None:
        f.modify("deployments", "web",
                 lambda o: o["status"].__setitem__("conditions", [{"type": "Available",
                                                                   "status": "True"}]))
    fake.on_watch.append(become_available)
    assert run_cli(["wait", "deployment", "web", "--for", "condition=Available",
                    "--timeout=5s"]) == 0
    assert capsys.readouterr().out == "deployment.apps/web condition met\n"
    watches = [c for c in fake.calls if c[0] == "watch"]
    assert len(watches) == 1 and watches[0][1][3] == "metadata.name=web"


def test_wait_times_out(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(deployment("False"))
    assert run_cli(["wait", "--for=condition=Available", "deploy/web",
                    "--timeout=100ms"]) == 1
    assert capsys.readouterr().err == (
        "error: timed out waiting for the condition on deployments/web\n")


def test_wait_for_delete(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(deployment())
    fake.on_watch.append(lambda f: f.remove("deployments", "web"))
    assert run_cli(["wait", "--for=delete", "deploy/web", "--timeout=5s"]) == 0
    assert capsys.readouterr().out == "deployment.apps/web condition met\n"
    # Already gone: nothing to wait for, nothing printed, success.
    assert run_cli(["wait", "--for=delete", "deploy/web"]) == 0
    assert capsys.readouterr().out == ""


def test_wait_jsonpath_with_selector(fake: FakeClient,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b"):
        fake.add({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": name, "labels": {"app": "x"}},
                  "spec": {}, "status": {"phase": "Running"}})
    assert run_cli(["wait", "pods", "-l", "app=x",
                    "--for=jsonpath={.status.phase}=Running"]) == 0
    assert capsys.readouterr().out == "pod/a condition met\npod/b condition met\n"


@pytest.mark.parametrize(("argv", "err"), [
    (["wait", "deploy/nope", "--for=condition=Available"],
     'Error from server (NotFound): deployments.apps "nope" not found\n'),
    (["wait", "pods", "-l", "app=none", "--for=condition=Ready"],
     "error: no matching resources found\n"),
    (["wait", "deploy/web"], "error: --for must be specified\n"),
])
def test_wait_errors(fake: FakeClient, capsys: pytest.CaptureFixture[str], argv: list[str],
                     err: str) -> None:
    assert run_cli(argv) == 1
    assert capsys.readouterr().err == err
