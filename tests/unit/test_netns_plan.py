"""The plan of `jota local up --nodes N`'s network, run against a simulated machine."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from jota.local import netns
from jota.local.netns import Step, layout
from jota.local.nodes import agent_command, daemon_json, dockerd_command, node_vm, vm_config
from jota.local.state import State


@pytest.mark.parametrize(("cluster", "nodes", "index", "expected"), [
    (0, 2, 0, ("jota-worker-1", "jota0-worker-1", "jota0-w1", "172.31.0.11", "10.244.1.0/24")),
    (0, 2, 1, ("jota-worker-2", "jota0-worker-2", "jota0-w2", "172.31.0.12", "10.244.2.0/24")),
    (3, 12, 11, ("jota-worker-12", "jota3-worker-12", "jota3-w12", "172.31.3.22",
                 "10.244.12.0/24")),
])
def test_layout_names_and_addresses(cluster: int, nodes: int, index: int,
                                    expected: tuple[str, ...]) -> None:
    lay = layout(cluster, nodes)
    n = lay.nodes[index]
    assert (n.name, n.netns, n.veth, n.address, n.pod_cidr) == expected
    assert n.netns_path == f"/run/netns/{n.netns}"
    assert lay.bridge == f"jota{cluster}"
    assert lay.gateway == f"172.31.{cluster}.1"
    assert len(lay.nodes) == nodes


def test_interface_names_fit_the_kernel_limit() -> None:
    lay = layout(255, netns.MAX_NODES)
    assert all(len(n.veth) <= 15 for n in lay.nodes)
    assert len(lay.bridge) <= 15


@pytest.mark.parametrize(("cluster", "nodes", "message"), [
    (0, 0, "--nodes must be between 1 and 100, not 0"),
    (0, 101, "--nodes must be between 1 and 100, not 101"),
    (256, 2, "cluster index must be 0..255, not 256"),
])
def test_layout_refuses_what_does_not_fit(cluster: int, nodes: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        layout(cluster, nodes)


def test_node_lookup_by_node_or_namespace_name() -> None:
    lay = layout(0, 2)
    assert lay.node("jota-worker-2").address == "172.31.0.12"
    assert lay.node("jota0-worker-1").address == "172.31.0.11"
    with pytest.raises(KeyError, match='no node "nope" in the local cluster'):
        lay.node("nope")


def test_blackholes_come_before_anything_else() -> None:
    plan = netns.setup_plan(layout(0, 2))
    first = [s.apply for s in plan[:3]]
    assert first == [("ip", "route", "replace", "blackhole", cidr, "metric", "1000")
                     for cidr in ("10.244.0.0/16", "10.96.0.0/12", "172.30.255.0/24")]
    assert all("blackhole" not in s.apply for s in plan[3:])


def test_the_host_only_gets_routes_to_pod_cidrs_via_node_addresses() -> None:
    """Nothing in the plan changes the host's default route or sends anything off it."""
    host_routes = [s.apply for s in netns.setup_plan(layout(0, 2))
                   if s.apply[:3] == ("ip", "route", "replace")]
    assert host_routes == [
        ("ip", "route", "replace", "blackhole", "10.244.0.0/16", "metric", "1000"),
        ("ip", "route", "replace", "blackhole", "10.96.0.0/12", "metric", "1000"),
        ("ip", "route", "replace", "blackhole", "172.30.255.0/24", "metric", "1000"),
        ("ip", "route", "replace", "10.244.1.0/24", "via", "172.31.0.11", "dev", "jota0"),
        ("ip", "route", "replace", "10.244.2.0/24", "via", "172.31.0.12", "dev", "jota0"),
    ]


def test_forwarding_is_accepted_only_between_bridge_ports() -> None:
    (rule,) = [s for s in netns.setup_plan(layout(0, 2)) if s.apply[0] == "iptables"]
    assert rule.apply == ("iptables", "-I", "FORWARD", "1", "-i", "jota0", "-o", "jota0",
                          "-m", "comment", "--comment", "jota local cluster 0", "-j", "ACCEPT")
    same = ("FORWARD", "-i", "jota0", "-o", "jota0", "-m", "comment", "--comment",
            "jota local cluster 0", "-j", "ACCEPT")
    assert rule.probe == ("iptables", "-C", *same)
    assert rule.undo == ("iptables", "-D", *same)


