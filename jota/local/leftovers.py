"""Finding and removing what node VMs of `jota local` can leave on the machine.

A dockerd that is stopped cleanly takes its containerd, shims, containers,
mounts and cgroups with it. One that was killed does not: its
containerd-shims keep the containers running, their cgroups stay, and its
netns and overlay mounts stay mounted. `jota local down` must still leave
nothing behind, so it finds these by what names them as ours:

- processes: their command line names one of the cluster's exec roots
  (`/run/jota<C>/...`: dockerd, containerd, shims, and agents through
  --docker-host), or they live in a node's network namespace (jota-proxy);
- containers: the ids in the nodes' data roots and in the shims' `-id` flags;
  their processes and cgroup folders are found by those ids;
- mounts: below the exec roots and data roots.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def processes_naming(marker: str) -> list[int]:
    """Processes (not this one) whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and marker in cmdline(int(entry)):
            found.append(int(entry))
    return sorted(found)


def processes_in_netns(paths: Iterable[str]) -> list[int]:
    """Processes (not this one) living in one of the network namespaces at `paths`
    (/run/netns/NAME): a node VM's daemons whatever their command line says, such as
    its jota-proxy."""
    wanted = set()
    for path in paths:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            wanted.add((st.st_dev, st.st_ino))
    if not wanted:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in wanted:
            found.append(int(entry))
    return sorted(found)


def shim_container_ids(pids: Iterable[int]) -> list[str]:
    """The containers the containerd-shims among `pids` hold (`-id <container id>`)."""
    ids = []
    for pid in pids:
        words = cmdline(pid).split()
        if words and words[0].endswith(("containerd-shim-runc-v2", "containerd-shim")):
            with contextlib.suppress(ValueError, IndexError):
                ids.append(words[words.index("-id") + 1])
    return ids


def container_ids_in(data_roots: Iterable[Path]) -> list[str]:
    """Every container a Docker data root knows of."""
    ids = []
    for root in data_roots:
        with contextlib.suppress(OSError):
            ids += [p.name for p in (root / "containers").iterdir() if len(p.name) == 64]
    return ids


def _is_ours(path: str, ids: set[str]) -> bool:
    return any(part in ids for part in path.split("/")) or any(
        part.removeprefix("docker-").removesuffix(".scope") in ids for part in path.split("/"))


def container_processes(ids: Iterable[str]) -> list[int]:
    """Processes in the cgroups of these containers."""
    wanted = set(ids)
    if not wanted:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            lines = Path(f"/proc/{entry}/cgroup").read_text().splitlines()
            if any(_is_ours(line.split(":", 2)[-1], wanted) for line in lines):
                found.append(int(entry))
    return sorted(found)


def container_cgroups(ids: Iterable[str]) -> list[Path]:
    """Cgroup folders of these containers, in every hierarchy (v1 and v2)."""
    wanted = set(ids)
    if not wanted:
        return []
    found = []
    for top in [CGROUP_ROOT, *(p for p in CGROUP_ROOT.iterdir() if p.is_dir())]:
        for parent in ("docker", "system.slice", "."):
            base = top / parent
            if not base.is_dir():
                continue
            with contextlib.suppress(OSError):
                found += [p for p in base.iterdir() if p.is_dir() and _is_ours(p.name, wanted)]
    return sorted(set(found), key=lambda p: len(str(p)), reverse=True)


def mounts_under(roots: Iterable[Path]) -> list[str]:
    """Mount points below any of `roots`, deepest first."""
    prefixes = [f"{r}/" for r in roots]
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4]
            if any(point.startswith(p) for p in prefixes):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie has exited; only its parent's wait is missing.
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def kill(pids: Iterable[int], sig: int = signal.SIGKILL, timeout: float = 5.0) -> None:
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)


def remove_containers_by_force(ids: Iterable[str]) -> list[str]:
    """Kill what runs in these containers and remove their cgroups; returns the
    cgroup folders that would not go."""
    ids = list(ids)
    kill(container_processes(ids))
    stuck = []
    for path in container_cgroups(ids):
        try:
            path.rmdir()
        except OSError:
            stuck.append(str(path))
    return stuck
