"""The local cluster's control-plane layout: how many etcd members and control planes,
their names and ports (pure functions; `jota.local.controlplane` starts what they describe).

One of each is today's single-machine cluster, with its names (`etcd`, `apiserver`,
`controller-manager`, `scheduler`). `--etcd-members 3` makes a real three-member etcd
cluster and `--control-planes 2` two apiservers, controller-managers and schedulers,
as kubeadm's stacked HA control plane does on three machines; the replicas are then
numbered from 1 (`etcd-1`, `apiserver-2`, ...), and each has ports of its own since
they share this machine's addresses.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

ETCD_MEMBER_CHOICES = (1, 3)  # an even count tolerates no more failures than one fewer
CONTROL_PLANE_CHOICES = (1, 2)
ETCD_CLIENT_PORT = 23790
ETCD_PEER_PORT = 23800
APISERVER_PORT = 6443
# Each apiserver's --bootstrap-listen, where joining nodes present their token: past
# the second replica's 6444, so one layout's ports never move with the other's.
BOOTSTRAP_PORT = 6445
# The control plane's /metrics (each daemon's default for the first replica).
APISERVER_METRICS_PORT = 8080
CONTROLLER_MANAGER_METRICS_PORT = 10257
SCHEDULER_METRICS_PORT = 10259
REPLICA_METRICS_STEP = 10  # 10267, 10269 for the second: clear of kube's 10258 and 10260
ETCD_NAME = "jota-local"  # etcd's --name of the single member (unchanged since before HA)

CONTROL_PLANE_KINDS = ("etcd", "apiserver", "controller-manager", "scheduler")
_REPLICA = re.compile(r"^(etcd|apiserver|controller-manager|scheduler)(?:-([1-9][0-9]*))?$")


def check(etcd_members: int, control_planes: int) -> None:
    """A clear error naming the flag for a layout `jota local up` does not make."""
    if etcd_members not in ETCD_MEMBER_CHOICES:
        raise ValueError(f"--etcd-members must be 1 or 3, not {etcd_members} (an etcd "
                         f"cluster of 2 stops when either member does)")
    if control_planes not in CONTROL_PLANE_CHOICES:
        raise ValueError(f"--control-planes must be 1 or 2, not {control_planes}")


def names(kind: str, count: int) -> list[str]:
    """`apiserver` for one; `apiserver-1`, `apiserver-2` for two."""
    return [kind] if count == 1 else [f"{kind}-{i}" for i in range(1, count + 1)]


def kind_of(name: str) -> str:
    """`apiserver-2` -> `apiserver`; "" for what is not a control-plane replica."""
    m = _REPLICA.match(name)
    return m.group(1) if m else ""


def index_of(name: str) -> int:
    """`apiserver-2` -> 1 (0-based); the unnumbered single replica is 0."""
    m = _REPLICA.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not a control-plane component")
    return int(m.group(2)) - 1 if m.group(2) else 0


@dataclass(frozen=True)
class EtcdMember:
    component: str  # its name in state.json and `jota local status`
    name: str  # etcd's --name
    client_port: int
    peer_port: int

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"


def etcd_members(count: int) -> list[EtcdMember]:
    if count == 1:
        return [EtcdMember("etcd", ETCD_NAME, ETCD_CLIENT_PORT, ETCD_PEER_PORT)]
    return [EtcdMember(component, f"{ETCD_NAME}-{i + 1}", ETCD_CLIENT_PORT + i,
                       ETCD_PEER_PORT + i)
            for i, component in enumerate(names("etcd", count))]


def initial_cluster(members: list[EtcdMember]) -> str:
    """etcd's --initial-cluster: every member's NAME=PEER_URL."""
    return ",".join(f"{m.name}={m.peer_url}" for m in members)


def etcd_servers(count: int) -> str:
    """The apiservers' --etcd-servers: every member (etcd.py fails over between them)."""
    return ",".join(m.client_url for m in etcd_members(count))


def apiserver_address(host: str, index: int) -> str:
    return f"{host}:{APISERVER_PORT + index}"


def apiserver_addresses(host: str, count: int) -> str:
    """Every apiserver, comma-separated, as kubeconfigs' `server` and --apiserver take it."""
    return ",".join(apiserver_address(host, i) for i in range(count))


def bootstrap_address(host: str, index: int) -> str:
    return f"{host}:{BOOTSTRAP_PORT + index}"


def bootstrap_addresses(host: str, count: int) -> list[str]:
    """Every apiserver's bootstrap address, as a joining node's bootstrap kubeconfig
    lists them."""
    return [bootstrap_address(host, i) for i in range(count)]


def metrics_port(kind: str, index: int) -> int:
    """A replica's /metrics port: the first has the daemon's default, the next their own."""
    if kind == "apiserver":
        return APISERVER_METRICS_PORT + index
    base = {"controller-manager": CONTROLLER_MANAGER_METRICS_PORT,
            "scheduler": SCHEDULER_METRICS_PORT}[kind]
    return base + REPLICA_METRICS_STEP * index


def identity(component: str) -> str:
    """A leader-election identity, as kube's `<hostname>_<unique>`, that stays the same
    across a restart of the replica: a restarted leader renews its own Lease at once
    instead of waiting out its lease duration."""
    return f"{socket.gethostname()}_{component}"


def control_plane_metrics(count: int) -> str:
    """The controller-manager's --control-plane-metrics: every apiserver and scheduler
    (and the other controller-managers), which its /sd/control-plane lists."""
    return ",".join(f"{kind}=127.0.0.1:{metrics_port(kind, i)}"
                    for kind in ("apiserver", "scheduler", "controller-manager")
                    for i in range(count))
