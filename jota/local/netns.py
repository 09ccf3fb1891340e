"""The network of `jota local up --nodes N`: one namespace per node on a host bridge.

Each node "VM" is a named network namespace joined by a veth pair to the host
bridge `jota<C>` (C is the cluster index, 0 for `jota local`), with its own
address, loopback and default route via the bridge. The host routes each node's
pod CIDR to that node's address, so the host reaches every pod as flannel's
host-gw backend would; the nodes route between themselves (node/network/routes.py).

Nothing of the cluster may leave this machine: before anything starts, the
cluster CIDR, the service CIDR and the LoadBalancer pool are blackholed on the
host, so a packet sent before the rules that would catch it exist dies here.
The more specific per-node pod routes win over the blackholed /16.

The host reaches Service IPs as a machine on a node's LAN reaches a MetalLB
layer-2 address: once a node's jota-proxy has synced, the service CIDR and the
LoadBalancer pool are routed via that one node (`service_route_steps`), whose
rules DNAT them to pods anywhere in the cluster. The blackholes stay underneath
at a worse metric, so when no node answers for Services these ranges die here
again instead of following the default route off the machine.

The host's own dockerd sets the FORWARD policy to DROP and br_netfilter makes
bridged frames pass iptables, so one FORWARD rule (tagged with a comment) lets the
namespaces talk across `jota<C>` and nowhere else.

Layout, per cluster index C and node i (1-based):

    bridge jota<C>          172.31.C.1/24 on the host
    netns  jota<C>-worker-i  eth0 172.31.C.(10+i)/24, default via 172.31.C.1
    veth   jota<C>-w<i>     host end, enslaved to the bridge
    pods   10.244.i.0/24    routed on the host via 172.31.C.(10+i)

The plan is pure data (`setup_plan`, `teardown_plan`, `cut_plan`, `restore_plan`):
each step names a probe that tells whether it is done, the command that does it
and the command that undoes it, so running a plan twice is harmless and
`leftovers` can say exactly what a teardown missed. `apply` and `undo` are
the thin executor.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
# Reserved for LoadBalancer Services' external IPs (issue D): never routed off the host.
LOADBALANCER_POOL = "172.30.255.0/24"
NODE_NET_PREFIX = 24
# The blackholes are the fallback: a route to a node (metric 0) for the same range wins.
BLACKHOLE_METRIC = "1000"
# What the host routes to the node that answers for Services (see `service_route_steps`).
SERVICE_RANGES = (SERVICE_CIDR, LOADBALANCER_POOL)
MAX_NODES = 100
NETNS_DIR = "/run/netns"


@dataclass(frozen=True)
class NodeNet:
    """One node "VM"'s place on the host network."""

    index: int  # 1-based
    name: str  # the Node object's name
    netns: str
    veth: str  # the host end; the node's end is eth0 inside the namespace
    address: str
    pod_cidr: str

    @property
    def netns_path(self) -> str:
        return f"{NETNS_DIR}/{self.netns}"


@dataclass(frozen=True)
class Layout:
    cluster: int
    bridge: str
    gateway: str  # the host's address on the bridge; the nodes' default route
    nodes: tuple[NodeNet, ...]
    blackholes: tuple[str, ...] = (CLUSTER_CIDR, SERVICE_CIDR, LOADBALANCER_POOL)

    @property
    def comment(self) -> str:
        """Tags our iptables rule so it is ours to find and remove."""
        return f"jota local cluster {self.cluster}"

    @property
    def netns_prefix(self) -> str:
        return f"jota{self.cluster}-worker-"

    def node(self, name: str) -> NodeNet:
        for n in self.nodes:
            if name in (n.name, n.netns):
                return n
        known = ", ".join(n.name for n in self.nodes)
        raise KeyError(f'no node "{name}" in the local cluster ({known})')


def node_name(index: int) -> str:
    return f"jota-worker-{index}"


def layout(cluster: int, nodes: int) -> Layout:
    """Every name and address of cluster `cluster` with `nodes` nodes."""
    if not 0 <= cluster <= 255:
        raise ValueError(f"cluster index must be 0..255, not {cluster}")
    if not 1 <= nodes <= MAX_NODES:
        raise ValueError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes}")
    subnet = f"172.31.{cluster}"
    return Layout(
        cluster=cluster, bridge=f"jota{cluster}", gateway=f"{subnet}.1",
        nodes=tuple(NodeNet(index=i, name=node_name(i), netns=f"jota{cluster}-worker-{i}",
                            veth=f"jota{cluster}-w{i}", address=f"{subnet}.{10 + i}",
                            pod_cidr=f"10.244.{i}.0/24")
                    for i in range(1, nodes + 1)))


