"""`jota label` and `jota annotate`: kubectl's parsing, overwrite rule and words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jota.cli.commands import _labels
from jota.cli.context import UsageError
from tests.unit.fakeclient import FakeClient, install, run_cli


def pod(name: str = "web", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "web"},
                         "annotations": {"note": "old"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    f = install(monkeypatch, tmp_path)
    f.add(pod())
    return f


@pytest.mark.parametrize(("args", "resources", "pairs"), [
    (["pods", "web", "a=b", "c-"], ["pods", "web"], ["a=b", "c-"]),
    (["pod/web", "a="], ["pod/web"], ["a="]),
])
def test_split_args(args: list[str], resources: list[str], pairs: list[str]) -> None:
    assert _labels.split_args(args, "label") == (resources, pairs)


def test_split_args_resource_after_pairs() -> None:
    with pytest.raises(UsageError, match="all resources must be specified before label "
                                         "changes: web"):
        _labels.split_args(["pods", "a=b", "web"], "label")


@pytest.mark.parametrize(("specs", "message"), [
    (["a=b=c"], "invalid label spec: a=b=c"),
    (["a=b", "a-"], "can not both modify and remove a label in the same command"),
    (["a=not valid"], 'invalid label value: "a=not valid": '),
])
def test_parse_labels_errors(specs: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        _labels.parse_labels(specs)
    assert str(info.value).startswith(message)


def test_parse_annotations_keeps_equals_in_values() -> None:
    assert _labels.parse_annotations(["url=http://x/?a=b", "old-"]) == (
        {"url": "http://x/?a=b"}, ["old"])


def test_overwrite_errors() -> None:
    current = {"a": "1", "b": "2"}
    assert _labels.overwrite_error(_labels.LABELS, current, {"a": "1"}) == ""
    assert _labels.overwrite_error(_labels.LABELS, current, {"a": "9"}) == (
        "'a' already has a value (1), and --overwrite is false")
    assert _labels.overwrite_error(_labels.ANNOTATIONS, current, {"a": "9", "b": "8"}) == (
        "--overwrite is false but found the following declared annotation(s): "
        "'a' already has a value (1); 'b' already has a value (2)")


def test_change_patch_is_a_merge_patch() -> None:
    patch = _labels.change_patch(_labels.LABELS, {"a": "1", "b": "2"}, {"c": "3", "a": "1"},
                                 ["b", "missing"])
    assert patch == {"metadata": {"labels": {"c": "3", "b": None}}}


@pytest.mark.parametrize(("argv", "out", "labels"), [
    (["label", "pods", "web", "tier=front"], "pod/web labeled\n",
     {"app": "web", "tier": "front"}),
    (["label", "pod/web", "app=web"], "pod/web not labeled\n", {"app": "web"}),
    (["label", "pods", "web", "app-"], "pod/web unlabeled\n", {}),
    (["label", "pods", "web", "app=api", "--overwrite"], "pod/web labeled\n", {"app": "api"}),
    (["label", "pods", "web", "x-"], 'label "x" not found.\npod/web not labeled\n',
     {"app": "web"}),
    (["label", "pods", "-l", "app=web", "v=1"], "pod/web labeled\n", {"app": "web", "v": "1"}),
])
def test_label(fake: FakeClient, capsys: pytest.CaptureFixture[str], argv: list[str],
               out: str, labels: dict[str, str]) -> None:
    assert run_cli(argv) == 0
    assert capsys.readouterr().out == out
    assert fake.stored("pods", "web")["metadata"].get("labels", {}) == labels


def test_label_sends_merge_patch(fake: FakeClient) -> None:
    run_cli(["label", "pods", "web", "tier=front"])
    patches = [c for c in fake.calls if c[0] == "patch"]
    assert patches == [("patch", ("pods", "web", {"metadata": {"labels": {"tier": "front"}}},
                                  "merge", False))]


def test_label_refuses_overwrite(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["label", "pods", "web", "app=api"]) == 1
    assert capsys.readouterr().err == (
        "error: 'app' already has a value (web), and --overwrite is false\n")


@pytest.mark.parametrize(("argv", "err"), [
    (["label", "pods", "web"], "error: at least one label update is required\n"),
    (["annotate", "pods", "web"], "error: at least one annotation update is required\n"),
    (["label", "pods", "a=b"], "error: resource(s) were provided, but no name was specified\n"),
    (["label", "pods", "nope", "a=b"], 'Error from server (NotFound): pods "nope" not found\n'),
])
def test_label_usage_errors(fake: FakeClient, capsys: pytest.CaptureFixture[str],
                            argv: list[str], err: str) -> None:
    assert run_cli(argv) == 1
    assert capsys.readouterr().err == err


def test_label_list(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(pod("api", {"b": "2", "a": "1"}))
    assert run_cli(["label", "pods", "api", "--list"]) == 0
    assert capsys.readouterr().out == "a=1\nb=2\n"


def test_label_client_dry_run(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["label", "pods", "web", "x=1", "--dry-run=client"]) == 0
    assert capsys.readouterr().out == "pod/web labeled (dry run)\n"
    assert "x" not in fake.stored("pods", "web")["metadata"]["labels"]


@pytest.mark.parametrize(("argv", "out", "annotations", "code"), [
    (["annotate", "pods", "web", "owner=me"], "pod/web annotated\n",
     {"note": "old", "owner": "me"}, 0),
    (["annotate", "pods", "web", "note-"], "pod/web annotated\n", {}, 0),
    (["annotate", "pods", "web", "note=new", "--overwrite"], "pod/web annotated\n",
     {"note": "new"}, 0),
    (["annotate", "pods", "web", "note=new"], "", {"note": "old"}, 1),
])
def test_annotate(fake: FakeClient, capsys: pytest.CaptureFixture[str], argv: list[str],
                  out: str, annotations: dict[str, str], code: int) -> None:
    assert run_cli(argv) == code
    assert capsys.readouterr().out == out
    assert fake.stored("pods", "web")["metadata"].get("annotations", {}) == annotations
