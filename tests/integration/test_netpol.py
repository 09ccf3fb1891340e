"""The firewall's apply step for real: iptables-restore inside a private network namespace.

As tests/integration/test_proxy.py: every command runs through `nsenter --net=...`,
so the host's tables are never touched, and the namespace goes at the end.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from node.netpol.apply import PolicyIptables
from node.netpol.rules import FORWARD_CHAIN, render

NODE = "n1"


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"jota-netpoltest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def in_ns(netns: str, *argv: str) -> str:
    return subprocess.run(["nsenter", f"--net=/run/netns/{netns}", *argv], check=True,
                          capture_output=True, text=True).stdout


def pod(name: str, ip: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns1", "name": name, "labels": labels},
            "spec": {"nodeName": NODE}, "status": {"podIP": ip, "phase": "Running"}}


PODS = [pod("db", "10.244.1.5", {"app": "db"}), pod("api", "10.244.1.6", {"role": "api"})]
POLICY = {"metadata": {"namespace": "ns1", "name": "db"},
          "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{
              "from": [{"podSelector": {"matchLabels": {"role": "api"}}},
                       {"ipBlock": {"cidr": "172.31.0.0/24", "except": ["172.31.0.1/32"]}}],
              "ports": [{"port": 5432, "endPort": 5433}]}]}}


def test_sync_keeps_the_jump_first_drops_stale_chains_and_cleans_up(netns: str) -> None:
    fw = PolicyIptables(prefix=["nsenter", f"--net=/run/netns/{netns}"])
    in_ns(netns, "iptables", "-N", "KUBE-FORWARD")
    in_ns(netns, "iptables", "-A", "FORWARD", "-j", "KUBE-FORWARD")
    fw.sync(render([POLICY], PODS, [{"metadata": {"name": "ns1"}}], node_name=NODE))
    save = in_ns(netns, "iptables-save", "-t", "filter")
    assert sum(line.startswith((":KUBE-POD-IN-", ":KUBE-NWPLCY-", ":KUBE-SRC-"))
               for line in save.splitlines()) == 3
    assert "--dport 5432:5433" in save and "-s 172.31.0.1/32" in save
    forward = [r for r in in_ns(netns, "iptables", "-S", "FORWARD").splitlines()
               if r.startswith("-A")]
    assert forward[0].endswith(f"-j {FORWARD_CHAIN}") and len(forward) == 2

    # Something else inserts itself above us (kube-proxy's jump does so): the next sync
    # moves ours back to the top, and the jump stays single.
    in_ns(netns, "iptables", "-I", "FORWARD", "1", "-j", "KUBE-FORWARD")
    fw.sync(render([], PODS, [], node_name=NODE))
    forward = [r for r in in_ns(netns, "iptables", "-S", "FORWARD").splitlines()
               if r.startswith("-A")]
    assert forward[0].endswith(f"-j {FORWARD_CHAIN}")
    assert sum(r.endswith(f"-j {FORWARD_CHAIN}") for r in forward) == 1
    save = in_ns(netns, "iptables-save", "-t", "filter")
    assert "KUBE-NWPLCY-" not in save and "KUBE-POD-IN-" not in save  # stale: deleted

    fw.cleanup()
    save = in_ns(netns, "iptables-save", "-t", "filter")
    assert FORWARD_CHAIN not in save
    assert ":KUBE-FORWARD - [0:0]" in save  # not ours: left alone
    fw.cleanup()  # idempotent
