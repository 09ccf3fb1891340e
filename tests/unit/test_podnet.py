"""The node's pod network: the Docker bridge with the pod CIDR and its iptables rules."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from node.network import podnet


@pytest.mark.parametrize(("cidr", "gateway"), [
    ("10.244.1.0/24", "10.244.1.1"), ("10.244.0.0/16", "10.244.0.1"),
    ("192.168.7.128/25", "192.168.7.129"),
])
def test_gateway_is_the_first_host(cidr: str, gateway: str) -> None:
    assert podnet.gateway_of(cidr) == gateway


def test_network_spec_turns_off_dockers_masquerade() -> None:
    spec = podnet.network_spec("10.244.2.0/24")
    assert spec["name"] == "jota-pods" and spec["driver"] == "bridge"
    assert spec["options"]["com.docker.network.bridge.enable_ip_masquerade"] == "false"
    assert spec["options"]["com.docker.network.bridge.name"] == "jota-pods"
    assert spec["ipam"]["Config"] == [{"Subnet": "10.244.2.0/24", "Gateway": "10.244.2.1"}]


def test_rules_accept_pod_traffic_and_masquerade_only_what_leaves_the_cluster() -> None:
    added = [r.add() for r in podnet.rules("10.244.2.0/24")]
    tag = ["-m", "comment", "--comment", "jota pod network"]
    assert added == [
        ["iptables", "-w", "-t", "filter", "-I", "FORWARD", "1", "-s", "10.244.2.0/24", *tag,
         "-j", "ACCEPT"],
        ["iptables", "-w", "-t", "filter", "-I", "FORWARD", "1", "-d", "10.244.2.0/24", *tag,
         "-j", "ACCEPT"],
        ["iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", "10.244.2.0/24", "!", "-d",
         "10.244.0.0/16", *tag, "-j", "MASQUERADE"],
    ]


def test_ensure_rules_adds_only_missing_ones() -> None:
    present = {" ".join(podnet.rules("10.244.2.0/24")[0].check())}
    ran: list[list[str]] = []

    def runner(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        ran.append(list(argv))
        return subprocess.CompletedProcess(argv, 0 if " ".join(argv) in present or
                                           "-C" not in argv else 1, "", "")

    assert podnet.ensure_rules(podnet.rules("10.244.2.0/24"), runner) == 2
    assert [a for a in ran if "-C" not in a] == [r.add() for r in
                                                  podnet.rules("10.244.2.0/24")[1:]]


def test_ensure_rules_raises_with_iptables_words() -> None:
    def runner(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "iptables: No chain/target/match.")

    with pytest.raises(OSError, match="No chain/target/match"):
        podnet.ensure_rules(podnet.rules("10.244.2.0/24"), runner)


class FakeAPI:
    def __init__(self, networks: list[dict[str, Any]], used: bool = False) -> None:
        self.nets = networks
        self.used = used
        self.created: list[dict[str, Any]] = []
        self.removed: list[str] = []

    def networks(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        return [n for n in self.nets if names is None or n["Name"] in names]

    def inspect_network(self, net_id: str) -> dict[str, Any]:
        return {"Id": net_id, "Containers": {"c1": {}} if self.used else {}}

    def remove_network(self, net_id: str) -> None:
        self.removed.append(net_id)
        self.nets = [n for n in self.nets if n["Id"] != net_id]

    def create_network(self, **kw: Any) -> None:
        self.created.append(kw)


def net(name: str, subnet: str) -> dict[str, Any]:
    return {"Name": name, "Id": f"id-{name}", "IPAM": {"Config": [{"Subnet": subnet}]}}


def test_ensure_network_keeps_a_matching_one() -> None:
    api = FakeAPI([net("jota-pods", "10.244.1.0/24")])
    assert podnet.ensure_network(api, "10.244.1.0/24") == "jota-pods"
    assert api.created == [] and api.removed == []


def test_ensure_network_creates_it() -> None:
    api = FakeAPI([net("host", ""), net("none", "")])
    assert podnet.ensure_network(api, "10.244.1.0/24") == "jota-pods"
    assert api.created == [podnet.network_spec("10.244.1.0/24")]


def test_ensure_network_replaces_an_unused_one_with_another_subnet() -> None:
    api = FakeAPI([net("jota-pods", "10.244.9.0/24")])
    podnet.ensure_network(api, "10.244.1.0/24")
    assert api.removed == ["id-jota-pods"]
    assert api.created == [podnet.network_spec("10.244.1.0/24")]


def test_ensure_network_refuses_to_pull_it_from_under_running_pods() -> None:
    api = FakeAPI([net("jota-pods", "10.244.9.0/24")], used=True)
    with pytest.raises(OSError, match=re.escape(
            "has subnet ['10.244.9.0/24'], not 10.244.1.0/24, and containers still use it")):
        podnet.ensure_network(api, "10.244.1.0/24")


def test_ensure_network_names_an_overlapping_docker0() -> None:
    api = FakeAPI([net("bridge", "10.244.1.0/24")])
    with pytest.raises(OSError, match=r"pod CIDR 10.244.1.0/24 overlaps Docker network\(s\) "
                                      r"bridge \(10.244.1.0/24\)"):
        podnet.ensure_network(api, "10.244.1.0/24")
