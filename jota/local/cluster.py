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

Every node runs a jota-proxy next to its agent (in its namespace, or on this machine
for the single node), so Service IPs and NodePorts work. With node VMs, this
machine reaches the service CIDR and the LoadBalancer pool through the first node
whose proxy runs (netns.service_route_steps), as through MetalLB's layer-2 speaker.

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
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import docker

from jota.client import kubeconfig
from jota.client.client import Client
from jota.local import leftovers, netns, tls
from jota.local.docker import (
    DEFAULT_SOCKET,
    answers,
    ensure_dockerd,
    remove_managed_containers,
)
from jota.local.images import TEST_IMAGE, build_test_image, load_image
from jota.local.processes import (
    start_apiserver,
    start_controller_manager,
    start_dns,
    start_etcd,
    start_ingress,
    start_node_agent,
    start_proxy,
    start_scheduler,
    wait_for_port,
)
from jota.local.prometheus import NodeTLS, start_prometheus, write_config

ETCD_CLIENT_PORT = 23790
ETCD_PEER_PORT = 23800
APISERVER_PORT = 6443
AGENT_PORT = 10250  # kubelet's; every node VM has an address of its own
# The control plane's /metrics (each daemon's default), scraped by --prometheus.
APISERVER_METRICS_PORT = 8080
CONTROLLER_MANAGER_METRICS_PORT = 10257
SCHEDULER_METRICS_PORT = 10259
CONTEXT = "jota-local"
NODE_NAME = "jota-local-1"
CLUSTER_INDEX = 0
DOCKERD_TIMEOUT = 60.0
DOCKERD_SHUTDOWN_TIMEOUT = 2  # seconds dockerd gives containers on stop-node, then SIGKILL
PROXY_SYNC_TIMEOUT = 60.0
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

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def put(self, component: Component) -> None:
        self.components = [c for c in self.components if c.name != component.name]
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
                 nodes=[NodeVM(**n) for n in data.get("nodes", [])])


def load_state() -> list[Component]:
    return read_state().components


def _save(state: State) -> None:
    path = state_dir() / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"components": [asdict(c) for c in state.components],
                                "cluster": state.cluster,
                                "nodes": [asdict(n) for n in state.nodes]}, indent=2))


# ---- up --------------------------------------------------------------------------------------

def up(progress: Progress, nodes: int = 1, prometheus: bool = False) -> str:
    """Start the control plane and `nodes` nodes (and Prometheus scraping them all);
    returns the apiserver address."""
    state = read_state()
    if any(c.alive for c in state.components):
        raise RuntimeError(f"a local cluster is already running (state in {state_dir()}); "
                           f"run `jota local down` first")
    lay = netns.layout(CLUSTER_INDEX, nodes) if nodes > 1 else None
    if lay is not None:
        _check_can_make_vms(lay)
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True)
    state = State(cluster=lay.cluster if lay else None)
    try:
        listen_host = "127.0.0.1"
        if lay is not None:
            state.nodes = [_node_vm(root, lay, n) for n in lay.nodes]
            _save(state)  # before the first change, so `down` can undo a half-made network
            _make_network(lay, progress)
            listen_host = lay.gateway
        progress(f"Making the cluster's CA and certificates ({root / 'pki'})")
        tls.make(root / "pki", server=f"{listen_host}:{APISERVER_PORT}",
                 hosts=sorted({"127.0.0.1", listen_host}))
        api_address = _start_control_plane(state, root, listen_host, progress)
        progress("Checking this machine's Docker engine and building the test image "
                 f"{TEST_IMAGE}")
        ensure_dockerd()
        build_test_image()
        _start_dns(state, root, api_address, lay, progress)
        if lay is None:
            progress(f"Starting the node agent ({NODE_NAME})")
            # The agents' default metrics port, where the apiserver's metrics API (jota
            # top, autoscaling) scrapes /metrics/resource.
            tls.add_node(pki(), NODE_NAME, "127.0.0.1", api_address)
            node = start_node_agent(api_address, root / "logs", node_name=NODE_NAME,
                                    root_dir=root / "node", metrics_port=10255,
                                    extra_args=_cluster_dns_args(state) +
                                    pki().node_args(NODE_NAME))
            state.put(Component(f"node/{NODE_NAME}", node.proc.pid, node.address,
                                str(node.log)))
            _save(state)
            _start_host_proxy(state, root, api_address, progress)
        else:
            _start_vms(state, lay, api_address, state.nodes, progress, load=[TEST_IMAGE])
        _start_ingress(state, root, api_address, lay, progress, _kubeconfig("ingress"))
        if prometheus:
            _start_prometheus(state, root, progress)
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


