"""deploy/'s provisioning scripts: shellcheck-clean, and bad arguments stop them before
they change anything. (tests/provisioning runs them for real.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [*sorted((ROOT / "deploy").glob("*.sh")), ROOT / "tests/provisioning/node-image.sh"]


def test_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: run hack/install-deps.sh (Debian: shellcheck)"
    out = subprocess.run([shellcheck, "-x", *map(str, SCRIPTS)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize(("script", "args", "error"), [
    ("provision-worker.sh", ["--address", "10.0.0.2", "--join-dir", "/nonexistent"],
     "error: --pod-cidr is required"),
    ("provision-control-plane.sh", ["--join-dir", "/nonexistent"],
     "error: --address is required"),
    ("provision-control-plane.sh", ["--adress", "10.0.0.1"], "error: unknown argument --adress"),
])
def test_bad_arguments_stop_before_anything_changes(script: str, args: list[str],
                                                    error: str) -> None:
    out = subprocess.run(["bash", str(ROOT / "deploy" / script), *args], capture_output=True,
                         text=True, timeout=60, check=False)
    assert (out.returncode, out.stderr.strip()) == (2, error)
    assert out.stdout == ""
