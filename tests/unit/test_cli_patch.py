"""`jota patch`: the three patch types, `patched` vs `patched (no change)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jota.cli.commands import patch
from jota.cli.context import UsageError
from tests.unit.fakeclient import FakeClient, install, run_cli


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "a"},
                                                          {"name": "side", "image": "b"}]}}}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    f = install(monkeypatch, tmp_path)
    f.add(deployment())
    return f


@pytest.mark.parametrize(("argv", "replicas", "images"), [
    (["-p", '{"spec":{"replicas":3}}'], 3, ["a", "b"]),
    (["-p", "spec:\n  replicas: 4\n"], 4, ["a", "b"]),
    (["-p", '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"new"}]}}}}'],
     1, ["new", "b"]),
    (["--type=merge", "-p", '{"spec":{"template":{"spec":{"containers":'
                            '[{"name":"web","image":"new"}]}}}}'], 1, ["new"]),
    (["--type", "json", "-p", '[{"op":"replace","path":"/spec/replicas","value":2}]'],
     2, ["a", "b"]),
])
def test_patch_types(fake: FakeClient, capsys: pytest.CaptureFixture[str], argv: list[str],
                     replicas: int, images: list[str]) -> None:
    assert run_cli(["patch", "deployment", "web", *argv]) == 0
    assert capsys.readouterr().out == "deployment.apps/web patched\n"
    spec = fake.stored("deployments", "web")["spec"]
    assert spec["replicas"] == replicas
    assert [c["image"] for c in spec["template"]["spec"]["containers"]] == images


def test_patch_no_change(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["patch", "deploy/web", "-p", '{"spec":{"replicas":1}}']) == 0
    assert capsys.readouterr().out == "deployment.apps/web patched (no change)\n"


def test_patch_file_and_client_dry_run(fake: FakeClient, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("spec:\n  replicas: 5\n")
    assert run_cli(["patch", "deploy/web", "--patch-file", str(f), "--dry-run=client"]) == 0
    assert capsys.readouterr().out == "deployment.apps/web patched (dry run)\n"
    assert fake.stored("deployments", "web")["spec"]["replicas"] == 1


@pytest.mark.parametrize(("text", "file", "message"), [
    (None, "", "must specify --patch or --patch-file containing the contents of the patch"),
    ("{}", "x", "cannot specify --patch and --patch-file together"),
])
def test_read_patch_errors(text: str | None, file: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        patch.read_patch(text, file)


def test_patch_missing_object(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["patch", "deploy", "nope", "-p", "{}"]) == 1
    assert capsys.readouterr().err == (
        'Error from server (NotFound): deployments.apps "nope" not found\n')
