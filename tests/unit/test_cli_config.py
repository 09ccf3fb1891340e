"""`jota config`: contexts in $JOTA_CONFIG, in kubectl config's words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.fakeclient import FakeClient, install, run_cli


@pytest.fixture
def cfg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    install(monkeypatch, tmp_path)
    return tmp_path / "config"


def write(cfg: Path) -> None:
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "contexts": [{"name": "local", "context": {"server": "127.0.0.1:6443",
                                                    "namespace": "default"}},
                     {"name": "prod", "context": {"server": "10.0.0.1:6443"}}]}))


def test_set_use_and_current(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["config", "set-context", "dev", "--server=1.2.3.4:6443",
                    "--namespace=team"]) == 0
    assert run_cli(["config", "set-context", "dev", "--namespace=other"]) == 0
    assert run_cli(["config", "use-context", "dev"]) == 0
    assert run_cli(["config", "current-context"]) == 0
    assert capsys.readouterr().out == ('Context "dev" created.\nContext "dev" modified.\n'
                                       'Switched to context "dev".\ndev\n')
    doc = yaml.safe_load(cfg.read_text())
    assert doc["contexts"] == [{"name": "dev", "context": {"server": "1.2.3.4:6443",
                                                           "namespace": "other"}}]


def test_set_context_current(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(cfg)
    assert run_cli(["config", "set-context", "--current", "--namespace=kube-system"]) == 0
    assert capsys.readouterr().out == 'Context "local" modified.\n'
    assert yaml.safe_load(cfg.read_text())["contexts"][0]["context"]["namespace"] == \
        "kube-system"


def test_get_contexts(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(cfg)
    assert run_cli(["config", "get-contexts"]) == 0
    assert capsys.readouterr().out == (
        "CURRENT   NAME    CLUSTER          AUTHINFO   NAMESPACE\n"
        "*         local   127.0.0.1:6443              default\n"
        "          prod    10.0.0.1:6443               \n")
    assert run_cli(["config", "get-contexts", "-o", "name"]) == 0
    assert capsys.readouterr().out == "local\nprod\n"


@pytest.mark.parametrize(("argv", "err"), [
    (["config", "use-context", "nope"], 'error: no context exists with the name: "nope"\n'),
    (["config", "current-context"], "error: current-context is not set\n"),
    (["config", "get-contexts", "nope"], "error: context nope not found\n"),
])
def test_config_errors(cfg: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                       err: str) -> None:
    assert run_cli(argv) == 1
    assert capsys.readouterr().err == err


def test_view_and_minify(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(cfg)
    assert run_cli(["config", "view", "--minify"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert [c["name"] for c in doc["contexts"]] == ["local"]
    assert doc["current-context"] == "local"


def test_delete_context(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(cfg)
    assert run_cli(["config", "delete-context", "prod"]) == 0
    assert capsys.readouterr().out == f"deleted context prod from {cfg}\n"
    assert [c["name"] for c in yaml.safe_load(cfg.read_text())["contexts"]] == ["local"]


def test_config_never_contacts_server(cfg: Path, monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    fake = FakeClient()
    monkeypatch.setattr("jota.cli.main.Client", fake.factory)
    run_cli(["config", "view"])
    assert fake.calls == []
