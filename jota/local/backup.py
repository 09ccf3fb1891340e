"""Back up and restore the cluster's etcd, as `etcdctl snapshot save/restore` do.

The whole cluster state is etcd's keyspace, so a snapshot is a whole backup. Restoring
makes a new data directory from the snapshot (a new cluster ID, so no member of the old
cluster can join it by mistake), keeps the old one beside it, and swaps them; the
caller stops etcd and the apiservers first and starts them again after, which
`jota local restore` does. docs/operations.md says how to do it by hand on VMs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Snapshot:
    """What `etcdctl snapshot status` says of a file."""

    path: Path
    revision: int
    keys: int
    size: int
    hash: int


def _etcdctl() -> str:
    path = shutil.which("etcdctl")
    if path is None:
        raise FileNotFoundError("etcdctl is not installed: run `make deps` (Debian: "
                                "etcd-client)")
    return path


def _run(args: list[str], timeout: float = 120.0) -> str:
    proc = subprocess.run([_etcdctl(), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "ETCDCTL_API": "3"},
                          check=False)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(f"etcdctl {args[0]} {args[1]} failed: "
                           f"{message[-1] if message else proc.returncode}")
    return proc.stdout


def status(path: Path) -> Snapshot:
    doc = json.loads(_run(["snapshot", "status", str(path), "-w", "json"]))
    return Snapshot(path, int(doc["revision"]), int(doc["totalKey"]), int(doc["totalSize"]),
                    int(doc["hash"]))


def save(endpoint: str, path: Path) -> Snapshot:
    """A consistent snapshot of the member at `endpoint`, written to `path`."""
    if path.exists():
        raise FileExistsError(f"{path} exists already: choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(["--endpoints", endpoint, "snapshot", "save", str(path)])
    return status(path)


def restore_command(snapshot: Path, data_dir: Path, name: str, peer_url: str,
                    initial_cluster: str = "") -> list[str]:
    """etcdctl's arguments to make `data_dir` from `snapshot` for member `name` of the
    cluster `initial_cluster` (NAME=PEER_URL,...; a one-member cluster when empty). Every
    member is restored from the same file with the same --initial-cluster, as etcd's
    disaster-recovery guide does."""
    return ["snapshot", "restore", str(snapshot), "--data-dir", str(data_dir),
            "--name", name, "--initial-cluster", initial_cluster or f"{name}={peer_url}",
            "--initial-advertise-peer-urls", peer_url]


def restore(snapshot: Path, data_dir: Path, name: str, peer_url: str,
            initial_cluster: str = "") -> Path:
    """Replace `data_dir` (etcd must be stopped) with the snapshot's state; returns where
    the old data went, so nothing is lost if the snapshot was the wrong one."""
    status(snapshot)  # a corrupt or missing file fails here, before anything moves
    fresh = data_dir.with_name(data_dir.name + ".restoring")
    if fresh.exists():
        shutil.rmtree(fresh)
    _run(restore_command(snapshot, fresh, name, peer_url, initial_cluster))
    old = data_dir.with_name(f"{data_dir.name}.before-restore-{time.strftime('%Y%m%d%H%M%S')}")
    if data_dir.exists():
        data_dir.rename(old)
    fresh.rename(data_dir)
    return old
