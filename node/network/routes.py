"""Routes between nodes: each other node's pod CIDR goes via that node's IP (host-gw).

As flannel's host-gw backend, with every node on one L2 segment: node A reaches a
pod on node B by sending to B's InternalIP, and B's bridge delivers it. The routes
follow the Node objects: `wanted_routes` is a pure function from the Nodes (their
spec.podCIDR and InternalIP) and this node's name; `RouteSync` watches Nodes and
keeps the kernel's table equal to it.

The routes are installed with protocol number 74 (`proto 74`, "J"), so the agent
finds and removes exactly its own and never touches a route someone else made.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from jota.api.meta import Obj
from jota.client.informer import SharedInformer
from jota.client.listwatch import ListerWatcher

logger = logging.getLogger(__name__)

PROTO = "74"
RESYNC = 30.0


@dataclass(frozen=True, order=True)
class Route:
    dest: str  # a pod CIDR
    via: str  # the node IP that owns it


def internal_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return ""


def pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or [])
    if spec.get("podCIDR") and spec["podCIDR"] not in cidrs:
        cidrs.insert(0, spec["podCIDR"])
    return [str(c) for c in cidrs]


def _network(text: str) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


def _ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def wanted_routes(nodes: Iterable[Obj], self_name: str) -> list[Route]:
    """A route per other node's IPv4 pod CIDR via its InternalIP. Nodes without either
    are skipped (not yet allocated, not yet reporting); so is a CIDR overlapping this
    node's own, which is served by the local bridge."""
    nodes = list(nodes)
    own = [net for n in nodes if n.get("metadata", {}).get("name") == self_name
           for net in map(_network, pod_cidrs(n)) if net is not None]
    own_ips = {internal_ip(n) for n in nodes if n.get("metadata", {}).get("name") == self_name}
    routes: set[Route] = set()
    for node in nodes:
        if node.get("metadata", {}).get("name") == self_name:
            continue
        via = internal_ip(node)
        if not _ipv4(via) or via in own_ips:
            continue
        for cidr in pod_cidrs(node):
            net = _network(cidr)
            if net is None or any(net.overlaps(o) for o in own):
                continue
            routes.add(Route(str(net), via))
    return sorted(routes)


def diff(current: Iterable[Route], wanted: Iterable[Route]) -> tuple[list[Route], list[str]]:
    """(routes to add or change, destinations to delete)."""
    have = {r.dest: r for r in current}
    want = {r.dest: r for r in wanted}
    changes = sorted(r for d, r in want.items() if have.get(d) != r)
    gone = sorted(d for d in have if d not in want)
    return changes, gone


def replace_command(route: Route) -> list[str]:
    return ["ip", "route", "replace", route.dest, "via", route.via, "proto", PROTO]


def delete_command(dest: str) -> list[str]:
    return ["ip", "route", "del", dest, "proto", PROTO]


def parse_routes(text: str) -> list[Route]:
    """`ip -j route show proto 74` -> the routes in it."""
    if not text.strip():
        return []
    return sorted(Route(str(r["dst"]), str(r.get("gateway", "")))
                  for r in json.loads(text) if r.get("dst"))


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)


class RouteTable:
    """The kernel's routes of this network namespace, ours only (blocking calls)."""

    def __init__(self, runner: Runner = _run) -> None:
        self.runner = runner

    def current(self) -> list[Route]:
        out = self.runner(["ip", "-j", "route", "show", "proto", PROTO])
        if out.returncode != 0:
            raise OSError(f"ip route show: {out.stderr.strip()}")
        return parse_routes(out.stdout)

    def sync(self, wanted: Sequence[Route]) -> list[str]:
        """Make our routes equal `wanted`; returns the failures (a next sync retries)."""
        changes, gone = diff(self.current(), wanted)
        failures = []
        for argv in [replace_command(r) for r in changes] + [delete_command(d) for d in gone]:
            out = self.runner(argv)
            if out.returncode != 0:
                failures.append(f"{' '.join(argv)}: {out.stderr.strip()}")
            else:
                logger.info("route", extra={"command": " ".join(argv[2:])})
        return failures


class RouteSync:
    """Watches Nodes and keeps this node's routes to the other nodes' pods current."""

    def __init__(self, client: ListerWatcher, node_name: str, table: RouteTable | None = None,
                 resync: float = RESYNC) -> None:
        self.node_name = node_name
        self.table = table or RouteTable()
        self.resync = resync
        self.informer = SharedInformer(client, "nodes")
        self._changed = asyncio.Event()

    def _poke(self, *_: object) -> None:
        self._changed.set()

    async def run(self) -> None:
        self.informer.add_event_handler(on_add=self._poke, on_update=self._poke,
                                        on_delete=self._poke)
        informer = self.informer.start()
        try:
            await self.informer.wait_for_sync()
            while True:
                self._changed.clear()
                wanted = wanted_routes(self.informer.store.list(), self.node_name)
                try:
                    failures = await asyncio.to_thread(self.table.sync, wanted)
                except OSError as e:
                    failures = [str(e)]
                for failure in failures:
                    logger.warning("cannot set route: %s", failure)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self.resync)
        finally:
            await self.informer.stop()
            informer.cancel()