def _start_host_proxy(state: State, root: Path, apiserver: str, progress: Progress) -> None:
    """The single node's jota-proxy programs this machine's own iptables, so only
    when it may."""
    if os.geteuid() != 0 or shutil.which("iptables-restore") is None:
        progress("Not starting jota-proxy: it needs root and iptables-restore "
                 "(Service IPs will not answer)")
        return
    progress(f"Starting jota-proxy ({NODE_NAME}) on this machine's iptables")
    proxy = start_proxy(apiserver, root / "logs", node_name=NODE_NAME, node_ip="127.0.0.1",
                        extra_args=_kubeconfig("proxy"))
    state.put(Component(f"proxy/{NODE_NAME}", proxy.proc.pid, "", str(proxy.log)))
    _save(state)
    _wait_proxy(NODE_NAME, [], proxy.proc, proxy.log)


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


def _start_dns(state: State, root: Path, apiserver: str, lay: netns.Layout | None,
               progress: Progress) -> None:
    """jota-dns on this machine (port 53 needs root), registering kube-system/kube-dns
    (10.96.0.10) with its address; the nodes' jota-proxy carry pods' queries to it."""
    if os.geteuid() != 0:
        progress("Not starting jota-dns: port 53 needs root (pods get the node's "
                 "resolv.conf)")
        return
    host = dns_listen_host(lay)
    progress(f"Starting jota-dns on {host}:53 (Service {DNS_SERVICE_IP} in kube-system)")
    dns = start_dns(apiserver, root / "logs", listen=f"{host}:53", upstream=None,
                    advertise_address=host, extra_args=_kubeconfig("dns"))
    state.put(Component("dns", dns.proc.pid, dns.address, str(dns.log)))
    _save(state)


def ingress_publish_address(lay: netns.Layout | None) -> str:
    """Where this machine's nginx is reached: the bridge's address with node VMs (the
    nodes reach it too), else loopback."""
    return lay.gateway if lay is not None else "127.0.0.1"


def _start_ingress(state: State, root: Path, apiserver: str, lay: netns.Layout | None,
                   progress: Progress, extra_args: list[str] | None = None) -> None:
    """jota-ingress on this machine, its nginx on ports 80 and 443 (root only), going
    straight to pod IPs (routed from this machine to every node's pod CIDR)."""
    if os.geteuid() != 0 or shutil.which("nginx") is None:
        progress("Not starting jota-ingress: it needs root (ports 80 and 443) and nginx "
                 "(Debian: nginx-light); Ingresses will not be served")
        return
    publish = ingress_publish_address(lay)
    progress(f"Starting jota-ingress (nginx on ports 80 and 443, publishing {publish})")
    ing = start_ingress(apiserver, root / "logs", root / "ingress", publish_address=publish,
                        extra_args=extra_args)
    state.put(Component("ingress", ing.proc.pid, ing.address, str(ing.log)))
    _save(state)


def _cluster_dns_args(state: State) -> list[str]:
    """The agents' --cluster-dns, when jota-dns runs (else pods keep the node's DNS)."""
    return ["--cluster-dns", DNS_SERVICE_IP] if state.component("dns") else []


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


def _start_control_plane(state: State, root: Path, listen_host: str,
                         progress: Progress) -> str:
    logs = root / "logs"
    progress("Starting etcd")
    etcd = start_etcd(root / "etcd", client_port=ETCD_CLIENT_PORT,
                      peer_port=ETCD_PEER_PORT, name="jota-local")
    state.put(Component("etcd", etcd.proc.pid, etcd.address, str(etcd.log)))
    _save(state)
    progress(f"Starting the apiserver on {listen_host}:{APISERVER_PORT}")
    api = _start_apiserver(etcd.address, logs, listen_host)
    state.put(Component("apiserver", api.proc.pid, api.address, str(api.log)))
    _save(state)
    progress("Starting the controller-manager")
    others = (f"apiserver=127.0.0.1:{APISERVER_METRICS_PORT},"
              f"scheduler=127.0.0.1:{SCHEDULER_METRICS_PORT}")
    cm = start_controller_manager(api.address, logs,
                                  metrics_port=CONTROLLER_MANAGER_METRICS_PORT,
                                  extra_args=["--control-plane-metrics", others,
                                              *_kubeconfig("controller-manager")])
    state.put(Component("controller-manager", cm.proc.pid, cm.extra["metrics"], str(cm.log)))
    progress("Starting the scheduler")
    sched = start_scheduler(api.address, logs, metrics_port=SCHEDULER_METRICS_PORT,
                            extra_args=_kubeconfig("scheduler"))
    state.put(Component("scheduler", sched.proc.pid, sched.extra["metrics"], str(sched.log)))
    _save(state)
    return api.address


