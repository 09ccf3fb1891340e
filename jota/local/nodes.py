"""The local cluster's nodes: their engines, agents and proxies, and how they join.

- one node (`--nodes 1`, the default): `jota-local-1`, an agent on this machine's
  own Docker engine;
- several (`--nodes N`): `jota-worker-1..N`, each a small "VM": its own network
  namespace on the host bridge (jota/local/netns.py), its own dockerd (own data
  root, exec root and socket) and an agent started inside the namespace, so its
  node IP is its own address and its pods get a pod CIDR of their own, routed
  between nodes as on real machines. The apiserver then listens on the bridge
  address, which both this machine and the nodes reach.

The nodes join as kubeadm join's: one bootstrap token (as `jota token create`), each
node's PKI folder (<state>/nodes/NAME/pki: the CA, a bootstrap kubeconfig for the
apiservers' --bootstrap-listen ports, jota-proxy's kubeconfig and a serving certificate
issued here), and each agent gets its client certificate signed through a CSR that the
controller-manager approves, then keeps it across restarts.

Every node runs a jota-proxy next to its agent (in its namespace, or on this machine
for the single node), so Service IPs and NodePorts work. With node VMs, this
machine reaches the service CIDR and the LoadBalancer pool through the first node
whose proxy runs (netns.service_route_steps), as through MetalLB's layer-2 speaker.
`stop_node` powers a node off or cuts its link, `start_node` brings it back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docker

from jota.client import tokens
from jota.client.client import Client
from jota.deploy import join, units
from jota.deploy.config import ClusterConfig
from jota.local import netns
from jota.local.controlplane import admin_credentials, cluster_config, node_config, run
from jota.local.daemons import command, spawn, stop
from jota.local.docker import DEFAULT_SOCKET, answers, host_engine
from jota.local.images import load_image
from jota.local.processes import wait_for_port
from jota.local.state import (
    Component,
    NodeVM,
    Progress,
    State,
    exec_root_base,
    read_state,
    save,
    state_dir,
)

AGENT_PORT = 10250  # kubelet's; every node VM has an address of its own
NODE_NAME = "jota-local-1"
DOCKERD_TIMEOUT = 60.0
DOCKERD_SHUTDOWN_TIMEOUT = 2  # seconds dockerd gives containers on stop-node, then SIGKILL
PROXY_SYNC_TIMEOUT = 60.0
JOIN_TIMEOUT = 120.0  # an agent's CSR approved and signed, then its port listening
TOKEN_DESCRIPTION = "jota local up: the nodes' join"


# ---- the node on this machine (--nodes 1) ----------------------------------------------------

def start_host_node(state: State, root: Path, progress: Progress) -> None:
    """The single node's agent, on this machine's engine (its default metrics port, where
    the apiserver's metrics API scrapes /metrics/resource)."""
    config = _host_node_config(state)
    _prepare_join(state, [config], progress)
    progress(f"Starting the node agent ({NODE_NAME})")
    log = root / "logs" / f"node-{NODE_NAME}.log"
    offset = _size(log)
    proc = spawn(command("node", config, "--port", str(AGENT_PORT)), log)
    address = f"127.0.0.1:{AGENT_PORT}"
    state.put(Component(f"node/{NODE_NAME}", proc.pid, address, str(log)))
    save(state)
    wait_for_port("127.0.0.1", AGENT_PORT, JOIN_TIMEOUT, proc, log)
    progress(_join_outcome(config, log, offset))


def _host_node_config(state: State) -> ClusterConfig:
    return node_config(state, NODE_NAME, "127.0.0.1", "", DEFAULT_SOCKET,
                       state_dir() / "nodes" / NODE_NAME)


def start_host_proxy(state: State, root: Path, progress: Progress) -> None:
    """The single node's jota-proxy programs this machine's own iptables, so only
    when it may."""
    if os.geteuid() != 0 or shutil.which("iptables-restore") is None:
        progress("Not starting jota-proxy: it needs root and iptables-restore "
                 "(Service IPs will not answer)")
        return
    progress(f"Starting jota-proxy ({NODE_NAME}) on this machine's iptables")
    log = root / "logs" / f"proxy-{NODE_NAME}.log"
    proc = spawn(command("proxy", _host_node_config(state)), log)
    state.put(Component(f"proxy/{NODE_NAME}", proc.pid, "", str(log)))
    save(state)
    _wait_proxy(NODE_NAME, [], proc, log)


def proxy_synced(prefix: list[str]) -> bool:
    """Whether a proxy's first sync is in (its jump from nat PREROUTING exists)."""
    out = subprocess.run([*prefix, "iptables", "-w", "-t", "nat", "-S", "PREROUTING"],
                         capture_output=True, text=True, check=False, timeout=30)
    return "KUBE-SERVICES" in out.stdout


def _wait_proxy(name: str, prefix: list[str], proc: subprocess.Popen[bytes],
                log: Path) -> None:
    deadline = time.monotonic() + PROXY_SYNC_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jota-proxy of {name} exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-2000:]}")
        if proxy_synced(prefix):
            return
        time.sleep(0.2)
    raise TimeoutError(f"jota-proxy of {name} did not sync its rules within "
                       f"{PROXY_SYNC_TIMEOUT:.0f}s; see {log}")


