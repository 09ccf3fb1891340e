"""The Vagrantfile is valid for any worker count, and its machines run deploy/'s scripts.

Real `vagrant validate --ignore-provider` (Debian's vagrant): no box, no VM, no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def validate(tmp_path: Path, workers: str | None, **extra: str
             ) -> subprocess.CompletedProcess[str]:
    vagrant = shutil.which("vagrant")
    assert vagrant, "vagrant is missing: run hack/install-deps.sh (Debian: vagrant)"
    env = {**os.environ, "VAGRANT_HOME": str(tmp_path / "home"),
           "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"), "VAGRANT_CHECKPOINT_DISABLE": "1"}
    env.pop("JOTA_WORKERS", None)
    if workers is not None:
        env["JOTA_WORKERS"] = workers
    env.pop("JOTA_SYNC_TYPE", None)
    env.update(extra)
    return subprocess.run([vagrant, "validate", "--ignore-provider"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("workers", "machines"), [(None, 2), ("3", 3)])
def test_vagrantfile_validates(tmp_path: Path, workers: str | None, machines: int) -> None:
    out = validate(tmp_path, workers)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Vagrantfile validated successfully" in out.stdout
    named = [f"worker-{i}" for i in range(1, machines + 2) if f"worker-{i}:" in out.stdout]
    assert named == [f"worker-{i}" for i in range(1, machines + 1)]
    assert "control-plane:" in out.stdout


def test_a_bad_worker_count_is_refused(tmp_path: Path) -> None:
    out = validate(tmp_path, "0")
    assert out.returncode != 0
    assert "JOTA_WORKERS must be between 1 and 200, not 0" in out.stdout + out.stderr


def test_a_one_way_synced_folder_is_refused(tmp_path: Path) -> None:
    out = validate(tmp_path, None, JOTA_SYNC_TYPE="rsync")
    assert out.returncode != 0
    assert "JOTA_SYNC_TYPE=rsync cannot work" in out.stdout + out.stderr


def test_machines_run_the_deploy_scripts() -> None:
    text = (ROOT / "Vagrantfile").read_text()
    for script in ("deploy/provision-control-plane.sh", "deploy/provision-worker.sh"):
        assert f"/opt/jota/{script}" in text
        assert (ROOT / script).exists()
