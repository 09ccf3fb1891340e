"""Host-gw routes between nodes: from Node objects to `ip route` commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from jota.api.meta import Obj
from node.network import routes
from node.network.routes import Route, RouteSync, RouteTable
from tests.unit.fakeclient import FakeClient


def node(name: str, ip: str = "", cidr: str = "", cidrs: list[str] | None = None) -> Obj:
    spec: dict[str, Any] = {}
    if cidr:
        spec["podCIDR"] = cidr
    if cidrs is not None:
        spec["podCIDRs"] = cidrs
    addresses = [{"type": "Hostname", "address": name}]
    if ip:
        addresses.insert(0, {"type": "InternalIP", "address": ip})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec,
            "status": {"addresses": addresses}}


W1 = node("w1", "172.31.0.11", "10.244.1.0/24")
W2 = node("w2", "172.31.0.12", "10.244.2.0/24")
W3 = node("w3", "172.31.0.13", "10.244.3.0/24")


@pytest.mark.parametrize(("nodes", "me", "expected"), [
    ([W1, W2, W3], "w1", [Route("10.244.2.0/24", "172.31.0.12"),
                          Route("10.244.3.0/24", "172.31.0.13")]),
    ([W3, W2, W1], "w3", [Route("10.244.1.0/24", "172.31.0.11"),
                          Route("10.244.2.0/24", "172.31.0.12")]),
    ([W1], "w1", []),
    # Not yet allocated a CIDR, or not yet reporting an address: no route yet.
    ([W1, node("w2", "172.31.0.12")], "w1", []),
    ([W1, node("w2", cidr="10.244.2.0/24")], "w1", []),
    # podCIDRs alone, and a dual-stack node: only IPv4 goes through an IPv4 next hop.
    ([W1, node("w2", "172.31.0.12", cidrs=["10.244.2.0/24", "fd00:10:244:2::/64"])], "w1",
     [Route("10.244.2.0/24", "172.31.0.12")]),
    # A CIDR overlapping our own is ours to serve; a node claiming our IP is ignored.
    ([W1, node("w2", "172.31.0.12", "10.244.1.0/25")], "w1", []),
    ([W1, node("w2", "172.31.0.11", "10.244.2.0/24")], "w1", []),
    # Garbage does not crash the agent.
    ([W1, node("w2", "not-an-ip", "10.244.2.0/24"), node("w3", "172.31.0.13", "nope")],
     "w1", []),
    # A node that is not registered yet still routes to everyone.
    ([W2, W3], "w9", [Route("10.244.2.0/24", "172.31.0.12"),
                      Route("10.244.3.0/24", "172.31.0.13")]),
    # A machine that is no node (jota-routes on the control plane): every node's pods.
    ([W1, W2], "", [Route("10.244.1.0/24", "172.31.0.11"),
                    Route("10.244.2.0/24", "172.31.0.12")]),
])
def test_wanted_routes(nodes: list[Obj], me: str, expected: list[Route]) -> None:
    assert routes.wanted_routes(nodes, me) == expected


@pytest.mark.parametrize(("current", "wanted", "changes", "gone"), [
    ([], [Route("10.244.2.0/24", "172.31.0.12")], [Route("10.244.2.0/24", "172.31.0.12")], []),
    ([Route("10.244.2.0/24", "172.31.0.12")], [Route("10.244.2.0/24", "172.31.0.12")], [], []),
    # The node moved: the route is replaced, not deleted and re-added.
    ([Route("10.244.2.0/24", "172.31.0.12")], [Route("10.244.2.0/24", "172.31.0.22")],
     [Route("10.244.2.0/24", "172.31.0.22")], []),
    ([Route("10.244.2.0/24", "172.31.0.12"), Route("10.244.3.0/24", "172.31.0.13")], [],
     [], ["10.244.2.0/24", "10.244.3.0/24"]),
])
def test_diff(current: list[Route], wanted: list[Route], changes: list[Route],
              gone: list[str]) -> None:
    assert routes.diff(current, wanted) == (changes, gone)


def test_commands_mark_our_routes_with_our_protocol() -> None:
    assert routes.replace_command(Route("10.244.2.0/24", "172.31.0.12")) == [
        "ip", "route", "replace", "10.244.2.0/24", "via", "172.31.0.12", "proto", "74"]
    assert routes.delete_command("10.244.2.0/24") == [
        "ip", "route", "del", "10.244.2.0/24", "proto", "74"]


def test_parse_routes_reads_ip_json() -> None:
    text = json.dumps([{"dst": "10.244.3.0/24", "gateway": "172.31.0.13", "dev": "eth0",
                        "protocol": "74", "flags": []},
                       {"dst": "10.244.2.0/24", "gateway": "172.31.0.12", "dev": "eth0",
                        "flags": []}])
    assert routes.parse_routes(text) == [Route("10.244.2.0/24", "172.31.0.12"),
                                         Route("10.244.3.0/24", "172.31.0.13")]
    assert routes.parse_routes("") == []


class Kernel:
    """A routing table that answers `ip` as the kernel would, for our protocol."""

    def __init__(self, table: dict[str, str] | None = None, fail: str = "") -> None:
        self.table = dict(table or {})
        self.ran: list[list[str]] = []
        self.fail = fail

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        if argv[:3] == ["ip", "-j", "route"]:
            out = json.dumps([{"dst": d, "gateway": g, "dev": "eth0", "flags": []}
                              for d, g in self.table.items()])
            return subprocess.CompletedProcess(argv, 0, out, "")
        self.ran.append(argv)
        if self.fail and self.fail in argv:
            return subprocess.CompletedProcess(argv, 2, "", "Error: Nexthop has invalid gateway.")
        if argv[2] == "replace":
            self.table[argv[3]] = argv[5]
        elif argv[2] == "del":
            self.table.pop(argv[3], None)
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_table_sync_adds_changes_and_removes_only_what_differs() -> None:
    kernel = Kernel({"10.244.2.0/24": "172.31.0.12", "10.244.5.0/24": "172.31.0.15",
                     "10.244.3.0/24": "172.31.0.99"})
    failures = RouteTable(kernel).sync([Route("10.244.2.0/24", "172.31.0.12"),
                                        Route("10.244.3.0/24", "172.31.0.13"),
                                        Route("10.244.4.0/24", "172.31.0.14")])
    assert failures == []
    assert kernel.ran == [
        ["ip", "route", "replace", "10.244.3.0/24", "via", "172.31.0.13", "proto", "74"],
        ["ip", "route", "replace", "10.244.4.0/24", "via", "172.31.0.14", "proto", "74"],
        ["ip", "route", "del", "10.244.5.0/24", "proto", "74"],
    ]
    assert kernel.table == {"10.244.2.0/24": "172.31.0.12", "10.244.3.0/24": "172.31.0.13",
                            "10.244.4.0/24": "172.31.0.14"}


def test_table_sync_reports_a_failure_and_carries_on() -> None:
    kernel = Kernel(fail="10.244.3.0/24")
    failures = RouteTable(kernel).sync([Route("10.244.3.0/24", "10.0.0.1"),
                                        Route("10.244.4.0/24", "172.31.0.14")])
    assert failures == ["ip route replace 10.244.3.0/24 via 10.0.0.1 proto 74: "
                        "Error: Nexthop has invalid gateway."]
    assert kernel.table == {"10.244.4.0/24": "172.31.0.14"}


class RecordingTable(RouteTable):
    def __init__(self) -> None:
        super().__init__(Kernel())
        self.synced: list[list[Route]] = []
        self.seen = asyncio.Event()

    def sync(self, wanted: Sequence[Route]) -> list[str]:
        self.synced.append(list(wanted))
        self.seen.set()
        return super().sync(wanted)


async def test_route_sync_follows_the_nodes(no_task_left_running: None) -> None:
    fake = FakeClient()
    for n in (W1, W2):
        fake.add(dict(n))

    def later(c: FakeClient) -> None:  # once the watch runs: w3 joins, w2 moves
        c.add(dict(W3))
        c.modify("nodes", "w2", lambda o: o["status"]["addresses"].__setitem__(
            0, {"type": "InternalIP", "address": "172.31.0.22"}))

    fake.on_watch.append(later)
    table = RecordingTable()
    sync = asyncio.create_task(RouteSync(fake, "w1", table, resync=60).run())
    try:
        async with asyncio.timeout(5):
            while table.synced[-1:] != [[Route("10.244.2.0/24", "172.31.0.22"),
                                         Route("10.244.3.0/24", "172.31.0.13")]]:
                table.seen.clear()
                await table.seen.wait()
    finally:
        sync.cancel()
        await asyncio.wait([sync])
    assert table.runner.table == {  # type: ignore[attr-defined]
        "10.244.2.0/24": "172.31.0.22", "10.244.3.0/24": "172.31.0.13"}


async def test_route_sync_resyncs_without_events(no_task_left_running: None) -> None:
    fake = FakeClient()
    fake.add(dict(W2))
    table = RecordingTable()
    sync = asyncio.create_task(RouteSync(fake, "w1", table, resync=0.01).run())
    try:
        async with asyncio.timeout(5):
            while len(table.synced) < 3:
                table.seen.clear()
                await table.seen.wait()
    finally:
        sync.cancel()
        await asyncio.wait([sync])
    assert all(w == [Route("10.244.2.0/24", "172.31.0.12")] for w in table.synced)
