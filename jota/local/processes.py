"""Starting and stopping the cluster's daemons as real processes.

Used by `jota local up`, by the test fixtures and by the benchmarks, so that
all three start etcd and the control plane the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None
                  = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening on "
                               f"{host}:{port}\n{tail}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


@dataclass
class Daemon:
    """A started process, its address and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    address: str
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        self.stop(sig=signal.SIGKILL)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


def _spawn(name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None
           ) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def start_etcd(data_dir: Path, *, client_port: int = 0, peer_port: int = 0,
               name: str = "default", timeout: float = 30.0,
               extra_args: list[str] | None = None) -> Daemon:
    etcd = shutil.which("etcd")
    if etcd is None:
        raise FileNotFoundError("etcd is not installed: run `make deps` (Debian: etcd-server)")
    client_port = client_port or free_port()
    peer_port = peer_port or free_port()
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    cmd = [etcd, "--name", name, "--data-dir", str(data_dir),
           "--listen-client-urls", client, "--advertise-client-urls", client,
           "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
           "--initial-cluster", f"{name}={peer}",
           "--experimental-watch-progress-notify-interval", "1s",
           *(extra_args or [])]
    log = data_dir.parent / f"{name}-etcd.log"
    proc = _spawn("etcd", cmd, log, env={"ETCD_UNSUPPORTED_ARCH": "arm64"}
                  if os.uname().machine == "aarch64" else None)
    wait_for_port("127.0.0.1", client_port, timeout, proc, log)
    return Daemon("etcd", proc, client, log)


def start_apiserver(etcd_url: str, log_dir: Path, *, port: int = 0, name: str = "apiserver",
                    extra_args: list[str] | None = None, timeout: float = 60.0) -> Daemon:
    port = port or free_port()
    listen = f"127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "controlplane.apiserver.main", "--etcd-servers", etcd_url,
           "--listen", listen, *(extra_args or [])]
    log = log_dir / f"{name}.log"
    proc = _spawn(name, cmd, log)
    wait_for_port("127.0.0.1", port, timeout, proc, log)
    return Daemon(name, proc, listen, log)


def start_controller_manager(apiserver: str, log_dir: Path, *, name: str = "controller-manager",
                             extra_args: list[str] | None = None) -> Daemon:
    cmd = [sys.executable, "-m", "controlplane.controllers.main", "--apiserver", apiserver,
           *(extra_args or [])]
    log = log_dir / f"{name}.log"
    proc = _spawn(name, cmd, log)
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
    return Daemon(name, proc, "", log)


def start_node_agent(apiserver: str, log_dir: Path, *, node_name: str, root_dir: Path,
                     node_ip: str = "127.0.0.1", docker_host: str = "",
                     port: int = 0, extra_args: list[str] | None = None,
                     timeout: float = 60.0) -> Daemon:
    """A jota-node; its streaming service listens on node_ip:port (a free port by default),
    which is the Daemon's address."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "node.agent.main", "--apiserver", apiserver,
           "--node-name", node_name, "--root-dir", str(root_dir), "--node-ip", node_ip,
           "--port", str(port),
           *(["--docker-host", docker_host] if docker_host else []), *(extra_args or [])]
    log = log_dir / f"node-{node_name}.log"
    proc = _spawn(f"node-{node_name}", cmd, log)
    try:
        wait_for_port(node_ip, port, timeout, proc, log)
    except RuntimeError as e:
        raise RuntimeError(f"jota-node exited with {proc.returncode}: {e}") from None
    return Daemon(f"node-{node_name}", proc, f"{node_ip}:{port}", log)


def start_hollow_nodes(apiserver: str, log_dir: Path, *, count: int, prefix: str = "hollow-",
                       extra_args: list[str] | None = None) -> Daemon:
    cmd = [sys.executable, "-m", "node.hollow", "--apiserver", apiserver, "--count",
           str(count), "--prefix", prefix, *(extra_args or [])]
    log = log_dir / f"hollow-{prefix.rstrip('-')}.log"
    proc = _spawn("hollow-nodes", cmd, log)
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"hollow nodes exited with {proc.returncode}: "
                           f"{log.read_text()[-2000:]}")
    return Daemon("hollow-nodes", proc, "", log)


def start_scheduler(apiserver: str, log_dir: Path, *, name: str = "scheduler",
                    config: Path | None = None, leader_elect: bool = False,
                    extra_args: list[str] | None = None) -> Daemon:
    """A jota-scheduler; `config` is a KubeSchedulerConfiguration file."""
    cmd = [sys.executable, "-m", "controlplane.scheduler.main", "--apiserver", apiserver,
           "--leader-elect", "true" if leader_elect else "false",
           *(["--config", str(config)] if config else []), *(extra_args or [])]
    log = log_dir / f"{name}.log"
    proc = _spawn(name, cmd, log)
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
    return Daemon(name, proc, "", log)
