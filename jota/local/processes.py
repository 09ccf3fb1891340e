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
               initial_cluster: str = "", extra_args: list[str] | None = None) -> Daemon:
    """One etcd member; `initial_cluster` (NAME=PEER_URL,...) makes it a member of a
    cluster of several, which must all be started (each waits for a quorum)."""
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
           "--initial-cluster", initial_cluster or f"{name}={peer}",
           "--experimental-watch-progress-notify-interval", "1s",
           *(extra_args or [])]
    log = data_dir.parent / f"{name}-etcd.log"
    proc = _spawn("etcd", cmd, log, env={"ETCD_UNSUPPORTED_ARCH": "arm64"}
                  if os.uname().machine == "aarch64" else None)
    wait_for_port("127.0.0.1", client_port, timeout, proc, log)
    return Daemon("etcd", proc, client, log)


def _metrics_args(port: int) -> tuple[list[str], dict[str, str]]:
    """`--metrics-bind-address` on loopback (a free port unless given: test sessions run
    side by side), and the Daemon's `extra["metrics"]`."""
    address = f"127.0.0.1:{port or free_port()}"
    return ["--metrics-bind-address", address], {"metrics": address}


def start_apiserver(etcd_url: str, log_dir: Path, *, port: int = 0, name: str = "apiserver",
                    extra_args: list[str] | None = None, timeout: float = 60.0,
                    metrics_port: int = 0) -> Daemon:
    port = port or free_port()
    listen = f"127.0.0.1:{port}"
    metrics, extra = _metrics_args(metrics_port)
    cmd = [sys.executable, "-m", "controlplane.apiserver.main", "--etcd-servers", etcd_url,
           "--listen", listen, *metrics, *(extra_args or [])]
    log = log_dir / f"{name}.log"
    proc = _spawn(name, cmd, log)
    wait_for_port("127.0.0.1", port, timeout, proc, log)
    return Daemon(name, proc, listen, log, extra)


def start_controller_manager(apiserver: str, log_dir: Path, *, name: str = "controller-manager",
                             extra_args: list[str] | None = None,
                             metrics_port: int = 0) -> Daemon:
    metrics, extra = _metrics_args(metrics_port)
    cmd = [sys.executable, "-m", "controlplane.controllers.main", "--apiserver", apiserver,
           *metrics, *(extra_args or [])]
    log = log_dir / f"{name}.log"
    proc = _spawn(name, cmd, log)
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
    return Daemon(name, proc, "", log, extra)


def start_node_agent(apiserver: str, log_dir: Path, *, node_name: str, root_dir: Path,
                     node_ip: str = "127.0.0.1", docker_host: str = "",
                     port: int = 0, metrics_port: int | None = None,
                     extra_args: list[str] | None = None, timeout: float = 60.0) -> Daemon:
    """A jota-node; its streaming service listens on node_ip:port (a free port by default),
    which is the Daemon's address. Its metrics port (a free one unless given; 0 turns it
    off) is `extra["metrics"]`, "host:port"."""
    port = port or free_port()
    metrics_port = free_port() if metrics_port is None else metrics_port
    cmd = [sys.executable, "-m", "node.agent.main", "--apiserver", apiserver,
           "--node-name", node_name, "--root-dir", str(root_dir), "--node-ip", node_ip,
           "--port", str(port), "--metrics-port", str(metrics_port),
           *(["--docker-host", docker_host] if docker_host else []), *(extra_args or [])]
    log = log_dir / f"node-{node_name}.log"
    proc = _spawn(f"node-{node_name}", cmd, log)
    try:
        wait_for_port(node_ip, port, timeout, proc, log)
    except RuntimeError as e:
        raise RuntimeError(f"jota-node exited with {proc.returncode}: {e}") from None
    extra = {"metrics": f"{node_ip}:{metrics_port}"} if metrics_port else {}
    return Daemon(f"node-{node_name}", proc, f"{node_ip}:{port}", log, extra)


def start_proxy(apiserver: str, log_dir: Path, *, node_name: str, node_ip: str = "",
                cluster_cidr: str = "", extra_args: list[str] | None = None) -> Daemon:
    """A jota-proxy for node `node_name`, programming this namespace's iptables; it
    removes its rules when stopped with SIGTERM."""
    cmd = [sys.executable, "-m", "node.proxy.main", "--apiserver", apiserver,
           "--node-name", node_name, *(["--node-ip", node_ip] if node_ip else []),
           *(["--cluster-cidr", cluster_cidr] if cluster_cidr else []), *(extra_args or [])]
    log = log_dir / f"proxy-{node_name}.log"
    proc = _spawn(f"proxy-{node_name}", cmd, log)
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"jota-proxy exited with {proc.returncode}: "
                           f"{log.read_text()[-2000:]}")
    return Daemon(f"proxy-{node_name}", proc, "", log)


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
                    extra_args: list[str] | None = None, metrics_port: int = 0) -> Daemon:
    """A jota-scheduler; `config` is a KubeSchedulerConfiguration file."""
    metrics, extra = _metrics_args(metrics_port)
    cmd = [sys.executable, "-m", "controlplane.scheduler.main", "--apiserver", apiserver,
           "--leader-elect", "true" if leader_elect else "false",
           *(["--config", str(config)] if config else []), *metrics, *(extra_args or [])]
    log = log_dir / f"{name}.log"
    proc = _spawn(name, cmd, log)
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
    return Daemon(name, proc, "", log, extra)


def start_dns(apiserver: str, log_dir: Path, *, listen: str = "", upstream: str | None = "",
              advertise_address: str = "", extra_args: list[str] | None = None,
              timeout: float = 60.0) -> Daemon:
    """A jota-dns serving UDP and TCP on `listen` (127.0.0.1 on a free port unless
    given), which is the Daemon's address. `upstream` "" means none (tests must never
    send a query off this machine), None this machine's resolv.conf."""
    listen = listen or f"127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "controlplane.dns.main", "--apiserver", apiserver,
           "--listen", listen, *(["--upstream", upstream] if upstream is not None else []),
           *(["--advertise-address", advertise_address] if advertise_address else []),
           *(extra_args or [])]
    log = log_dir / "dns.log"
    proc = _spawn("dns", cmd, log)
    host, _, port = listen.rpartition(":")
    wait_for_port(host.strip("[]"), int(port), timeout, proc, log)
    return Daemon("dns", proc, listen, log)


def start_ingress(apiserver: str, log_dir: Path, state_dir: Path, *, http_port: int = 80,
                  https_port: int = 443, publish_address: str = "127.0.0.1",
                  extra_args: list[str] | None = None, timeout: float = 60.0) -> Daemon:
    """A jota-ingress whose nginx listens on `http_port`/`https_port` of every address;
    waits for nginx to answer on 127.0.0.1:`http_port` (its first config is in).
    `extra_args` carries e.g. --kubeconfig."""
    cmd = [sys.executable, "-m", "controlplane.ingress.main", "--apiserver", apiserver,
           "--http-port", str(http_port), "--https-port", str(https_port),
           "--publish-address", publish_address, "--state-dir", str(state_dir),
           *(extra_args or [])]
    log = log_dir / "ingress.log"
    proc = _spawn("ingress", cmd, log)
    wait_for_port("127.0.0.1", http_port, timeout, proc, log)
    return Daemon("ingress", proc, f"{publish_address}:{http_port}", log)