def test_commands_inside_a_node_use_its_namespace_never_ip_netns_exec() -> None:
    lay = layout(0, 1)
    steps = netns.node_steps(lay, lay.nodes[0])
    inside = [s.apply for s in steps if "jota0-worker-1:" in s.what]
    assert inside and all(a[:3] == ("ip", "-n", "jota0-worker-1") or
                          a[:2] == ("nsenter", "--net=/run/netns/jota0-worker-1")
                          for a in inside)
    assert not any(tuple(s.apply[1:3]) == ("netns", "exec") for s in steps)
    assert netns.in_netns(lay.nodes[0], ["dockerd"]) == [
        "nsenter", "--net=/run/netns/jota0-worker-1", "dockerd"]


def test_teardown_reverses_setup_and_lifts_the_blackholes_last() -> None:
    lay = layout(0, 2)
    what = [s.what for s in netns.teardown_plan(lay)]
    assert what == [
        "route 10.96.0.0/12 via 172.31.0.11", "route 172.30.255.0/24 via 172.31.0.11",
        "route 10.96.0.0/12 via 172.31.0.12", "route 172.30.255.0/24 via 172.31.0.12",
        "route 10.244.2.0/24 via 172.31.0.12", "veth jota0-w2 <-> jota0-worker-2/eth0",
        "namespace jota0-worker-2",
        "route 10.244.1.0/24 via 172.31.0.11", "veth jota0-w1 <-> jota0-worker-1/eth0",
        "namespace jota0-worker-1",
        "iptables: forward between the nodes on jota0", "bridge jota0",
        "blackhole route 172.30.255.0/24", "blackhole route 10.96.0.0/12",
        "blackhole route 10.244.0.0/16",
    ]


def test_service_ranges_go_via_one_node_over_the_blackholes() -> None:
    """MetalLB layer-2 style: one node answers for the service CIDR and the pool; its
    metric-0 route wins over the metric-1000 blackhole, which stays as the fallback."""
    lay = layout(0, 2)
    steps = netns.service_route_steps(lay, lay.node("jota-worker-1"))
    assert [s.apply for s in steps] == [
        ("ip", "route", "replace", "10.96.0.0/12", "via", "172.31.0.11", "dev", "jota0"),
        ("ip", "route", "replace", "172.30.255.0/24", "via", "172.31.0.11", "dev", "jota0"),
    ]
    assert steps[0].undo == ("ip", "route", "del", "10.96.0.0/12", "via", "172.31.0.11")
    assert [s.undo for s in netns.blackhole_steps(lay)][1] == (
        "ip", "route", "del", "blackhole", "10.96.0.0/12", "metric", "1000")
    assert len(netns.service_routes_off(lay)) == 4  # via either node


def test_cut_and_restore_flip_the_host_end_of_the_link() -> None:
    lay = layout(0, 2)
    node = lay.node("jota-worker-2")
    assert [s.apply for s in netns.cut_plan(lay, node)] == [
        ("ip", "link", "set", "jota0-w2", "down")]
    assert [s.apply for s in netns.restore_plan(lay, node)] == [
        ("ip", "link", "set", "jota0-w2", "up")]


