"""`jota local`: a whole cluster on this machine, as kind or minikube give one.

`up` runs the control plane (etcd, apiserver, controller-manager, scheduler) as background
processes (jota/local/controlplane.py), and then the nodes (jota/local/nodes.py): one
agent on this machine's own Docker engine, or with `--nodes N` each node a small "VM"
with its own network namespace on a host bridge (jota/local/netns.py), its own dockerd,
agent and jota-proxy. Every daemon runs with the flags jota.deploy.units gives it, as
the systemd units on VMs do (jota/local/daemons.py), and the nodes join with a
bootstrap token, as kubeadm join's.

With `--etcd-members 3 --control-planes 2` the control plane is highly available
(jota/local/topology.py); jota/local/drills.py breaks and mends it on purpose, and
saves and brings back etcd's keyspace.

Everything lives in one folder (`state_dir()`, jota/local/state.py): logs, etcd's data,
the nodes' Docker data and `state.json`, which names each process, node and the
network, so `down` removes exactly what `up` made, and `what_is_left` can prove it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from jota.client.client import Client
from jota.local import leftovers, netns, tls, topology
from jota.local.controlplane import (
    admin_credentials,
    run,
    start_control_plane,
    start_dns,
    start_ingress,
    start_prometheus,
)
from jota.local.daemons import stop
from jota.local.docker import answers, ensure_dockerd, remove_managed_containers
from jota.local.images import TEST_IMAGE, build_test_image
from jota.local.nodes import (
    DOCKERD_SHUTDOWN_TIMEOUT,
    NODE_NAME,
    make_network,
    node_vm,
    proxy_synced,
    start_host_node,
    start_host_proxy,
    start_vms,
)
from jota.local.state import (
    CLUSTER_INDEX,
    Progress,
    State,
    exec_root_base,
    read_state,
    save,
    state_dir,
)

# ---- up --------------------------------------------------------------------------------------

def up(progress: Progress, nodes: int = 1, prometheus: bool = False,
       etcd_members: int = 1, control_planes: int = 1) -> str:
    """Start the control plane (`etcd_members` etcd members, `control_planes` apiservers,
    controller-managers and schedulers) and `nodes` nodes (and Prometheus scraping them
    all); returns every apiserver's address, comma-separated."""
    topology.check(etcd_members, control_planes)
    state = read_state()
    if any(c.alive for c in state.components):
        raise RuntimeError(f"a local cluster is already running (state in {state_dir()}); "
                           f"run `jota local down` first")
    lay = netns.layout(CLUSTER_INDEX, nodes) if nodes > 1 else None
    if lay is not None:
        _check_can_make_vms(lay)
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True)
    state = State(cluster=lay.cluster if lay else None, etcd_members=etcd_members,
                  control_planes=control_planes)
    try:
        if lay is not None:
            state.nodes = [node_vm(root, lay, n) for n in lay.nodes]
            save(state)  # before the first change, so `down` can undo a half-made network
            make_network(lay, progress)
        listen_host = state.listen_host()
        progress(f"Making the cluster's CA and certificates ({root / 'pki'})")
        # Every kubeconfig names every apiserver: its Client fails over between them.
        tls.make(root / "pki", server=state.apiservers(),
                 hosts=sorted({"127.0.0.1", listen_host}))
        api_address = start_control_plane(state, progress)
        progress("Checking this machine's Docker engine and building the test image "
                 f"{TEST_IMAGE}")
        ensure_dockerd()
        build_test_image()
        start_dns(state, root, lay, progress)
        if lay is None:
            start_host_node(state, root, progress)
            start_host_proxy(state, root, progress)
        else:
            start_vms(state, lay, state.nodes, progress, load=[TEST_IMAGE])
        start_ingress(state, root, lay, progress)
        if prometheus:
            start_prometheus(state, root, progress)
    except BaseException:
        progress("Start failed: removing what was made")
        down(lambda _m: None)
        raise
    return api_address


def _check_can_make_vms(lay: netns.Layout) -> None:
    if os.geteuid() != 0:
        raise RuntimeError("`jota local up --nodes N` makes network namespaces, a bridge and "
                           "routes: run it as root")
    missing = [t for t in ("ip", "iptables", "nsenter", "dockerd") if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"missing tools: {', '.join(missing)} (Debian: iproute2 iptables "
                           f"util-linux docker.io)")
    found = stray_processes(lay.cluster)
    if found:
        raise RuntimeError(f"processes of an earlier local cluster still run "
                           f"(pids {', '.join(str(p) for p in found)}): run `jota local down`")


# ---- down ------------------------------------------------------------------------------------