# ---- the plan --------------------------------------------------------------------------------

Argv = tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One idempotent change. `probe` answers "is it done?": exit status 0 (and, with
    `probe_output`, something printed). Without a probe the command is safe to repeat.
    `undo` reverses it; empty when something else's undo takes it away."""

    what: str
    apply: Argv
    probe: Argv = ()
    probe_output: bool = False
    undo: Argv = ()


def in_netns(node: NodeNet, argv: Sequence[str]) -> list[str]:
    """Run argv in the node's network namespace only. Not `ip netns exec`: it remounts
    /sys, which dockerd then finds without a devices cgroup."""
    return ["nsenter", f"--net={node.netns_path}", *argv]


def _forward_rule(lay: Layout) -> tuple[str, ...]:
    return ("FORWARD", "-i", lay.bridge, "-o", lay.bridge,
            "-m", "comment", "--comment", lay.comment, "-j", "ACCEPT")


def blackhole_steps(lay: Layout) -> list[Step]:
    metric = ("metric", BLACKHOLE_METRIC)
    return [Step(f"blackhole route {cidr}",
                 ("ip", "route", "replace", "blackhole", cidr, *metric),
                 probe=("ip", "route", "show", "exact", cidr, "type", "blackhole"),
                 probe_output=True, undo=("ip", "route", "del", "blackhole", cidr, *metric))
            for cidr in lay.blackholes]


def service_route_steps(lay: Layout, node: NodeNet) -> list[Step]:
    """Route the service CIDR and the LoadBalancer pool via `node`, as MetalLB's
    layer-2 mode has one node answer for an address. `replace` moves the route
    from another node, so applying this for the next node is the failover."""
    return [Step(f"route {cidr} via {node.address}",
                 ("ip", "route", "replace", cidr, "via", node.address, "dev", lay.bridge),
                 probe=("ip", "route", "show", "exact", cidr, "via", node.address),
                 probe_output=True, undo=("ip", "route", "del", cidr, "via", node.address))
            for cidr in SERVICE_RANGES]


def service_routes_off(lay: Layout) -> list[Step]:
    """Undo steps for the service routes via any node: back to the blackholes."""
    return [s for n in lay.nodes for s in service_route_steps(lay, n)]


def bridge_steps(lay: Layout) -> list[Step]:
    br, cidr = lay.bridge, f"{lay.gateway}/{NODE_NET_PREFIX}"
    rule = _forward_rule(lay)
    return [
        Step(f"bridge {br}", ("ip", "link", "add", br, "type", "bridge"),
             probe=("ip", "link", "show", br), undo=("ip", "link", "del", br)),
        Step(f"address {cidr} on {br}", ("ip", "addr", "replace", cidr, "dev", br)),
        Step(f"{br} up", ("ip", "link", "set", br, "up")),
        Step(f"iptables: forward between the nodes on {br}",
             ("iptables", "-I", rule[0], "1", *rule[1:]),
             probe=("iptables", "-C", *rule), undo=("iptables", "-D", *rule)),
    ]


def node_steps(lay: Layout, node: NodeNet) -> list[Step]:
    """The namespace, its link to the bridge, and the host's route to its pods."""
    ip_n = ("ip", "-n", node.netns)
    return [
        Step(f"namespace {node.netns}", ("ip", "netns", "add", node.netns),
             probe=("test", "-e", node.netns_path), undo=("ip", "netns", "del", node.netns)),
        Step(f"veth {node.veth} <-> {node.netns}/eth0",
             ("ip", "link", "add", node.veth, "type", "veth", "peer", "name", "eth0",
              "netns", node.netns),
             probe=("ip", "link", "show", node.veth), undo=("ip", "link", "del", node.veth)),
        Step(f"{node.veth} on {lay.bridge}",
             ("ip", "link", "set", node.veth, "master", lay.bridge, "up")),
        Step(f"{node.netns}: loopback up", (*ip_n, "link", "set", "lo", "up")),
        Step(f"{node.netns}: address {node.address}",
             (*ip_n, "addr", "replace", f"{node.address}/{NODE_NET_PREFIX}", "dev", "eth0")),
        Step(f"{node.netns}: eth0 up", (*ip_n, "link", "set", "eth0", "up")),
        Step(f"{node.netns}: default route via {lay.gateway}",
             (*ip_n, "route", "replace", "default", "via", lay.gateway)),
        Step(f"{node.netns}: forwarding on",
             tuple(in_netns(node, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]))),
        Step(f"route {node.pod_cidr} via {node.address}",
             ("ip", "route", "replace", node.pod_cidr, "via", node.address, "dev", lay.bridge),
             probe=("ip", "route", "show", "exact", node.pod_cidr, "via", node.address),
             probe_output=True, undo=("ip", "route", "del", node.pod_cidr)),
    ]