# ---- nodes joining ---------------------------------------------------------------------------

def _create_token(state: State) -> str:
    """A bootstrap token, stored through the admin's client as `jota token create` does."""
    async def create() -> str:
        async with Client(state.apiservers(), timeout=10,
                          credentials=admin_credentials().channel()) as client:
            return await tokens.create(client, description=TOKEN_DESCRIPTION)
    return run(create(), timeout=120.0)


def _prepare_join(state: State, configs: list[ClusterConfig], progress: Progress) -> None:
    """What kubeadm join gets, for each node that has no kubeconfig of its own yet: the
    CA, a bootstrap kubeconfig with one fresh token for them all, jota-proxy's
    kubeconfig; and each node's serving certificate, issued by the CA here as deploy/
    does (the controller-manager signs only client certificates). A node that joined
    keeps its certificate."""
    cluster = cluster_config(state)
    fresh = [c for c in configs if not (Path(c.pki_dir) / units.NODE_KUBECONFIG).exists()]
    if fresh:
        token = _create_token(state)
        names = ", ".join(c.node.name for c in fresh if c.node is not None)
        progress(f"Created bootstrap token {token.partition('.')[0]} for {names} to join "
                 f"with (kube-system/bootstrap-token-{token.partition('.')[0]}, "
                 f"`jota token list`)")
        for c in fresh:
            join.write_node_pki(cluster, token, Path(c.pki_dir))
    for c in configs:
        assert c.node is not None
        if not (Path(c.pki_dir) / units.SERVING_CERT).exists():
            join.write_serving_cert(cluster, c.node.name, c.node.address, Path(c.pki_dir))


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


_APPROVED = re.compile(r"CSR (node-csr-[a-z0-9-]+) was approved and signed")


def _join_outcome(config: ClusterConfig, log: Path, offset: int) -> str:
    """How a started agent got its client certificate: through a CSR now (named in its
    log since `offset`), or kept from an earlier join."""
    assert config.node is not None
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    found = _APPROVED.findall(text)
    if found:
        return (f"Node {config.node.name} joined with a bootstrap token (CSR {found[-1]} "
                f"approved)")
    conf = Path(config.pki_dir) / units.NODE_KUBECONFIG
    return f"Node {config.node.name} keeps the certificate it joined with ({conf})"


# ---- node VMs (--nodes N) --------------------------------------------------------------------

def node_vm(root: Path, lay: netns.Layout, n: netns.NodeNet) -> NodeVM:
    exec_root = exec_root_base(lay.cluster) / f"w{n.index}"
    return NodeVM(name=n.name, netns=n.netns, address=n.address, pod_cidr=n.pod_cidr,
                  docker_host=f"unix://{exec_root}/docker.sock", exec_root=str(exec_root),
                  data_dir=str(root / "nodes" / n.name))


def make_network(lay: netns.Layout, progress: Progress) -> None:
    progress(f"Network: blackhole routes for {', '.join(lay.blackholes)} (nothing of the "
             f"cluster leaves this machine)")
    netns.apply(netns.blackhole_steps(lay))
    progress(f"Network: bridge {lay.bridge} at {lay.gateway}/{netns.NODE_NET_PREFIX}, "
             f"forwarding only between its ports")
    netns.apply(netns.bridge_steps(lay))
    for n in lay.nodes:
        progress(f"Network: namespace {n.netns} for node {n.name} at {n.address}, "
                 f"pods {n.pod_cidr}")
        netns.apply(netns.node_steps(lay, n))


def dockerd_command(n: netns.NodeNet, vm: NodeVM) -> list[str]:
    data = Path(vm.data_dir)
    return netns.in_netns(n, [
        "dockerd", "--config-file", str(data / "daemon.json"),
        "--data-root", str(data / "docker"), "--exec-root", vm.exec_root,
        "-H", vm.docker_host, "--pidfile", f"{vm.exec_root}/docker.pid",
        # No docker0: the agent makes the pod network with the node's pod CIDR.
        "--bridge", "none", "--shutdown-timeout", str(DOCKERD_SHUTDOWN_TIMEOUT)])


