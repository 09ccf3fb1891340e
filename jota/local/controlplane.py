"""The local cluster's control plane: etcd's members, the apiserver, controller-manager
and scheduler replicas, and the add-ons on this machine (jota-dns, jota-ingress,
Prometheus).

Every daemon runs with the flags jota.deploy.units gives it for the cluster's
ClusterConfig (`cluster_config`), as the systemd units on VMs do, plus what only a local
cluster needs: metrics addresses, replica ports. With `--etcd-members 3
--control-planes 2` the control plane is highly available (jota/local/topology.py names
and places each replica): three etcd members of one cluster, two apiservers (ports 6443
and 6444, nodes join on 6445 and 6446) that every kubeconfig lists, two
controller-managers and two schedulers electing a leader. The cluster's CA and the
admin's certificate are here too (`pki`, `admin_credentials`), with which `jota local`
itself talks to the apiservers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import time
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import docker

from jota.client import kubeconfig
from jota.deploy.config import ClusterConfig, NodeConfig
from jota.local import netns, prometheus, tls, topology
from jota.local.daemons import command, spawn
from jota.local.docker import DEFAULT_SOCKET
from jota.local.processes import start_etcd, wait_for_port
from jota.local.prometheus import NodeTLS, write_config
from jota.local.state import Component, Progress, State, save, state_dir

DNS_SERVICE_IP = "10.96.0.10"  # kube-dns's, kubeadm's: the agents' --cluster-dns


def start_control_plane(state: State, progress: Progress) -> str:
    """etcd's members, then the apiservers, controller-managers and schedulers; returns
    every apiserver's address, comma-separated."""
    for member in topology.etcd_members(state.etcd_members):
        start_etcd_member(state, member.component, progress)
    for kind in ("apiserver", "controller-manager", "scheduler"):
        for name in topology.names(kind, state.control_planes):
            start_replica(state, name, progress)
    return state.apiservers()


def start_etcd_member(state: State, component: str, progress: Progress) -> None:
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
    save(state)


def start_replica(state: State, name: str, progress: Progress) -> None:
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
    proc = spawn(command(kind, config, *local), log)
    if kind == "apiserver":
        wait_for_port(config.control_plane_address, config.apiserver_port, 60.0, proc, log)
        address = config.apiserver_listen
    else:
        _check_running(name, proc, log)
        address = f"127.0.0.1:{metrics}"
    state.put(Component(name, proc.pid, address, str(log)))
    save(state)


def _check_running(name: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """A daemon that listens on no port of its own: at least it did not exit at once
    (a bad flag)."""
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}: "
                           f"{log.read_text(errors='replace')[-2000:]}")


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


def start_dns(state: State, root: Path, lay: netns.Layout | None,
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
    proc = spawn(command("dns", config), log)
    wait_for_port(host, 53, 60.0, proc, log)
    state.put(Component("dns", proc.pid, f"{host}:53", str(log)))
    save(state)


def ingress_publish_address(lay: netns.Layout | None) -> str:
    """Where this machine's nginx is reached: the bridge's address with node VMs (the
    nodes reach it too), else loopback."""
    return lay.gateway if lay is not None else "127.0.0.1"


def start_ingress(state: State, root: Path, lay: netns.Layout | None,
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
    proc = spawn(command("ingress", replace(cluster_config(state),
                                              control_plane_address=publish)), log)
    wait_for_port("127.0.0.1", 80, 60.0, proc, log)
    state.put(Component("ingress", proc.pid, f"{publish}:80", str(log)))
    save(state)


def start_prometheus(state: State, root: Path, progress: Progress) -> None:
    """Prometheus on deploy/prometheus/prometheus.yml, discovering every target from
    the controller-manager; its data goes with the cluster's folder."""
    progress("Starting Prometheus (deploy/prometheus/prometheus.yml)")
    cert, key = pki().prometheus
    managers = ",".join(f"127.0.0.1:{topology.metrics_port('controller-manager', i)}"
                        for i in range(state.control_planes))
    config = write_config(root / "prometheus", managers, NodeTLS(pki().ca, cert, key))
    prom = prometheus.start_prometheus(config, root / "prometheus" / "data",
                                       root / "logs" / "prometheus.log")
    state.put(Component("prometheus", prom.proc.pid, prom.address, str(prom.log)))
    save(state)


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


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """`coro` on an event loop of its own thread: `up` and `down` are called from the
    CLI's running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout)