def _start_prometheus(state: State, root: Path, progress: Progress) -> None:
    """Prometheus on deploy/prometheus/prometheus.yml, discovering every target from
    the controller-manager; its data goes with the cluster's folder."""
    progress("Starting Prometheus (deploy/prometheus/prometheus.yml)")
    cert, key = pki().prometheus
    config = write_config(root / "prometheus",
                          f"127.0.0.1:{CONTROLLER_MANAGER_METRICS_PORT}",
                          NodeTLS(pki().ca, cert, key))
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


def _kubeconfig(component: str) -> list[str]:
    return ["--kubeconfig", str(pki().kubeconfig(component))]


def _start_apiserver(etcd: str, logs: Path, host: str) -> _Started:
    if host == "127.0.0.1":
        d = start_apiserver(etcd, logs, port=APISERVER_PORT,
                            metrics_port=APISERVER_METRICS_PORT,
                            extra_args=pki().apiserver_args())
        return _Started(d.proc, d.address, d.log)
    cmd = [sys.executable, "-m", "controlplane.apiserver.main", "--etcd-servers", etcd,
           "--listen", f"{host}:{APISERVER_PORT}",
           "--metrics-bind-address", f"127.0.0.1:{APISERVER_METRICS_PORT}",
           *pki().apiserver_args()]
    log = logs / "apiserver.log"
    proc = _spawn(cmd, log)
    wait_for_port(host, APISERVER_PORT, 60.0, proc, log)
    return _Started(proc, f"{host}:{APISERVER_PORT}", log)


@dataclass
class _Started:
    proc: subprocess.Popen[bytes]
    address: str
    log: Path


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


def agent_command(n: netns.NodeNet, vm: NodeVM, apiserver: str,
                  extra: list[str] | None = None) -> list[str]:
    return netns.in_netns(n, [
        sys.executable, "-m", "node.agent.main", "--apiserver", apiserver,
        "--node-name", vm.name, "--node-ip", vm.address, "--port", str(AGENT_PORT),
        "--pod-cidr", vm.pod_cidr, "--docker-host", vm.docker_host,
        "--root-dir", f"{vm.data_dir}/agent", *(extra or [])])


def proxy_command(n: netns.NodeNet, vm: NodeVM, apiserver: str) -> list[str]:
    return netns.in_netns(n, [
        sys.executable, "-m", "node.proxy.main", "--apiserver", apiserver,
        "--node-name", vm.name, "--node-ip", vm.address,
        "--cluster-cidr", netns.CLUSTER_CIDR, *_kubeconfig("proxy")])


def _start_vms(state: State, lay: netns.Layout, apiserver: str, vms: list[NodeVM],
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
    agents: list[tuple[NodeVM, subprocess.Popen[bytes], Path]] = []
    for vm in vms:
        if (c := state.component(f"node/{vm.name}")) and c.alive:
            continue
        progress(f"Starting the node agent of {vm.name} ({vm.address}, pods {vm.pod_cidr})")
        log = logs / f"node-{vm.name}.log"
        if not pki().node(vm.name)[0].exists():
            tls.add_node(pki(), vm.name, vm.address, apiserver)
        proc = _spawn(agent_command(lay.node(vm.name), vm, apiserver,
                                    _cluster_dns_args(state) + pki().node_args(vm.name)), log)
        state.put(Component(f"node/{vm.name}", proc.pid, f"{vm.address}:{AGENT_PORT}",
                            str(log)))
        _save(state)
        agents.append((vm, proc, log))
    for vm, proc, log in agents:
        wait_for_port(vm.address, AGENT_PORT, 60.0, proc, log)
    proxies: list[tuple[NodeVM, subprocess.Popen[bytes], Path]] = []
    for vm in vms:
        if (c := state.component(f"proxy/{vm.name}")) and c.alive:
            continue
        progress(f"Starting jota-proxy of {vm.name}")
        log = logs / f"proxy-{vm.name}.log"
        proc = _spawn(proxy_command(lay.node(vm.name), vm, apiserver), log)
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
    api = state.component("apiserver")
    if api is None or not api.alive:
        raise RuntimeError("the local cluster's apiserver is not running")
    _start_vms(state, lay, api.address, [vm], progress)


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


# ---- down ------------------------------------------------------------------------------------

def _cluster_id(state: Any) -> str:
    """The cluster's id (its kube-system namespace's uid), which the agents put on every
    container; "" when the apiserver does not answer (then every agent-made container
    on this machine's engine goes)."""
    api = next((c for c in state.components if c.name == "apiserver" and c.alive), None)
    if api is None:
        return ""

    async def read() -> str:
        async with Client(api.address, timeout=5, retries=1,
                          credentials=admin_credentials().channel()) as c:
            ns = await c.get("namespaces", "kube-system")
            return str(ns["metadata"]["uid"])

    # Its own thread and event loop: `down` is called from the CLI's running loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(asyncio.run, read()).result(timeout=15)
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
