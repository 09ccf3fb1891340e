"""Reading manifests: a malformed file or an unknown kind is refused in one line naming
the line or the object, as kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest

from jota.cli.context import UsageError
from jota.cli.manifests import parse
from tests.unit.fakeclient import FakeClient, install, run_cli


@pytest.mark.parametrize(("text", "message"), [
    ("kind: ConfigMap\nmetadata:\n  name: [unclosed\n  data: {a: b\n",
     "error parsing f.yaml: error converting YAML to JSON: yaml: line 4: expected ',' or "
     "']', but got ':'"),
    ("a: b\n c: d\n", "error parsing f.yaml: error converting YAML to JSON: yaml: line 2: "
                      "mapping values are not allowed here"),
    ("a:\tb\n", "error parsing f.yaml: error converting YAML to JSON: yaml: line 1: found "
                "character '\\t' that cannot start any token"),
])
def test_malformed_yaml_is_one_line_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse(text, "f.yaml")
    assert str(e.value) == message


def test_malformed_json_names_the_position() -> None:
    with pytest.raises(UsageError, match=r"error parsing f\.json: Expecting .* line 1"):
        parse('{"kind": ', "f.json")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    return install(monkeypatch, tmp_path)


@pytest.mark.parametrize(("text", "err"), [
    ("apiVersion: v1\nkind: Frobnicator\nmetadata: {name: x, namespace: team}\n",
     'error: resource mapping not found for name: "x" namespace: "team" from "{f}": '
     'no matches for kind "Frobnicator" in version "v1"\n'),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
     "error: error parsing {f}: error converting YAML to JSON: "
     "yaml: line 5: expected ',' or ']', but got '<stream end>'\n"),
])
def test_apply_refuses_in_one_line_naming_the_file(
        fake: FakeClient, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
        err: str) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(text)
    assert run_cli(["apply", "-f", str(f)]) == 1
    assert capsys.readouterr().err == err.format(f=f)
