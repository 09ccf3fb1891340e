"""`jota local`: a whole cluster on this machine, as kind or minikube give one.

Today it runs the control plane (etcd, apiserver, controller-manager) and one
node agent on this machine's Docker engine, as background processes whose state
lives in one folder; several nodes in their own network namespaces come with
issue F. The folder holds every log, etcd's data and `state.json`, which
names each process so `down` can stop exactly what `up` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from jota.local.docker import answers, ensure_dockerd, remove_managed_containers
from jota.local.images import build_test_image
from jota.local.processes import (
    start_apiserver,
    start_controller_manager,
    start_etcd,
    start_node_agent,
    wait_for_port,
)

ETCD_CLIENT_PORT = 23790
ETCD_PEER_PORT = 23800
APISERVER_PORT = 6443
CONTEXT = "jota-local"
NODE_NAME = "jota-local-1"

Progress = Callable[[str], None]


def state_dir() -> Path:
    return Path(os.environ.get("JOTA_LOCAL_DIR") or Path.home() / ".jota" / "local")


@dataclass
class Component:
    name: str
    pid: int
    address: str
    log: str

    @property
    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True


def load_state() -> list[Component]:
    path = state_dir() / "state.json"
    if not path.exists():
        return []
    return [Component(**c) for c in json.loads(path.read_text())["components"]]


def _save_state(components: list[Component]) -> None:
    path = state_dir() / "state.json"
    path.write_text(json.dumps({"components": [asdict(c) for c in components]}, indent=2))


def up(progress: Progress) -> str:
    """Start the control plane; returns the apiserver address."""
    existing = [c for c in load_state() if c.alive]
    if existing:
        raise RuntimeError(f"a local cluster is already running (state in {state_dir()}); "
                           f"run `jota local down` first")
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True)
    logs = root / "logs"
    components: list[Component] = []
    try:
        progress("Starting etcd")
        etcd = start_etcd(root / "etcd", client_port=ETCD_CLIENT_PORT,
                          peer_port=ETCD_PEER_PORT, name="jota-local")
        components.append(Component("etcd", etcd.proc.pid, etcd.address, str(etcd.log)))
        _save_state(components)
        progress("Starting the apiserver")
        api = start_apiserver(etcd.address, logs, port=APISERVER_PORT)
        components.append(Component("apiserver", api.proc.pid, api.address, str(api.log)))
        _save_state(components)
        progress("Starting the controller-manager")
        cm = start_controller_manager(api.address, logs)
        components.append(Component("controller-manager", cm.proc.pid, "", str(cm.log)))
        _save_state(components)
        progress("Checking the Docker engine and building the test image jota/busybox")
        ensure_dockerd()
        build_test_image()
        progress(f"Starting the node agent ({NODE_NAME})")
        node = start_node_agent(api.address, logs, node_name=NODE_NAME,
                                root_dir=root / "node")
        components.append(Component(f"node/{NODE_NAME}", node.proc.pid, "", str(node.log)))
        _save_state(components)
    except BaseException:
        progress("Start failed: stopping what was started")
        down(lambda _m: None)
        raise
    return api.address


def down(progress: Progress) -> None:
    components = load_state()
    for c in reversed(components):
        if c.alive:
            progress(f"Stopping {c.name}")
            _stop(c.pid)
    if any(c.name.startswith("node/") for c in components) and answers():
        progress("Removing the pods' containers")
        remove_managed_containers()
    shutil.rmtree(state_dir(), ignore_errors=True)


def _stop(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def wait_ready(address: str, timeout: float = 30.0) -> None:
    host, _, port = address.rpartition(":")
    wait_for_port(host, int(port), timeout)
