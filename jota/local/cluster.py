"""`jota local`: a whole cluster on this machine, as kind or minikube give one.

`up` runs the control plane (etcd, apiserver, controller-manager, scheduler) as background
processes, and then the nodes:

- one node (`--nodes 1`, the default): `jota-local-1`, an agent on this machine's
  own Docker engine;
- several (`--nodes N`): `jota-worker-1..N`, each a small "VM": its own network
  namespace on the host bridge (jota/local/netns.py), its own dockerd (own data
  root, exec root and socket) and an agent started inside the namespace, so its
  node IP is its own address and its pods get a pod CIDR of their own, routed
  between nodes as on real machines. The apiserver then listens on the bridge
  address, which both this machine and the nodes reach.

Every daemon runs with the flags jota.deploy.units gives it for the cluster's
ClusterConfig (`cluster_config`), as the systemd units on VMs do, plus what only a local
cluster needs: metrics addresses, replica ports, a node's namespace. The nodes join as
kubeadm join's: `up` makes one bootstrap token (as `jota token create`), writes each
node's PKI folder (<state>/nodes/NAME/pki: the CA, a bootstrap kubeconfig for the
apiservers' --bootstrap-listen ports, jota-proxy's kubeconfig and a serving certificate
issued here), and each agent gets its client certificate signed through a CSR that the
controller-manager approves, then keeps it across restarts.

Every node runs a jota-proxy next to its agent (in its namespace, or on this machine
for the single node), so Service IPs and NodePorts work. With node VMs, this
machine reaches the service CIDR and the LoadBalancer pool through the first node
whose proxy runs (netns.service_route_steps), as through MetalLB's layer-2 speaker.

With `--etcd-members 3 --control-planes 2` the control plane is highly available
(jota/local/topology.py names and places each replica): three etcd members of one
cluster, two apiservers (ports 6443 and 6444, nodes join on 6445 and 6446) that every
kubeconfig lists, two
controller-managers and two schedulers electing a leader. `stop-component`,
`start-component` and `restart` break and mend it on purpose; `backup` and `restore`
save and bring back etcd's keyspace.

Everything lives in one folder (`state_dir()`): logs, etcd's data, the nodes'
Docker data and `state.json`, which names each process, node and the network,
so `down` removes exactly what `up` made, and `what_is_left` can prove it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import docker

from jota.client import kubeconfig, tokens
from jota.client.client import Client
from jota.deploy import join, units
from jota.deploy.config import ClusterConfig, NodeConfig
from jota.local import backup, leftovers, netns, tls, topology
from jota.local.docker import (
    DEFAULT_SOCKET,
    answers,
    ensure_dockerd,
    remove_managed_containers,
)
from jota.local.images import TEST_IMAGE, build_test_image, load_image
from jota.local.processes import start_etcd, wait_for_port
from jota.local.prometheus import NodeTLS, start_prometheus, write_config

ETCD_CLIENT_PORT = topology.ETCD_CLIENT_PORT
ETCD_PEER_PORT = topology.ETCD_PEER_PORT
APISERVER_PORT = topology.APISERVER_PORT
AGENT_PORT = 10250  # kubelet's; every node VM has an address of its own
# The control plane's /metrics (each daemon's default), scraped by --prometheus.
APISERVER_METRICS_PORT = topology.APISERVER_METRICS_PORT
CONTROLLER_MANAGER_METRICS_PORT = topology.CONTROLLER_MANAGER_METRICS_PORT
SCHEDULER_METRICS_PORT = topology.SCHEDULER_METRICS_PORT
CONTEXT = "jota-local"
NODE_NAME = "jota-local-1"
CLUSTER_INDEX = 0
DOCKERD_TIMEOUT = 60.0
DOCKERD_SHUTDOWN_TIMEOUT = 2  # seconds dockerd gives containers on stop-node, then SIGKILL
PROXY_SYNC_TIMEOUT = 60.0
JOIN_TIMEOUT = 120.0  # an agent's CSR approved and signed, then its port listening
TOKEN_DESCRIPTION = "jota local up: the nodes' join"
DNS_SERVICE_IP = "10.96.0.10"  # kube-dns's, kubeadm's: the agents' --cluster-dns

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


def _save(state: State) -> None:
    path = state_dir() / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"components": [asdict(c) for c in state.components],
                                "cluster": state.cluster,
                                "nodes": [asdict(n) for n in state.nodes],
                                "etcd_members": state.etcd_members,
                                "control_planes": state.control_planes}, indent=2))


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
            state.nodes = [_node_vm(root, lay, n) for n in lay.nodes]
            _save(state)  # before the first change, so `down` can undo a half-made network
            _make_network(lay, progress)
        listen_host = state.listen_host()
        progress(f"Making the cluster's CA and certificates ({root / 'pki'})")
        # Every kubeconfig names every apiserver: its Client fails over between them.
        tls.make(root / "pki", server=state.apiservers(),
                 hosts=sorted({"127.0.0.1", listen_host}))
        api_address = _start_control_plane(state, progress)
        progress("Checking this machine's Docker engine and building the test image "
                 f"{TEST_IMAGE}")
        ensure_dockerd()
        build_test_image()
        _start_dns(state, root, lay, progress)
        if lay is None:
            _start_host_node(state, root, progress)
            _start_host_proxy(state, root, progress)
        else:
            _start_vms(state, lay, state.nodes, progress, load=[TEST_IMAGE])
        _start_ingress(state, root, lay, progress)
        if prometheus:
            _start_prometheus(state, root, progress)
    except BaseException:
        progress("Start failed: removing what was made")
        down(lambda _m: None)
        raise
    return api_address


def _start_host_node(state: State, root: Path, progress: Progress) -> None:
    """The single node's agent, on this machine's engine (its default metrics port, where
    the apiserver's metrics API scrapes /metrics/resource)."""
    config = _host_node_config(state)
    _prepare_join(state, [config], progress)
    progress(f"Starting the node agent ({NODE_NAME})")
    log = root / "logs" / f"node-{NODE_NAME}.log"
    offset = _size(log)
    proc = _spawn(_command("node", config, "--port", str(AGENT_PORT)), log)
    address = f"127.0.0.1:{AGENT_PORT}"
    state.put(Component(f"node/{NODE_NAME}", proc.pid, address, str(log)))
    _save(state)
    wait_for_port("127.0.0.1", AGENT_PORT, JOIN_TIMEOUT, proc, log)
    progress(_join_outcome(config, log, offset))


def _host_node_config(state: State) -> ClusterConfig:
    return node_config(state, NODE_NAME, "127.0.0.1", "", DEFAULT_SOCKET,
                       state_dir() / "nodes" / NODE_NAME)


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


def _start_host_proxy(state: State, root: Path, progress: Progress) -> None:
    """The single node's jota-proxy programs this machine's own iptables, so only
    when it may."""
    if os.geteuid() != 0 or shutil.which("iptables-restore") is None:
        progress("Not starting jota-proxy: it needs root and iptables-restore "
                 "(Service IPs will not answer)")
        return
    progress(f"Starting jota-proxy ({NODE_NAME}) on this machine's iptables")
    log = root / "logs" / f"proxy-{NODE_NAME}.log"
    proc = _spawn(_command("proxy", _host_node_config(state)), log)
    state.put(Component(f"proxy/{NODE_NAME}", proc.pid, "", str(log)))
    _save(state)
    _wait_proxy(NODE_NAME, [], proc, log)


def dns_listen_host(lay: netns.Layout | None) -> str:
    """Where jota-dns listens: an address of this machine every pod reaches. With node
    VMs the bridge's (the nodes' gateway); on one node the gateway of the engine's
    default bridge, which the pods are on."""
    if lay is not None:
        return lay.gateway
    client = docker.DockerClient(base_url=DEFAULT_SOCKET, timeout=30)
    try:
        configs = client.api.inspect_network("bridge").get("IPAM", {}).get("Config") or []
    finally:
        client.close()
    gateways = [str(c["Gateway"]) for c in configs if ":" not in str(c.get("Gateway", ":"))]
    if not gateways:
        raise RuntimeError("the Docker engine's bridge network has no IPv4 gateway for "
                           "jota-dns to listen on")
    return gateways[0]


def _start_dns(state: State, root: Path, lay: netns.Layout | None,
               progress: Progress) -> None:
    """jota-dns on this machine (port 53 needs root), registering kube-system/kube-dns
    (10.96.0.10) with its address; the nodes' jota-proxy carry pods' queries to it."""
    if os.geteuid() != 0:
        progress("Not starting jota-dns: port 53 needs root (pods get the node's "
                 "resolv.conf)")
        return
    host = dns_listen_host(lay)
    config = replace(cluster_config(state), control_plane_address=host)
    progress(f"Starting jota-dns on {host}:53 (Service {config.cluster_dns} in kube-system)")
    log = root / "logs" / "dns.log"
    proc = _spawn(_command("dns", config), log)
    wait_for_port(host, 53, 60.0, proc, log)
    state.put(Component("dns", proc.pid, f"{host}:53", str(log)))
    _save(state)


def ingress_publish_address(lay: netns.Layout | None) -> str:
    """Where this machine's nginx is reached: the bridge's address with node VMs (the
    nodes reach it too), else loopback."""
    return lay.gateway if lay is not None else "127.0.0.1"


def _start_ingress(state: State, root: Path, lay: netns.Layout | None,
                   progress: Progress) -> None:
    """jota-ingress on this machine, its nginx on ports 80 and 443 (root only), going
    straight to pod IPs (routed from this machine to every node's pod CIDR)."""
    if os.geteuid() != 0 or shutil.which("nginx") is None:
        progress("Not starting jota-ingress: it needs root (ports 80 and 443) and nginx "
                 "(Debian: nginx-light); Ingresses will not be served")
        return
    publish = ingress_publish_address(lay)
    progress(f"Starting jota-ingress (nginx on ports 80 and 443, publishing {publish})")
    log = root / "logs" / "ingress.log"
    proc = _spawn(_command("ingress", replace(cluster_config(state),
                                              control_plane_address=publish)), log)
    wait_for_port("127.0.0.1", 80, 60.0, proc, log)
    state.put(Component("ingress", proc.pid, f"{publish}:80", str(log)))
    _save(state)


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


def _node_vm(root: Path, lay: netns.Layout, n: netns.NodeNet) -> NodeVM:
    exec_root = exec_root_base(lay.cluster) / f"w{n.index}"
    return NodeVM(name=n.name, netns=n.netns, address=n.address, pod_cidr=n.pod_cidr,
                  docker_host=f"unix://{exec_root}/docker.sock", exec_root=str(exec_root),
                  data_dir=str(root / "nodes" / n.name))


def _make_network(lay: netns.Layout, progress: Progress) -> None:
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


def _start_control_plane(state: State, progress: Progress) -> str:
    """etcd's members, then the apiservers, controller-managers and schedulers; returns
    every apiserver's address, comma-separated."""
    for member in topology.etcd_members(state.etcd_members):
        _start_etcd_member(state, member.component, progress)
    for kind in ("apiserver", "controller-manager", "scheduler"):
        for name in topology.names(kind, state.control_planes):
            _start_replica(state, name, progress)
    return state.apiservers()


def _start_etcd_member(state: State, component: str, progress: Progress) -> None:
    members = topology.etcd_members(state.etcd_members)
    member = next(m for m in members if m.component == component)
    if len(members) == 1:
        progress("Starting etcd")
    else:
        progress(f"Starting etcd member {component} (client {member.client_url}, peer "
                 f"{member.peer_url}, one of {len(members)})")
    etcd = start_etcd(state_dir() / component, client_port=member.client_port,
                      peer_port=member.peer_port, name=member.name,
                      initial_cluster=topology.initial_cluster(members)
                      if len(members) > 1 else "")
    state.put(Component(component, etcd.proc.pid, etcd.address, str(etcd.log)))
    _save(state)


def _start_replica(state: State, name: str, progress: Progress) -> None:
    """One apiserver, controller-manager or scheduler replica (`name` says which)."""
    kind, index = topology.kind_of(name), topology.index_of(name)
    logs = state_dir() / "logs"
    metrics = topology.metrics_port(kind, index)
    what = f"the {name}" if name == kind else name
    if kind not in ("apiserver", "controller-manager", "scheduler"):
        raise ValueError(f"{name!r} is not a control-plane replica")
    config = replace(cluster_config(state), apiserver_port=topology.APISERVER_PORT + index,
                     bootstrap_port=topology.BOOTSTRAP_PORT + index)
    local = ["--metrics-bind-address", f"127.0.0.1:{metrics}"]
    if kind != "apiserver":  # the same Lease across a restart: a leader keeps leading
        local += ["--identity", topology.identity(name)]
    if kind == "controller-manager":
        local += ["--control-plane-metrics",
                  topology.control_plane_metrics(state.control_planes)]
    log = logs / f"{name}.log"
    if kind == "apiserver":
        progress(f"Starting {what} on {config.apiserver_listen} (nodes join on "
                 f"{config.bootstrap_listen})")
    elif kind == "controller-manager":
        progress(f"Starting {what} (it signs the nodes' certificates with the cluster CA)")
    else:
        progress(f"Starting {what}")
    proc = _spawn(_command(kind, config, *local), log)
    if kind == "apiserver":
        wait_for_port(config.control_plane_address, config.apiserver_port, 60.0, proc, log)
        address = config.apiserver_listen
    else:
        _check_running(name, proc, log)
        address = f"127.0.0.1:{metrics}"
    state.put(Component(name, proc.pid, address, str(log)))
    _save(state)


def _start_prometheus(state: State, root: Path, progress: Progress) -> None:
    """Prometheus on deploy/prometheus/prometheus.yml, discovering every target from
    the controller-manager; its data goes with the cluster's folder."""
    progress("Starting Prometheus (deploy/prometheus/prometheus.yml)")
    cert, key = pki().prometheus
    managers = ",".join(f"127.0.0.1:{topology.metrics_port('controller-manager', i)}"
                        for i in range(state.control_planes))
    config = write_config(root / "prometheus", managers, NodeTLS(pki().ca, cert, key))
    prom = start_prometheus(config, root / "prometheus" / "data", root / "logs" /
                            "prometheus.log")
    state.put(Component("prometheus", prom.proc.pid, prom.address, str(prom.log)))
    _save(state)


def pki() -> tls.Files:
    """The cluster's certificates and kubeconfigs, made by `up` (jota.local.tls)."""
    return tls.Files(state_dir() / "pki")


def admin_credentials() -> kubeconfig.Credentials:
    """The admin's certificate (what `jota local up` puts in ~/.jota/config)."""
    path = pki().kubeconfig("admin")
    return kubeconfig.load(path)[1] if path.exists() else kubeconfig.Credentials()


def cluster_config(state: State) -> ClusterConfig:
    """The local cluster in deploy/'s terms (jota/deploy/config.py): jota.deploy.units
    makes every daemon's flags from it, as it makes the VMs' units. The control plane
    is on this machine (the bridge's address with node VMs), every apiserver and its
    bootstrap port are listed, and files live in the state folder."""
    host, root = state.listen_host(), state_dir()
    return ClusterConfig(
        control_plane_address=host, apiserver_port=topology.APISERVER_PORT,
        bootstrap_port=topology.BOOTSTRAP_PORT,
        etcd_servers=tuple(topology.etcd_servers(state.etcd_members).split(",")),
        # One node's pods are on Docker's own bridge, outside any cluster CIDR.
        cluster_cidr=netns.CLUSTER_CIDR if state.cluster is not None else "",
        cluster_dns=DNS_SERVICE_IP, pki_dir=str(root / "pki"), state_dir=str(root),
        apiserver_endpoints=tuple(state.apiservers().split(",")),
        bootstrap_endpoints=tuple(topology.bootstrap_addresses(host, state.control_planes)))


def node_config(state: State, name: str, address: str, pod_cidr: str, docker_host: str,
                folder: Path) -> ClusterConfig:
    """One node's view, as a worker's /etc/jota/cluster.yaml: its PKI folder and state
    under `folder`, a serving certificate issued here, and the cluster's DNS only when
    jota-dns runs (else pods keep the node's resolv.conf)."""
    return replace(cluster_config(state), pki_dir=str(folder / "pki"), state_dir=str(folder),
                   docker_host=docker_host,
                   cluster_dns=DNS_SERVICE_IP if state.component("dns") else "",
                   node=NodeConfig(name, address, pod_cidr, serving_cert=True))


def _command(component: str, config: ClusterConfig, *local: str) -> list[str]:
    """The daemon from this source tree, with the flags units.args gives it and the
    local-only ones after them."""
    return [sys.executable, "-m", units.MODULES[component], *units.args(component, config),
            *local]


def _check_running(name: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """A daemon that listens on no port of its own: at least it did not exit at once
    (a bad flag)."""
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}: "
                           f"{log.read_text(errors='replace')[-2000:]}")


