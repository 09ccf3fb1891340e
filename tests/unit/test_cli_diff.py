"""`jota diff`: kubectl's file names, `diff -u -N` output and exit codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jota.api.registry import by_kind
from jota.cli.commands import diff
from tests.unit.fakeclient import FakeClient, install, run_cli

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  mode: {mode}
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    return install(monkeypatch, tmp_path)


@pytest.mark.parametrize(("kind", "ns", "name", "file"), [
    ("Deployment", "default", "web", "apps.v1.Deployment.default.web"),
    ("Service", "prod", "db", "v1.Service.prod.db"),
    ("Namespace", "", "team", "v1.Namespace..team"),
])
def test_file_name(kind: str, ns: str, name: str, file: str) -> None:
    assert diff.file_name(by_kind(kind), ns, name) == file


def test_render_diff_headers_and_hunks() -> None:
    pair = diff.Pair("v1.ConfigMap.default.cfg", "a: 1\nb: 2\n", "a: 1\nb: 3\n")
    text = diff.render_diff(pair, "/tmp/LIVE-1", "/tmp/MERGED-2", "STAMP")
    assert text == (
        "diff -u -N /tmp/LIVE-1/v1.ConfigMap.default.cfg /tmp/MERGED-2/v1.ConfigMap.default.cfg\n"
        "--- /tmp/LIVE-1/v1.ConfigMap.default.cfg\tSTAMP\n"
        "+++ /tmp/MERGED-2/v1.ConfigMap.default.cfg\tSTAMP\n"
        "@@ -1,2 +1,2 @@\n a: 1\n-b: 2\n+b: 3\n")


def test_render_diff_new_object_and_no_change() -> None:
    new = diff.render_diff(diff.Pair("f", "", "a: 1\n"), "/L", "/M", "STAMP")
    assert "--- /L/f\t1970-01-01 00:00:00.000000000 +0000\n" in new
    assert "@@ -0,0 +1 @@\n+a: 1\n" in new
    assert diff.render_diff(diff.Pair("f", "a: 1\n", "a: 1\n"), "/L", "/M", "S") == ""


def test_clean_drops_noise() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x", "resourceVersion": "5", "generation": 2,
                                        "managedFields": [{}], "uid": "u"}}
    assert diff.clean(obj) == {"metadata": {"name": "x", "uid": "u"}}
    assert obj["metadata"]["resourceVersion"] == "5"


def test_mask_secrets() -> None:
    live = {"kind": "Secret", "data": {"same": "YQ==", "changed": "Yg=="}}
    merged = {"kind": "Secret", "data": {"same": "YQ==", "changed": "Yw==", "new": "ZA=="}}
    shown_live, shown_merged = diff.mask_secrets(live, merged)
    assert shown_live == {"kind": "Secret", "data": {"same": "***", "changed": "*** (before)"}}
    assert shown_merged == {"kind": "Secret", "data": {"same": "***",
                                                       "changed": "*** (after)",
                                                       "new": "*** (after)"}}


def test_timestamp_format() -> None:
    stamp = diff.timestamp(datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC))
    assert stamp.endswith(".123456000 " + stamp[-5:]) and len(stamp) == len(
        "2024-05-01 12:00:00.123456000 +0000")


def test_diff_exit_codes(fake: FakeClient, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "cm.yaml"
    f.write_text(MANIFEST.format(mode="fast"))
    assert run_cli(["diff", "-f", str(f)]) == 1  # not there yet: all of it is new
    out = capsys.readouterr().out
    assert out.startswith("diff -u -N /tmp/LIVE-")
    assert "/v1.ConfigMap.default.cfg /tmp/MERGED-" in out
    assert "+  mode: fast\n" in out
    assert not fake.objects  # only server-side dry runs were sent

    assert run_cli(["apply", "-f", str(f)]) == 0
    capsys.readouterr()
    assert run_cli(["diff", "-f", str(f)]) == 0
    assert capsys.readouterr().out == ""

    f.write_text(MANIFEST.format(mode="slow"))
    assert run_cli(["diff", "-f", str(f)]) == 1
    out = capsys.readouterr().out
    assert "-  mode: fast\n+  mode: slow\n" in out
    assert "resourceVersion" not in out
    assert fake.stored("configmaps", "cfg")["data"] == {"mode": "fast"}


def test_diff_error_exit_code(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["diff", "-f", "/no/such.yaml"]) == 2
    assert capsys.readouterr().err == (
        'error: the path "/no/such.yaml" does not exist\n')
