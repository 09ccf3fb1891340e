"""The node's pod network: a Docker bridge holding the node's pod CIDR.

With a pod CIDR (`jota-node --pod-cidr 10.244.1.0/24`) every sandbox joins the
Docker network `jota-pods`, a bridge with that subnet and gateway .1, so pod IPs
are unique across the cluster and other nodes can route to them (routes.py).

Docker's own masquerade is turned off on that network: it would rewrite the source
of pod-to-pod traffic leaving the node, and Kubernetes' network model wants pods to
see each other's real IPs. Instead, as flannel does, egress is masqueraded only
when it leaves the cluster CIDR, and forwarding to and from the pod CIDR is
accepted (Docker sets the FORWARD policy to DROP where it enabled forwarding).
The rules carry a comment naming them, and each is checked before it is added,
so a restarted agent adds nothing twice.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import docker

logger = logging.getLogger(__name__)

NETWORK = "jota-pods"
BRIDGE = "jota-pods"  # the Linux bridge's name (at most 15 characters)
DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
COMMENT = "jota pod network"


def gateway_of(pod_cidr: str) -> str:
    """The bridge's address: the first host of the pod CIDR, as docker0's .1."""
    net = ipaddress.ip_network(pod_cidr, strict=True)
    return str(next(net.hosts()))


def network_spec(pod_cidr: str) -> dict[str, Any]:
    """Keyword arguments of docker's `create_network` for the pod network."""
    return {
        "name": NETWORK,
        "driver": "bridge",
        "options": {
            "com.docker.network.bridge.name": BRIDGE,
            "com.docker.network.bridge.enable_ip_masquerade": "false",
        },
        "ipam": {"Driver": "default",
                 "Config": [{"Subnet": pod_cidr, "Gateway": gateway_of(pod_cidr)}]},
        "labels": {"io.jota.managed": "true"},
    }


def subnets_of(network: dict[str, Any]) -> list[str]:
    return [str(c.get("Subnet", "")) for c in (network.get("IPAM") or {}).get("Config") or []]


def conflicts(pod_cidr: str, networks: Sequence[dict[str, Any]]) -> list[str]:
    """Other Docker networks whose subnets overlap the pod CIDR (e.g. a docker0 made
    with `--bip` inside it): Docker would refuse to create ours."""
    want = ipaddress.ip_network(pod_cidr)
    found = []
    for net in networks:
        if net.get("Name") == NETWORK:
            continue
        for subnet in subnets_of(net):
            try:
                if ipaddress.ip_network(subnet, strict=False).overlaps(want):
                    found.append(f"{net.get('Name')} ({subnet})")
            except ValueError:
                continue
    return found


@dataclass(frozen=True)
class Rule:
    table: str
    chain: str
    args: tuple[str, ...]
    insert: bool  # at the top of the chain, before Docker's own rules

    def check(self) -> list[str]:
        return ["iptables", "-w", "-t", self.table, "-C", self.chain, *self.args]

    def add(self) -> list[str]:
        where = ["-I", self.chain, "1"] if self.insert else ["-A", self.chain]
        return ["iptables", "-w", "-t", self.table, *where, *self.args]


def rules(pod_cidr: str, cluster_cidr: str = DEFAULT_CLUSTER_CIDR) -> list[Rule]:
    """Accept forwarding to and from the pods; masquerade what leaves the cluster."""
    tag = ("-m", "comment", "--comment", COMMENT)
    return [
        Rule("filter", "FORWARD", ("-s", pod_cidr, *tag, "-j", "ACCEPT"), insert=True),
        Rule("filter", "FORWARD", ("-d", pod_cidr, *tag, "-j", "ACCEPT"), insert=True),
        Rule("nat", "POSTROUTING",
             ("-s", pod_cidr, "!", "-d", cluster_cidr, *tag, "-j", "MASQUERADE"),
             insert=False),
    ]


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)


def ensure_rules(wanted: Sequence[Rule], runner: Runner = _run) -> int:
    """Add the rules that are missing; returns how many were added."""
    added = 0
    for rule in wanted:
        if runner(rule.check()).returncode == 0:
            continue
        out = runner(rule.add())
        if out.returncode != 0:
            raise OSError(f"cannot add iptables rule `{' '.join(rule.add())}`: "
                          f"{out.stderr.strip()}")
        added += 1
    return added


def ensure_network(api: Any, pod_cidr: str) -> str:
    """Blocking: make `jota-pods` with the pod CIDR unless it is there; return its name.
    A `jota-pods` with another subnet (the node got a new CIDR) is replaced when no
    container uses it."""
    for net in api.networks(names=[NETWORK]):
        if net.get("Name") != NETWORK:
            continue
        if pod_cidr in subnets_of(net):
            return NETWORK
        detail = api.inspect_network(net["Id"])
        if detail.get("Containers"):
            raise OSError(f"Docker network {NETWORK} has subnet {subnets_of(net)}, not "
                          f"{pod_cidr}, and containers still use it")
        logger.info("replacing the pod network", extra={"old": subnets_of(net),
                                                        "new": pod_cidr})
        api.remove_network(net["Id"])
    overlapping = conflicts(pod_cidr, api.networks())
    if overlapping:
        raise OSError(f"pod CIDR {pod_cidr} overlaps Docker network(s) "
                      f"{', '.join(overlapping)}: start dockerd with another --bip "
                      f"(or --bridge none)")
    api.create_network(**network_spec(pod_cidr))
    logger.info("created the pod network", extra={"network": NETWORK, "subnet": pod_cidr})
    return NETWORK


def setup_blocking(docker_host: str, pod_cidr: str,
                   cluster_cidr: str = DEFAULT_CLUSTER_CIDR, runner: Runner = _run) -> str:
    api = docker.APIClient(base_url=docker_host, version="auto", timeout=60)
    try:
        name = ensure_network(api, pod_cidr)
    finally:
        api.close()
    ensure_rules(rules(pod_cidr, cluster_cidr), runner)
    return name


async def setup(docker_host: str, pod_cidr: str,
                cluster_cidr: str = DEFAULT_CLUSTER_CIDR) -> str:
    """The Docker network sandboxes should join, with its forwarding and egress rules in
    place (in this process's network namespace: the node's)."""
    return await asyncio.to_thread(setup_blocking, docker_host, pod_cidr, cluster_cidr)