def setup_plan(lay: Layout) -> list[Step]:
    """Blackholes first: from then on nothing of the cluster can leave the machine."""
    steps = blackhole_steps(lay) + bridge_steps(lay)
    for node in lay.nodes:
        steps += node_steps(lay, node)
    return steps


def teardown_plan(lay: Layout) -> list[Step]:
    """Every undoable step of `setup_plan`, last made first removed; the blackholes go
    last, once nothing can send into the cluster's ranges any more. The service
    routes, made later once a proxy has synced, go first."""
    return service_routes_off(lay) + [s for s in reversed(setup_plan(lay)) if s.undo]


def cut_plan(lay: Layout, node: NodeNet) -> list[Step]:
    """Pull the node's cable: its end of the bridge goes down, as a network partition."""
    return [Step(f"cut {node.name} off ({node.veth} down)",
                 ("ip", "link", "set", node.veth, "down"))]


def restore_plan(lay: Layout, node: NodeNet) -> list[Step]:
    return [Step(f"reconnect {node.name} ({node.veth} up)",
                 ("ip", "link", "set", node.veth, "up"))]


# ---- the executor ----------------------------------------------------------------------------

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
Progress = Callable[[str], None]


def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)


def is_done(step: Step, runner: Runner = run) -> bool:
    if not step.probe:
        return False
    out = runner(step.probe)
    return out.returncode == 0 and (not step.probe_output or bool(out.stdout.strip()))


def apply(steps: Sequence[Step], progress: Progress | None = None, runner: Runner = run
          ) -> None:
    """Do every step not done yet; the first failure raises with the command's words."""
    for step in steps:
        if is_done(step, runner):
            continue
        if progress is not None:
            progress(step.what)
        out = runner(step.apply)
        if out.returncode != 0:
            raise RuntimeError(f"{step.what}: `{' '.join(step.apply)}` failed: "
                               f"{(out.stderr or out.stdout).strip()}")


def undo(steps: Sequence[Step], progress: Progress | None = None, runner: Runner = run
         ) -> list[str]:
    """Undo what is there, carrying on past failures; returns what could not be undone."""
    failed: list[str] = []
    for step in steps:
        if step.probe and not is_done(step, runner):
            continue
        if progress is not None:
            progress(f"removing {step.what}")
        out = runner(step.undo)
        if out.returncode != 0 and (not step.probe or is_done(step, runner)):
            failed.append(f"{step.what}: {(out.stderr or out.stdout).strip()}")
    return failed


def leftovers(lay: Layout, runner: Runner = run) -> list[str]:
    """What of this cluster's network is still on the machine (empty after a clean down),
    including namespaces and veths of nodes beyond `lay`'s count."""
    found = [s.what for s in teardown_plan(lay) if is_done(s, runner)]
    known = {n.netns for n in lay.nodes}
    with contextlib.suppress(FileNotFoundError):
        found += [f"namespace {name}" for name in sorted(os.listdir(NETNS_DIR))
                  if name.startswith(lay.netns_prefix) and name not in known]
    veths = {n.veth for n in lay.nodes}
    with contextlib.suppress(FileNotFoundError):
        found += [f"veth {name}" for name in sorted(os.listdir("/sys/class/net"))
                  if name.startswith(f"jota{lay.cluster}-w") and name not in veths]
    return found


def stray_layout(lay: Layout) -> Layout:
    """`lay` widened to every node namespace of its cluster still on the machine, so a
    teardown after a lost or older state removes them too."""
    most = len(lay.nodes)
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(NETNS_DIR):
            tail = name.removeprefix(lay.netns_prefix)
            if name.startswith(lay.netns_prefix) and tail.isdigit():
                most = max(most, int(tail))
    return layout(lay.cluster, min(max(most, 1), MAX_NODES))
