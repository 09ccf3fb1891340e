"""How `jota local` runs a daemon: the same command line on every side, a log of its
own, and a stop that always ends it.

Each daemon is this source tree's module with the flags jota.deploy.units gives it,
as the systemd units on VMs run it, plus the local-only ones after them; it runs in a
session of its own (Ctrl-C on `jota local up` does not reach it) and appends to its
log across restarts. Stopping is systemd's: SIGTERM, then SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jota.deploy import units
from jota.deploy.config import ClusterConfig
from jota.local import leftovers


def command(component: str, config: ClusterConfig, *local: str) -> list[str]:
    """The daemon from this source tree, with the flags units.args gives it and the
    local-only ones after them."""
    return [sys.executable, "-m", units.MODULES[component], *units.args(component, config),
            *local]


def spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not leftovers.alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and leftovers.alive(pid):
        time.sleep(0.05)