def _cluster_id(state: Any) -> str:
    """The cluster's id (its kube-system namespace's uid), which the agents put on every
    container; "" when the apiserver does not answer (then every agent-made container
    on this machine's engine goes)."""
    if not any(c.alive for c in state.of_kind("apiserver")):
        return ""

    async def read() -> str:
        async with Client(state.apiservers(), timeout=5, retries=2,
                          credentials=admin_credentials().channel()) as c:
            ns = await c.get("namespaces", "kube-system")
            return str(ns["metadata"]["uid"])

    try:
        return run(read(), timeout=15)
    except Exception:
        return ""


def down(progress: Progress) -> list[str]:
    """Stop everything `up` started and remove all it made; returns what is left over
    (empty when the machine is as before)."""
    state = read_state()
    engines = {f"dockerd/{vm.name}": vm for vm in state.nodes}
    cluster = _cluster_id(state)
    for c in reversed(state.components):
        if not c.alive:
            continue
        vm = engines.get(c.name)
        if vm is not None:
            progress(f"Removing the pods' containers of {vm.name}")
            with contextlib.suppress(Exception):
                remove_managed_containers(vm.docker_host)
        progress(f"Stopping {c.name}")
        stop(c.pid, timeout=DOCKERD_SHUTDOWN_TIMEOUT + 15.0 if vm else 10.0)
    if any(c.name == f"node/{NODE_NAME}" for c in state.components) and answers():
        progress("Removing the pods' containers")
        remove_managed_containers(cluster=cluster)
    if any(c.name == f"proxy/{NODE_NAME}" for c in state.components) and proxy_synced([]):
        progress("Removing jota-proxy's iptables rules it left")  # it was killed
        subprocess.run([sys.executable, "-m", "node.proxy.main", "--cleanup"],
                       capture_output=True, check=False, timeout=60)
    for pid in leftovers.processes_naming(f"{state_dir() / 'ingress'}/"):
        progress(f"Stopping leftover nginx {pid}")  # its jota-ingress was killed
        stop(pid, timeout=5.0)
    lay = state.layout()
    if lay is None and os.geteuid() == 0 and what_is_left(CLUSTER_INDEX):
        # The state file is gone (another $HOME, or a session killed mid-run) but the
        # machine still holds a multi-node cluster's network: its names are fixed, so
        # sweep it, or the next `up` would stumble on it.
        progress(f"Found what an earlier local cluster left (bridge jota{CLUSTER_INDEX})")
        lay = netns.layout(CLUSTER_INDEX, 1)
    left: list[str] = []
    if lay is not None:
        left += _remove_strays(lay.cluster, state, progress)
        wide = netns.stray_layout(lay)
        progress(f"Removing the network: {len(wide.nodes)} namespace(s), bridge "
                 f"{wide.bridge}, routes and the iptables rule")
        left += netns.undo(netns.teardown_plan(wide))
        shutil.rmtree(exec_root_base(lay.cluster), ignore_errors=True)
    shutil.rmtree(state_dir(), ignore_errors=True)
    if lay is not None:
        left += what_is_left(lay.cluster)
    return left


def _remove_strays(cluster: int, state: State, progress: Progress) -> list[str]:
    """What a killed dockerd leaves: shims still running containers, their cgroups,
    netns and overlay mounts."""
    strays = stray_processes(cluster)
    ids = set(leftovers.container_ids_in(Path(vm.data_dir) / "docker" for vm in state.nodes))
    ids |= set(leftovers.shim_container_ids(strays))
    running = leftovers.container_processes(ids)
    if running:
        progress(f"Killing {len(running)} leftover container process(es)")
        leftovers.kill(running)
    for pid in strays:
        progress(f"Stopping leftover process {pid}: {leftovers.cmdline(pid)[:60]}")
        stop(pid, timeout=5.0)
    stuck = leftovers.remove_containers_by_force(ids)
    roots = [exec_root_base(cluster), *(Path(vm.data_dir) for vm in state.nodes)]
    for mount in leftovers.mounts_under(roots):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    return [f"cgroup {path}" for path in stuck]


def what_is_left(cluster: int = CLUSTER_INDEX) -> list[str]:
    """What a multi-node cluster `cluster` left on this machine: network pieces,
    processes (dockerd, containerd, shims, agents) and folders."""
    lay = netns.stray_layout(netns.layout(cluster, 1))
    found = netns.leftovers(lay)
    found += [f"process {pid}: {leftovers.cmdline(pid)[:120]}"
              for pid in stray_processes(cluster)]
    if exec_root_base(cluster).exists():
        found.append(f"folder {exec_root_base(cluster)}")
    return found


def stray_processes(cluster: int = CLUSTER_INDEX) -> list[int]:
    """Processes whose command line names this cluster's exec roots (the nodes'
    dockerd, containerd, containerd-shims and agents, through --docker-host) or
    that live in a node's namespace (their proxies)."""
    lay = netns.stray_layout(netns.layout(cluster, 1))
    found = set(leftovers.processes_naming(f"{exec_root_base(cluster)}/"))
    found |= set(leftovers.processes_in_netns(n.netns_path for n in lay.nodes))
    return sorted(found)
