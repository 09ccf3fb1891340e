"""What a local cluster is made of, as `state.json` records it.

Every part of `jota local` reads and extends one record of what it started: each
process (`Component`), each node VM (`NodeVM`) and the network's index. It is saved
after every step, so `down` removes exactly what `up` made, even after an `up` that
failed half-way; and it lives in the cluster's one folder (`state_dir()`), with the
logs, etcd's data and the nodes' Docker data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jota.local import leftovers, netns, topology

CONTEXT = "jota-local"
CLUSTER_INDEX = 0

Progress = Callable[[str], None]


def state_dir() -> Path:
    return Path(os.environ.get("JOTA_LOCAL_DIR") or Path.home() / ".jota" / "local")


def exec_root_base(cluster: int = CLUSTER_INDEX) -> Path:
    """Short paths for the nodes' sockets: a unix socket path must fit in 108 bytes,
    which a data root under a deep $HOME would not leave room for."""
    return Path(f"/run/jota{cluster}")


@dataclass
class Component:
    name: str
    pid: int
    address: str
    log: str

    @property
    def alive(self) -> bool:
        return leftovers.alive(self.pid)


@dataclass
class NodeVM:
    """A node of a multi-node cluster: namespace, engine and folders."""

    name: str
    netns: str
    address: str
    pod_cidr: str
    docker_host: str
    exec_root: str
    data_dir: str
    cut: bool = False

    @property
    def socket(self) -> str:
        return self.docker_host.removeprefix("unix://")


@dataclass
class State:
    components: list[Component] = field(default_factory=list)
    cluster: int | None = None  # set when the cluster has a network of node VMs
    nodes: list[NodeVM] = field(default_factory=list)
    etcd_members: int = 1
    control_planes: int = 1

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def of_kind(self, kind: str) -> list[Component]:
        """Every replica of a control-plane component (`apiserver`, `etcd`, ...)."""
        return [c for c in self.components if topology.kind_of(c.name) == kind]

    def apiservers(self) -> str:
        """Every apiserver's address, comma-separated, as kubeconfigs and --apiserver
        take them (the Client fails over between them)."""
        return topology.apiserver_addresses(self.listen_host(), self.control_planes)

    def listen_host(self) -> str:
        """Where the apiservers listen: the bridge's address with node VMs, else loopback."""
        lay = self.layout()
        return lay.gateway if lay is not None else "127.0.0.1"

    def put(self, component: Component) -> None:
        """Record a started component; a restarted one keeps its place, so `down` still
        stops the clients before the apiservers and those before etcd."""
        for i, c in enumerate(self.components):
            if c.name == component.name:
                self.components[i] = component
                return
        self.components.append(component)

    def layout(self) -> netns.Layout | None:
        if self.cluster is None:
            return None
        return netns.layout(self.cluster, max(len(self.nodes), 1))


def read_state() -> State:
    path = state_dir() / "state.json"
    if not path.exists():
        return State()
    data = json.loads(path.read_text())
    return State(components=[Component(**c) for c in data.get("components", [])],
                 cluster=data.get("cluster"),
                 nodes=[NodeVM(**n) for n in data.get("nodes", [])],
                 etcd_members=int(data.get("etcd_members", 1)),
                 control_planes=int(data.get("control_planes", 1)))


def load_state() -> list[Component]:
    return read_state().components


def save(state: State) -> None:
    path = state_dir() / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"components": [asdict(c) for c in state.components],
                                "cluster": state.cluster,
                                "nodes": [asdict(n) for n in state.nodes],
                                "etcd_members": state.etcd_members,
                                "control_planes": state.control_planes}, indent=2))