def daemon_json(vm: NodeVM) -> str:
    """The engine's ID comes from its key file, /etc/docker/key.json by default and so
    shared by every dockerd here: a key per node gives each engine an ID of its own.
    An own config file also keeps the machine's daemon.json (hosts, data-root) out."""
    return json.dumps({"deprecated-key-path": f"{vm.data_dir}/key.json"})


def vm_config(state: State, vm: NodeVM) -> ClusterConfig:
    return node_config(state, vm.name, vm.address, vm.pod_cidr, vm.docker_host,
                       Path(vm.data_dir))


def agent_command(n: netns.NodeNet, config: ClusterConfig) -> list[str]:
    return netns.in_netns(n, command("node", config, "--port", str(AGENT_PORT)))


def proxy_command(n: netns.NodeNet, config: ClusterConfig) -> list[str]:
    return netns.in_netns(n, command("proxy", config))


def start_vms(state: State, lay: netns.Layout, vms: list[NodeVM],
               progress: Progress, load: Iterable[str] = ()) -> None:
    """Start the engines of `vms` side by side, then their agents and proxies."""
    logs = state_dir() / "logs"
    started: list[tuple[NodeVM, subprocess.Popen[bytes]]] = []
    for vm in vms:
        if (c := state.component(f"dockerd/{vm.name}")) and c.alive:
            continue
        progress(f"Starting node {vm.name}: dockerd in namespace {vm.netns} "
                 f"({vm.docker_host})")
        Path(vm.data_dir).mkdir(parents=True, exist_ok=True)
        Path(vm.exec_root).mkdir(parents=True, exist_ok=True)
        (Path(vm.data_dir) / "daemon.json").write_text(daemon_json(vm))
        log = logs / f"dockerd-{vm.name}.log"
        proc = spawn(dockerd_command(lay.node(vm.name), vm), log)
        state.put(Component(f"dockerd/{vm.name}", proc.pid, vm.docker_host, str(log)))
        save(state)
        started.append((vm, proc))
    for vm, proc in started:
        _wait_engine(vm, proc, logs / f"dockerd-{vm.name}.log")
    for image in load:
        for vm in vms:
            progress(f"Loading {image} into {vm.name}'s engine")
            load_image(image, DEFAULT_SOCKET, vm.docker_host)
    down = [vm for vm in vms
            if not ((c := state.component(f"node/{vm.name}")) and c.alive)]
    _prepare_join(state, [vm_config(state, vm) for vm in down], progress)
    agents: list[tuple[NodeVM, subprocess.Popen[bytes], Path, int]] = []
    for vm in down:
        progress(f"Starting the node agent of {vm.name} ({vm.address}, pods {vm.pod_cidr})")
        log = logs / f"node-{vm.name}.log"
        offset = _size(log)
        proc = spawn(agent_command(lay.node(vm.name), vm_config(state, vm)), log)
        state.put(Component(f"node/{vm.name}", proc.pid, f"{vm.address}:{AGENT_PORT}",
                            str(log)))
        save(state)
        agents.append((vm, proc, log, offset))
    for vm, proc, log, offset in agents:
        # The agent listens once its kubeconfig holds a certificate the cluster signed.
        wait_for_port(vm.address, AGENT_PORT, JOIN_TIMEOUT, proc, log)
        progress(_join_outcome(vm_config(state, vm), log, offset))
    proxies: list[tuple[NodeVM, subprocess.Popen[bytes], Path]] = []
    for vm in vms:
        if (c := state.component(f"proxy/{vm.name}")) and c.alive:
            continue
        progress(f"Starting jota-proxy of {vm.name}")
        log = logs / f"proxy-{vm.name}.log"
        proc = spawn(proxy_command(lay.node(vm.name), vm_config(state, vm)), log)
        state.put(Component(f"proxy/{vm.name}", proc.pid, "", str(log)))
        save(state)
        proxies.append((vm, proc, log))
    for vm, proc, log in proxies:
        _wait_proxy(vm.name, netns.in_netns(lay.node(vm.name), []), proc, log)
    _route_services(state, lay, progress)


def _route_services(state: State, lay: netns.Layout, progress: Progress) -> None:
    """Send this machine's traffic for Service IPs to the first node whose proxy runs
    and that is not cut off; with none, the blackholes take it again."""
    for vm in state.nodes:
        c = state.component(f"proxy/{vm.name}")
        if c is not None and c.alive and not vm.cut:
            steps = netns.service_route_steps(lay, lay.node(vm.name))
            if not all(netns.is_done(s) for s in steps):
                progress(f"Network: {', '.join(netns.SERVICE_RANGES)} via {vm.name} "
                         f"({vm.address}), whose jota-proxy answers for Services")
                netns.apply(steps)
            return
    progress("Network: no node answers for Services; their ranges are blackholed")
    netns.undo(netns.service_routes_off(lay))


