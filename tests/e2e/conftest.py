"""A whole cluster on this machine, made the way a user makes one: `jota local up --nodes 2
--etcd-members 3 --control-planes 2` (an HA control plane, so tests/e2e/test_ha.py can kill
parts of it; every other test sees one cluster, as a user of an HA cluster does).

The session fixture runs the real CLI in a temporary $HOME (and JOTA_LOCAL_DIR), so
the user's own context and local cluster are never touched, and `jota local down` at
the end, then proves the machine is as before: no namespace, bridge, route, iptables
rule, folder or process of ours, and the machine's own dockerd still answering (the
rest of the test suite needs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jota.client import kubeconfig
from jota.client.client import Client
from jota.local import cluster, leftovers
from jota.local.docker import answers, ensure_dockerd
from jota.local.state import CLUSTER_INDEX

UP_TIMEOUT = 300.0
UP_ARGS = ("--nodes", "2", "--etcd-members", "3", "--control-planes", "2")
DOWN_TIMEOUT = 120.0


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    pod_cidr: str
    docker_host: str


@dataclass(frozen=True)
class LocalCluster:
    env: dict[str, str]
    state_dir: Path
    apiserver: str  # the first apiserver
    nodes: tuple[Node, ...]
    apiservers: str = ""  # every apiserver, comma-separated (a Client fails over)

    def jota(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jota.cli.main", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def components(self) -> dict[str, dict[str, Any]]:
        """state.json's components by name (pid, address, log), as they are now."""
        state = json.loads((self.state_dir / "state.json").read_text())
        return {c["name"]: c for c in state["components"]}


def what_is_left() -> list[str]:
    """Everything of a multi-node local cluster still on this machine, by looking at
    the machine itself rather than at our own bookkeeping."""
    left = cluster.what_is_left(CLUSTER_INDEX)
    netns_list = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=False).stdout
    left += [f"netns {line.split()[0]}" for line in netns_list.splitlines()
             if line.startswith("jota0-")]
    if subprocess.run(["ip", "link", "show", "jota0"], capture_output=True,
                      check=False).returncode == 0:
        left.append("link jota0")
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True,
                            text=True, check=False).stdout
    left += [f"route {line}" for line in routes.splitlines()
             if any(p in line for p in ("10.244.", "10.96.0.0/12", "172.30.255.", "172.31.0."))]
    forward = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True,
                             check=False).stdout
    left += [f"iptables {line}" for line in forward.splitlines() if "jota" in line]
    left += [f"process {pid}: {leftovers.cmdline(pid)[:120]}"  # jota-ingress and its nginx
             for marker in ("controlplane.ingress.main", "/.jota/local/ingress/")
             for pid in leftovers.processes_naming(marker)]
    return sorted(set(left))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The single-node cluster's test runs first, before the shared cluster is up (both
    would want port 80); the test that takes the shared cluster down runs last."""
    def order(item: pytest.Item) -> int:
        if item.path.name == "test_single_node.py":
            return 0
        return 2 if item.name == "test_down_leaves_nothing_behind" else 1
    slots = [i for i, item in enumerate(items) if "e2e" in item.path.parts]
    for i, item in zip(slots, sorted((items[i] for i in slots), key=order), strict=True):
        items[i] = item  # the other suites keep their places


def _cli(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jota.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    ensure_dockerd()  # CI starts on a machine where nothing runs yet
    home = tmp_path_factory.mktemp("home")
    state_dir = home / ".jota" / "local"
    env = {**os.environ, "HOME": str(home), "JOTA_LOCAL_DIR": str(state_dir)}
    if what_is_left() and not cluster.stray_processes(CLUSTER_INDEX):
        # A run killed midway (a stopped session) leaves its network behind: nothing of
        # it runs, so do what its user would, `jota local down`, which finds it by name.
        _cli(env, "local", "down", timeout=DOWN_TIMEOUT)
    assert what_is_left() == [], "a local cluster is already on this machine"
    up = _cli(env, "local", "up", *UP_ARGS, timeout=UP_TIMEOUT)
    try:
        assert up.returncode == 0, f"jota local up failed:\n{up.stdout}\n{up.stderr}"
        state = json.loads((state_dir / "state.json").read_text())
        apiservers = [c["address"] for c in state["components"]
                      if c["name"] in ("apiserver", "apiserver-1", "apiserver-2")]
        nodes = tuple(Node(n["name"], n["address"], n["pod_cidr"], n["docker_host"])
                      for n in state["nodes"])
        yield LocalCluster(env, state_dir, apiservers[0], nodes, ",".join(apiservers))
    finally:
        down = _cli(env, "local", "down", timeout=DOWN_TIMEOUT)
        assert down.returncode == 0, f"jota local down failed:\n{down.stdout}\n{down.stderr}"
        assert what_is_left() == []
        assert answers(), "the machine's own dockerd must survive jota local down"


@pytest.fixture
async def client(local_cluster: LocalCluster) -> AsyncIterator[Client]:
    """A client with the admin certificate `jota local up` made (the cluster runs TLS)."""
    _, creds = kubeconfig.load(local_cluster.state_dir / "pki" / "admin.conf")
    c = Client(local_cluster.apiservers or local_cluster.apiserver,
               credentials=creds.channel())
    yield c
    await c.close()
