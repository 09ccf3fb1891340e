"""`jota edit`: the editor round trip, cancellation, conflicts and invalid edits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from jota.api import errors
from jota.api.errors import FieldError
from jota.cli.commands import edit
from tests.unit.fakeclient import FakeClient, install, run_cli


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "a"}]}}}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    f = install(monkeypatch, tmp_path)
    f.add(deployment())
    monkeypatch.delenv("JOTA_EDITOR", raising=False)
    monkeypatch.delenv("KUBE_EDITOR", raising=False)
    return f


def use_editor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, old: str, new: str) -> None:
    """An "editor" that replaces `old` with `new` in the file, as a user would."""
    monkeypatch.setenv("EDITOR", f"sed -i 's/{old}/{new}/'")


def test_strip_comments_and_header() -> None:
    text = edit.header_with([('deployments.apps "web" was not valid', ["spec.replicas: x"])])
    assert text.endswith('# deployments.apps "web" was not valid:\n# * spec.replicas: x\n#\n')
    assert edit.strip_comments(text + "a: 1\n  # note\nb: 2\n") == "a: 1\nb: 2\n"


def test_editor_command_prefers_kube_editor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOTA_EDITOR", raising=False)
    monkeypatch.setenv("KUBE_EDITOR", "code --wait")
    monkeypatch.setenv("EDITOR", "nano")
    assert edit.editor_command() == ["code", "--wait"]
    monkeypatch.delenv("KUBE_EDITOR")
    monkeypatch.delenv("EDITOR")
    assert edit.editor_command() == ["vi"]


def test_edit_sends_update(fake: FakeClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    use_editor(monkeypatch, tmp_path, "replicas: 1", "replicas: 3")
    assert run_cli(["edit", "deployment", "web"]) == 0
    assert capsys.readouterr().out == "deployment.apps/web edited\n"
    assert fake.stored("deployments", "web")["spec"]["replicas"] == 3


def test_edit_unchanged_is_cancelled(fake: FakeClient, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    use_editor(monkeypatch, tmp_path, "nothing-here", "x")
    assert run_cli(["edit", "deploy/web"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "Edit cancelled, no changes made.\n"
    assert not [c for c in fake.calls if c[0] == "update"]


def test_edit_conflict_keeps_a_copy(fake: FakeClient, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    use_editor(monkeypatch, tmp_path, "replicas: 1", "replicas: 3")
    fake.fail_next["update"] = errors.Conflict.stale("deployments.apps", "web")
    assert run_cli(["edit", "deployment", "web"]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: deployments.apps "web" could not be patched: Operation '
                          'cannot be fulfilled on deployments.apps "web"')
    m = re.search(r'A copy of your changes has been stored to "(.+jota-edit-.+\.yaml)"', err)
    assert m is not None
    copy = Path(m.group(1))
    assert "replicas: 3" in copy.read_text()
    copy.unlink()


def test_edit_invalid_reopens_then_gives_up(fake: FakeClient, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    use_editor(monkeypatch, tmp_path, "replicas: 1", "replicas: -1")
    cause = FieldError("spec.replicas", "must be greater than or equal to 0", value=-1)
    fake.fail_next["update"] = errors.Invalid.of("Deployment.apps", "web", [cause])
    assert run_cli(["edit", "deployment", "web"]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == 'error: deployments.apps "web" is invalid'
    assert lines[-1] == "error: Edit cancelled, no valid changes were saved."
    path = Path(re.findall(r'stored to "(.+)"', err)[0])
    text = path.read_text()
    assert '# deployments.apps "web" was not valid:\n# * spec.replicas: Invalid value: -1' in text
    assert "replicas: -1" in text
    path.unlink()