# ---- nodes joining ---------------------------------------------------------------------------

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """`coro` on an event loop of its own thread: `up` and `down` are called from the
    CLI's running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout)


def _create_token(state: State) -> str:
    """A bootstrap token, stored through the admin's client as `jota token create` does."""
    async def create() -> str:
        async with Client(state.apiservers(), timeout=10,
                          credentials=admin_credentials().channel()) as client:
            return await tokens.create(client, description=TOKEN_DESCRIPTION)
    return _run(create(), timeout=120.0)


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


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


# ---- node VMs --------------------------------------------------------------------------------

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
    return netns.in_netns(n, _command("node", config, "--port", str(AGENT_PORT)))


def proxy_command(n: netns.NodeNet, config: ClusterConfig) -> list[str]:
    return netns.in_netns(n, _command("proxy", config))


def _start_vms(state: State, lay: netns.Layout, vms: list[NodeVM],
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
        proc = _spawn(dockerd_command(lay.node(vm.name), vm), log)
        state.put(Component(f"dockerd/{vm.name}", proc.pid, vm.docker_host, str(log)))
        _save(state)
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
        proc = _spawn(agent_command(lay.node(vm.name), vm_config(state, vm)), log)
        state.put(Component(f"node/{vm.name}", proc.pid, f"{vm.address}:{AGENT_PORT}",
                            str(log)))
        _save(state)
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
        proc = _spawn(proxy_command(lay.node(vm.name), vm_config(state, vm)), log)
        state.put(Component(f"proxy/{vm.name}", proc.pid, "", str(log)))
        _save(state)
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
        _save(state)
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
        _stop(c.pid, timeout=DOCKERD_SHUTDOWN_TIMEOUT + 15.0)
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
        _save(state)
    if not any(c.alive for c in state.of_kind("apiserver")):
        raise RuntimeError("the local cluster's apiserver is not running")
    _start_vms(state, lay, [vm], progress)


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
    """Copy images from this machine's engine into every node's, as
    `kind load docker-image`; returns how many engines got them."""
    state = read_state()
    if not state.components:
        raise RuntimeError("no local cluster is running")
    if not state.nodes:
        progress(f"{NODE_NAME} runs on this machine's engine: the images are there already")
        return 0
    for vm in state.nodes:
        if not answers(vm.docker_host):
            raise RuntimeError(f"the engine of {vm.name} is not running "
                               f"(`jota local start-node {vm.name}`)")
    for image in images:
        for vm in state.nodes:
            progress(f"Loading {image} into {vm.name}")
            load_image(image, DEFAULT_SOCKET, vm.docker_host)
    return len(state.nodes)


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


# ---- components: stop, start, restart; backup and restore ----------------------------------

def _running_state() -> State:
    state = read_state()
    if not state.components:
        raise RuntimeError("no local cluster is running")
    return state


def _find(state: State, name: str) -> Component:
    c = state.component(name)
    if c is None:
        names = ", ".join(c.name for c in state.components)
        raise RuntimeError(f'no component "{name}" in the local cluster ({names})')
    return c


def stop_component(name: str, progress: Progress, kill: bool = False) -> None:
    """Stop one component (SIGTERM, as a clean shutdown), or with `kill` SIGKILL it, as
    a crash: a leader keeps its Lease until it expires, etcd gets no chance to step down."""
    state = _running_state()
    c = _find(state, name)
    if not c.alive:
        raise RuntimeError(f"{name} is not running")
    progress(f"{'Killing' if kill else 'Stopping'} {name} (pid {c.pid})")
    if kill:
        with contextlib.suppress(OSError):
            os.kill(c.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and leftovers.alive(c.pid):
            time.sleep(0.05)
    else:
        _stop(c.pid, timeout=15.0)


def start_component(name: str, progress: Progress) -> None:
    """Start a stopped component again with the flags `up` gave it (its data, a member's
    etcd data directory included, is where it was)."""
    state = _running_state()
    c = _find(state, name)
    if c.alive:
        raise RuntimeError(f"{name} is running already (pid {c.pid})")
    _start_component(state, name, progress)


def _start_component(state: State, name: str, progress: Progress) -> None:
    root, lay = state_dir(), state.layout()
    kind = topology.kind_of(name)
    if kind == "etcd":
        _start_etcd_member(state, name, progress)
    elif kind:
        _start_replica(state, name, progress)
    elif name == "dns":
        _start_dns(state, root, lay, progress)
    elif name == "ingress":
        _start_ingress(state, root, lay, progress)
    elif name == "prometheus":
        _start_prometheus(state, root, progress)
    elif name == f"node/{NODE_NAME}":
        _start_host_node(state, root, progress)
    elif name == f"proxy/{NODE_NAME}":
        _start_host_proxy(state, root, progress)
    elif lay is not None and name.partition("/")[0] in ("dockerd", "node", "proxy"):
        vm = next(v for v in state.nodes if v.name == name.partition("/")[2])
        _start_vms(state, lay, [vm], progress)  # what of the node runs stays
    else:
        raise RuntimeError(f"do not know how to start {name}")


def _in_order(state: State, kinds: tuple[str, ...]) -> list[Component]:
    return [c for kind in kinds for c in state.of_kind(kind)]


def restart(progress: Progress) -> None:
    """Stop every control-plane process and etcd member, then start them again, as after
    a power cut of the control-plane machines; the nodes and add-ons keep running and
    their watches resume against the new apiservers."""
    state = _running_state()
    order = ("scheduler", "controller-manager", "apiserver", "etcd")
    for c in _in_order(state, order):
        if c.alive:
            progress(f"Stopping {c.name}")
            _stop(c.pid, timeout=15.0)
    for c in _in_order(state, tuple(reversed(order))):
        _start_component(state, c.name, progress)


def backup_etcd(path: Path, progress: Progress) -> backup.Snapshot:
    """A snapshot of the cluster's etcd into `path`, taken from the first member that
    answers (any member has the whole keyspace)."""
    state = _running_state()
    members = [c for c in state.of_kind("etcd") if c.alive]
    if not members:
        raise RuntimeError("no etcd member of the local cluster is running")
    if path.exists():
        raise FileExistsError(f"{path} exists already: choose another name")
    failures = []
    for c in members:
        progress(f"Saving a snapshot of {c.name} ({c.address}) to {path}")
        try:
            return backup.save(c.address, path)
        except RuntimeError as e:
            failures.append(f"{c.name}: {e}")
            path.unlink(missing_ok=True)
    raise RuntimeError("no etcd member gave a snapshot: " + "; ".join(failures))


def restore_etcd(path: Path, progress: Progress) -> backup.Snapshot:
    """Replace the cluster's whole state with a snapshot: stop the apiservers and every
    etcd member, make each member's data directory from the snapshot (one new cluster of
    the same members), start etcd and the apiservers, then restart everything that
    watches (their watches are at revisions past the snapshot's)."""
    snap = backup.status(path)  # a missing or corrupt file fails here, before any stop
    state = _running_state()
    for c in _in_order(state, ("apiserver", "etcd")):
        if c.alive:
            progress(f"Stopping {c.name}")
            _stop(c.pid, timeout=15.0)
    members = topology.etcd_members(state.etcd_members)
    cluster = topology.initial_cluster(members)
    for m in members:
        data = state_dir() / m.component
        progress(f"Restoring {m.component}'s data ({data}) from {path} (revision "
                 f"{snap.revision}, {snap.keys} keys)")
        old = backup.restore(path, data, m.name, m.peer_url, initial_cluster=cluster)
        progress(f"The data {m.component} had is kept in {old}")
    for kind in ("etcd", "apiserver"):
        for c in state.of_kind(kind):
            _start_component(state, c.name, progress)
    _restart_watchers(state, progress)
    return snap


def _restart_watchers(state: State, progress: Progress) -> None:
    """Restart the controller-managers, schedulers, dns, node agents, proxies and ingress,
    in that order: each lists afresh from the restored state."""
    watchers = [*_in_order(state, ("controller-manager", "scheduler")),
                *[c for c in state.components if c.name == "dns"
                  or c.name.startswith(("node/", "proxy/"))],
                *[c for c in state.components if c.name == "ingress"]]
    for c in watchers:
        if c.alive:
            progress(f"Stopping {c.name}")
            _stop(c.pid, timeout=15.0)
    lay = state.layout()
    for c in watchers:
        if lay is not None and c.name.startswith(("node/", "proxy/")):
            continue
        _start_component(state, c.name, progress)
    if lay is not None and state.nodes:
        _start_vms(state, lay, state.nodes, progress)


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
        return _run(read(), timeout=15)
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
        _stop(c.pid, timeout=DOCKERD_SHUTDOWN_TIMEOUT + 15.0 if vm else 10.0)
    if any(c.name == f"node/{NODE_NAME}" for c in state.components) and answers():
        progress("Removing the pods' containers")
        remove_managed_containers(cluster=cluster)
    if any(c.name == f"proxy/{NODE_NAME}" for c in state.components) and proxy_synced([]):
        progress("Removing jota-proxy's iptables rules it left")  # it was killed
        subprocess.run([sys.executable, "-m", "node.proxy.main", "--cleanup"],
                       capture_output=True, check=False, timeout=60)
    for pid in leftovers.processes_naming(f"{state_dir() / 'ingress'}/"):
        progress(f"Stopping leftover nginx {pid}")  # its jota-ingress was killed
        _stop(pid, timeout=5.0)
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
        _stop(pid, timeout=5.0)
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


def _stop(pid: int, timeout: float = 10.0) -> None:
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


def wait_ready(address: str, timeout: float = 30.0) -> None:
    host, _, port = address.rpartition(":")
    wait_for_port(host, int(port), timeout)