class Machine:
    """A simulated host: a probe answers "done" once its step's command ran and its
    undo did not; every command is recorded."""

    def __init__(self, plan: Sequence[Step], fail: Sequence[str] = ()) -> None:
        self.by_probe = {s.probe: s for s in plan if s.probe}
        self.by_apply = {s.apply: s for s in plan}
        self.by_undo = {s.undo: s for s in plan if s.undo}
        self.done: set[str] = set()
        self.ran: list[tuple[str, ...]] = []
        self.fail = set(fail)

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = tuple(argv)
        if argv in self.by_probe:
            step = self.by_probe[argv]
            on = step.what in self.done
            return subprocess.CompletedProcess(argv, 0 if on or step.probe_output else 1,
                                               "yes\n" if on else "", "")
        self.ran.append(argv)
        if " ".join(argv) in self.fail:
            return subprocess.CompletedProcess(argv, 2, "", "RTNETLINK answers: busy")
        if argv in self.by_apply:
            self.done.add(self.by_apply[argv].what)
        elif argv in self.by_undo:
            self.done.discard(self.by_undo[argv].what)
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_apply_twice_changes_nothing_the_second_time() -> None:
    plan = netns.setup_plan(layout(0, 2))
    machine = Machine(plan)
    shown: list[str] = []
    netns.apply(plan, shown.append, runner=machine)
    assert len(machine.ran) == len(plan)
    assert shown[0] == "blackhole route 10.244.0.0/16"
    machine.ran.clear()
    netns.apply(plan, runner=machine)
    unprobed = [s.apply for s in plan if not s.probe]
    assert machine.ran == unprobed  # only the steps that are safe to repeat


def test_undo_removes_everything_and_nothing_twice() -> None:
    lay = layout(0, 2)
    plan = netns.setup_plan(lay)
    machine = Machine(plan + netns.service_routes_off(lay))
    netns.apply(plan + netns.service_route_steps(lay, lay.nodes[0]), runner=machine)
    assert netns.undo(netns.teardown_plan(lay), runner=machine) == []
    assert [s.what for s in netns.teardown_plan(lay)
            if netns.is_done(s, machine)] == []
    machine.ran.clear()
    assert netns.undo(netns.teardown_plan(lay), runner=machine) == []
    assert machine.ran == []


def test_a_failing_step_stops_apply_with_the_commands_words() -> None:
    plan = netns.setup_plan(layout(0, 1))
    machine = Machine(plan, fail=["ip link add jota0 type bridge"])
    with pytest.raises(RuntimeError, match="bridge jota0: `ip link add jota0 type bridge` "
                                           "failed: RTNETLINK answers: busy"):
        netns.apply(plan, runner=machine)
    assert not any(a[:3] == ("ip", "netns", "add") for a in machine.ran)


def test_undo_carries_on_past_a_failure_and_reports_it() -> None:
    lay = layout(0, 1)
    plan = netns.setup_plan(lay)
    machine = Machine(plan, fail=["ip link del jota0"])
    netns.apply(plan, runner=machine)
    left = netns.undo(netns.teardown_plan(lay), runner=machine)
    assert left == ["bridge jota0: RTNETLINK answers: busy"]
    assert "blackhole route 10.244.0.0/16" not in machine.done


def test_a_node_vm_runs_its_engine_and_agent_inside_its_namespace(tmp_path: Any) -> None:
    lay = layout(0, 2)
    n = lay.node("jota-worker-2")
    vm = node_vm(tmp_path, lay, n)
    assert vm.docker_host == "unix:///run/jota0/w2/docker.sock"
    dockerd = dockerd_command(n, vm)
    assert dockerd[:3] == ["nsenter", "--net=/run/netns/jota0-worker-2", "dockerd"]
    assert dockerd[dockerd.index("--data-root") + 1] == f"{tmp_path}/nodes/jota-worker-2/docker"
    assert dockerd[dockerd.index("--exec-root") + 1] == "/run/jota0/w2"
    assert dockerd[dockerd.index("--bridge") + 1] == "none"
    assert json.loads(daemon_json(vm)) == {
        "deprecated-key-path": f"{tmp_path}/nodes/jota-worker-2/key.json"}
    state = State(cluster=0, nodes=[node_vm(tmp_path, lay, m) for m in lay.nodes])
    agent = agent_command(n, vm_config(state, vm))
    assert agent[:2] == ["nsenter", "--net=/run/netns/jota0-worker-2"]
    flags = dict(zip(agent[5::2], agent[6::2], strict=False))
    assert {k: flags[k] for k in ("--apiserver", "--node-name", "--node-ip", "--pod-cidr",
                                  "--docker-host", "--port")} == {
        "--apiserver": "172.31.0.1:6443", "--node-name": "jota-worker-2",
        "--node-ip": "172.31.0.12", "--pod-cidr": "10.244.2.0/24",
        "--docker-host": "unix:///run/jota0/w2/docker.sock", "--port": "10250"}