def _wait_engine(vm: NodeVM, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + DOCKERD_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd of {vm.name} exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-2000:]}")
        if answers(vm.docker_host):
            return
        time.sleep(0.2)
    raise TimeoutError(f"dockerd of {vm.name} did not answer within {DOCKERD_TIMEOUT:.0f}s; "
                       f"see {log}")


def stop_node(name: str, progress: Progress, cut: bool = False) -> None:
    """Power a node off (its proxy, agent and engine stop, its containers with it), or with
    `cut` pull its cable: everything keeps running but nothing reaches it."""
    state, lay, vm = _vm(name)
    if cut:
        netns.apply(netns.cut_plan(lay, lay.node(vm.name)), progress)
        vm.cut = True
        save(state)
        _route_services(state, lay, progress)
        return
    for what in (f"proxy/{vm.name}", f"node/{vm.name}", f"dockerd/{vm.name}"):
        c = state.component(what)
        if c is None or not c.alive:
            continue
        if what.startswith("dockerd/"):
            progress(f"Killing the containers of {vm.name}")
            with contextlib.suppress(Exception):
                _kill_containers(vm.docker_host)
        progress(f"Stopping {c.name}")
        stop(c.pid, timeout=DOCKERD_SHUTDOWN_TIMEOUT + 15.0)
    _route_services(state, lay, progress)


def _kill_containers(docker_host: str) -> None:
    """A power cut, not a shutdown: dockerd would give each container its own stop
    timeout (the pod's grace period) before it exits."""
    client = docker.DockerClient(base_url=docker_host, timeout=30)
    try:
        for container in client.containers.list():
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
    finally:
        client.close()


def start_node(name: str, progress: Progress) -> None:
    """Bring a stopped or cut-off node back: its link up, its engine and agent running."""
    state, lay, vm = _vm(name)
    if vm.cut:
        netns.apply(netns.restore_plan(lay, lay.node(vm.name)), progress)
        vm.cut = False
        save(state)
    if not any(c.alive for c in state.of_kind("apiserver")):
        raise RuntimeError("the local cluster's apiserver is not running")
    start_vms(state, lay, [vm], progress)


def _vm(name: str) -> tuple[State, netns.Layout, NodeVM]:
    state = read_state()
    lay = state.layout()
    if lay is None:
        if state.components:
            raise RuntimeError(f"the local cluster has one node ({NODE_NAME}) on this "
                               f"machine's engine: start it with --nodes N to stop nodes")
        raise RuntimeError("no local cluster is running")
    for vm in state.nodes:
        if name in (vm.name, vm.netns):
            return state, lay, vm
    known = ", ".join(vm.name for vm in state.nodes)
    raise RuntimeError(f'no node "{name}" in the local cluster ({known})')


def load_images(images: list[str], progress: Progress) -> int:
    """Copy images from this machine's engine (DOCKER_HOST, or the default socket) into
    every node's, as `kind load docker-image`; returns how many engines got them."""
    state = read_state()
    if not state.components:
        raise RuntimeError("no local cluster is running")
    source = host_engine()
    targets = [(vm.name, vm.docker_host) for vm in state.nodes] or [(NODE_NAME, DEFAULT_SOCKET)]
    if targets == [(NODE_NAME, source)]:
        progress(f"{NODE_NAME} runs on this machine's engine: the images are there already")
        return 0
    if not answers(source):
        raise RuntimeError(f"the Docker engine at {source} (DOCKER_HOST, else the default "
                           f"socket) does not answer")
    for vm in state.nodes:
        if not answers(vm.docker_host):
            raise RuntimeError(f"the engine of {vm.name} is not running "
                               f"(`jota local start-node {vm.name}`)")
    for image in images:
        for name, engine in targets:
            progress(f"Loading {image} from {source} into {name}")
            load_image(image, source, engine)
    return len(targets)


@dataclass(frozen=True)
class NodeRow:
    name: str
    status: str
    address: str
    pod_cidr: str
    engine: str


def node_rows() -> list[NodeRow]:
    state = read_state()
    if not state.nodes:
        agent = state.component(f"node/{NODE_NAME}")
        if agent is None:
            return []
        return [NodeRow(NODE_NAME, "Running" if agent.alive else "Stopped",
                        agent.address.rpartition(":")[0] or "-", "-", DEFAULT_SOCKET)]
    rows = []
    for vm in state.nodes:
        parts = [state.component(f"{p}/{vm.name}") for p in ("dockerd", "node")]
        running = all(c is not None and c.alive for c in parts)
        status = "CutOff" if vm.cut else "Running" if running else "Stopped"
        rows.append(NodeRow(vm.name, status, vm.address, vm.pod_cidr, vm.docker_host))
    return rows
