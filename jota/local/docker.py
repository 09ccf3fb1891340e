"""Making sure a Docker engine answers: the tests, the demo and `jota local` need one."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import docker

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# Labels the node agent puts on everything it runs (node/agent/agent.py and
# node/runtime/interface.py use the same names; a unit test keeps them in step).
MANAGED_LABEL = "io.jota.managed"
CLUSTER_LABEL = "io.jota.cluster"


def host_engine() -> str:
    """The engine `jota local load-image` copies from: DOCKER_HOST, as the docker CLI
    and `kind load docker-image` read it, else the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def answers(host: str = DEFAULT_SOCKET) -> bool:
    try:
        client = docker.DockerClient(base_url=host, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except docker.errors.DockerException:
        return False


def ensure_dockerd(log: Path = Path("/var/log/jota-dockerd.log"), timeout: float = 60.0) -> None:
    """Start the machine's dockerd in the background if nothing answers on its socket
    (machines without systemd, such as CI containers)."""
    if answers():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise FileNotFoundError("dockerd is not installed: run `make deps` (Debian: docker.io)")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        subprocess.Popen([dockerd], stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers():
            return
        time.sleep(0.5)
    raise TimeoutError(f"dockerd did not answer within {timeout:.0f}s; see {log}")


def remove_managed_containers(host: str = DEFAULT_SOCKET, managed: str = "true", *,
                              cluster: str = "") -> int:
    """Remove the containers a Jota node agent made (of one cluster, given its id: the
    uid of its kube-system namespace); returns how many. `jota local down` and the
    test fixtures leave nothing behind this way, and touch no other cluster's pods."""
    labels = [f"{MANAGED_LABEL}={managed}"] + ([f"{CLUSTER_LABEL}={cluster}"] if cluster else [])
    client = docker.DockerClient(base_url=host, timeout=60)
    try:
        containers = client.containers.list(all=True, filters={"label": labels})
        for c in containers:
            with contextlib.suppress(docker.errors.NotFound):  # its agent got there first
                c.remove(force=True)
        return len(containers)
    finally:
        client.close()
