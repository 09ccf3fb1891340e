# ruff: noqa: E501  (golden iptables-restore lines are as long as iptables writes them)
"""NetworkPolicy enforcement rules: golden `iptables-restore` text in kube-router's shape."""

from __future__ import annotations

import re
from typing import Any

import pytest

from node.netpol.apply import cleanup_text, jump_is_first, with_stale_deletions
from node.netpol.rules import pod_chain, policy_chain, policy_types, render

NODE = "n1"
NAMESPACES = [{"metadata": {"name": "ns1"}},
              {"metadata": {"name": "ns2", "labels": {"team": "ops"}}}]


def pod(ns: str, name: str, ip: str, node: str = NODE, labels: dict[str, str] | None = None,
        ports: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "labels": labels or {}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports or []}]},
            "status": {"podIP": ip, "phase": "Running", **status}}


def policy(name: str, ns: str = "ns1", selector: dict[str, Any] | None = None,
           **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"podSelector": selector if selector is not None else {}, **spec}}


DB = pod("ns1", "db", "10.244.1.5", labels={"app": "db"},
         ports=[{"name": "pg", "containerPort": 5432}])
API = pod("ns1", "api", "10.244.2.7", node="n2", labels={"role": "api"},
          ports=[{"name": "http", "containerPort": 8080}])
MON = pod("ns2", "mon", "10.244.1.9")
PODS = [DB, API, MON]

EMPTY = """\
*filter
:KUBE-ROUTER-FORWARD - [0:0]
-A KUBE-ROUTER-FORWARD -m comment --comment "rule to permit the traffic of established connections" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
COMMIT
"""


def test_no_policy_leaves_every_pod_open() -> None:
    assert render([], PODS, NAMESPACES, node_name=NODE) == EMPTY


def test_a_pod_no_policy_selects_stays_open() -> None:
    only_api = policy("api", selector={"matchLabels": {"role": "api"}})
    assert render([only_api], PODS, NAMESPACES, node_name=NODE) == EMPTY  # api is on n2


DENY_ALL = """\
*filter
:KUBE-ROUTER-FORWARD - [0:0]
:{db} - [0:0]
:{pol} - [0:0]
-A KUBE-ROUTER-FORWARD -m comment --comment "rule to permit the traffic of established connections" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A KUBE-ROUTER-FORWARD -m comment --comment "ns1/db ingress" -d 10.244.1.5 -j {db}
-A {db} -m comment --comment "ns1/db ingress: ns1/deny" -j {pol}
-A {db} -m comment --comment "ns1/db ingress: default deny" -m mark ! --mark 0x10000/0x10000 -j REJECT
-A {db} -j MARK --set-xmark 0x0/0x10000
COMMIT
"""


def test_a_selected_pod_with_no_allowing_rule_is_denied() -> None:
    """podSelector {} selects every pod of ns1 (db here; api is another node's); mon
    in ns2 stays open."""
    text = render([policy("deny", policyTypes=["Ingress"])], PODS, NAMESPACES,
                  node_name=NODE)
    assert text == DENY_ALL.format(db=pod_chain("ns1/db", "Ingress"),
                                   pol=policy_chain("ns1/deny", "Ingress"))


FULL = """\
*filter
:KUBE-ROUTER-FORWARD - [0:0]
:KUBE-POD-EG-QIGVU33X24RRSBG4 - [0:0]
:KUBE-POD-IN-2WKWOYIRQK2G3A6A - [0:0]
:KUBE-NWPLCY-GSP55YKKT73NW4Q7 - [0:0]
:KUBE-NWPLCY-TOZYBAVGPQ2BGU5F - [0:0]
:KUBE-SRC-JUZ4WU2OP5A5VQKW - [0:0]
-A KUBE-ROUTER-FORWARD -m comment --comment "rule to permit the traffic of established connections" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A KUBE-ROUTER-FORWARD -m comment --comment "ns1/db egress" -s 10.244.1.5 -j KUBE-POD-EG-QIGVU33X24RRSBG4
-A KUBE-ROUTER-FORWARD -m comment --comment "ns1/db ingress" -d 10.244.1.5 -j KUBE-POD-IN-2WKWOYIRQK2G3A6A
-A KUBE-POD-EG-QIGVU33X24RRSBG4 -m comment --comment "ns1/db egress: ns1/db" -j KUBE-NWPLCY-GSP55YKKT73NW4Q7
-A KUBE-POD-EG-QIGVU33X24RRSBG4 -m comment --comment "ns1/db egress: default deny" -m mark ! --mark 0x10000/0x10000 -j REJECT
-A KUBE-POD-EG-QIGVU33X24RRSBG4 -j MARK --set-xmark 0x0/0x10000
-A KUBE-POD-IN-2WKWOYIRQK2G3A6A -m comment --comment "ns1/db ingress: ns1/db" -j KUBE-NWPLCY-TOZYBAVGPQ2BGU5F
-A KUBE-POD-IN-2WKWOYIRQK2G3A6A -m comment --comment "ns1/db ingress: default deny" -m mark ! --mark 0x10000/0x10000 -j REJECT
-A KUBE-POD-IN-2WKWOYIRQK2G3A6A -j MARK --set-xmark 0x0/0x10000
-A KUBE-NWPLCY-GSP55YKKT73NW4Q7 -m comment --comment "ns1/db egress rule 0" -d 10.0.0.0/8 -j MARK --set-xmark 0x10000/0x10000
-A KUBE-NWPLCY-TOZYBAVGPQ2BGU5F -m comment --comment "ns1/db ingress rule 0" -s 10.244.2.7 -d 10.244.1.5 -p tcp -m tcp --dport 5432 -j MARK --set-xmark 0x10000/0x10000
-A KUBE-NWPLCY-TOZYBAVGPQ2BGU5F -m comment --comment "ns1/db ingress rule 0" -s 10.244.1.9 -d 10.244.1.5 -p tcp -m tcp --dport 5432 -j MARK --set-xmark 0x10000/0x10000
-A KUBE-NWPLCY-TOZYBAVGPQ2BGU5F -m comment --comment "ns1/db ingress rule 1" -s 172.31.0.0/24 -j KUBE-SRC-JUZ4WU2OP5A5VQKW
-A KUBE-SRC-JUZ4WU2OP5A5VQKW -m comment --comment "ns1/db ingress rule 1 except" -s 172.31.0.1/32 -j RETURN
-A KUBE-SRC-JUZ4WU2OP5A5VQKW -m comment --comment "ns1/db ingress rule 1" -s 172.31.0.0/24 -p tcp -m tcp --dport 5432:5433 -j MARK --set-xmark 0x10000/0x10000
COMMIT
"""

DB_POLICY = policy(
    "db", selector={"matchLabels": {"app": "db"}},
    ingress=[{"from": [{"podSelector": {"matchLabels": {"role": "api"}}},
                       {"namespaceSelector": {"matchLabels": {"team": "ops"}}}],
              "ports": [{"port": "pg"}]},
             {"from": [{"ipBlock": {"cidr": "172.31.0.0/24", "except": ["172.31.0.1/32"]}}],
              "ports": [{"port": 5432, "endPort": 5433, "protocol": "TCP"}]}],
    egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])


def test_pod_and_namespace_selectors_ip_blocks_named_ports_and_port_ranges() -> None:
    """Peers from both nodes by label and by namespace; the named port `pg` resolved on
    db itself; an ipBlock's exception returns before its allow; egress defaulted on
    by the presence of egress rules."""
    assert render([DB_POLICY], PODS, NAMESPACES, node_name=NODE) == FULL


@pytest.mark.parametrize(("spec", "types"), [
    ({}, ["Ingress"]),
    ({"egress": [{}]}, ["Ingress", "Egress"]),
    ({"egress": []}, ["Ingress"]),
    ({"policyTypes": ["Egress"]}, ["Egress"]),
    ({"policyTypes": ["Egress", "Ingress"]}, ["Ingress", "Egress"]),
])
def test_policy_types_default_as_kubernetes_does(spec: dict[str, Any],
                                                  types: list[str]) -> None:
    assert policy_types(policy("p", **spec)) == types


RULE = re.compile(r'^-A (\S+) (?:-m comment --comment (?:"[^"]*"|\S+) )?(.*?) ?-j ')


def lines_of(text: str, chain: str) -> list[str]:
    """The matches (between comment and target) of `chain`'s rules."""
    return [m.group(2) for line in text.splitlines()
            if (m := RULE.match(line)) and m.group(1) == chain]


def test_namespace_and_pod_selector_together_mean_both() -> None:
    both = policy("p", ingress=[{"from": [{
        "namespaceSelector": {"matchLabels": {"team": "ops"}},
        "podSelector": {"matchLabels": {"role": "api"}}}]}])
    ops_api = pod("ns2", "ops-api", "10.244.2.9", node="n2", labels={"role": "api"})
    text = render([both], [*PODS, ops_api], NAMESPACES, node_name=NODE)
    assert lines_of(text, policy_chain("ns1/p", "Ingress")) == ["-s 10.244.2.9"]


def test_allow_all_rule_and_a_namespace_by_its_name_label() -> None:
    everyone = policy("all", ingress=[{}])
    text = render([everyone], PODS, NAMESPACES, node_name=NODE)
    assert lines_of(text, policy_chain("ns1/all", "Ingress")) == [""]  # anyone, any port
    by_name = policy("ns2", ingress=[{"from": [{"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "ns2"}}}]}])
    text = render([by_name], PODS, NAMESPACES, node_name=NODE)
    assert lines_of(text, policy_chain("ns1/ns2", "Ingress")) == ["-s 10.244.1.9"]


def test_egress_named_ports_resolve_on_each_peer_pod() -> None:
    out = policy("out", selector={"matchLabels": {"app": "db"}}, policyTypes=["Egress"],
                 egress=[{"to": [{"podSelector": {}}], "ports": [{"port": "http"}]}])
    text = render([out], PODS, NAMESPACES, node_name=NODE)
    # Only api has a port named http; db itself has none.
    assert lines_of(text, policy_chain("ns1/out", "Egress")) == [
        "-d 10.244.2.7 -p tcp -m tcp --dport 8080"]


def test_host_network_finished_and_addressless_pods_are_neither_guarded_nor_peers() -> None:
    host = pod("ns1", "host", "172.31.0.11")
    host["spec"]["hostNetwork"] = True
    done = pod("ns1", "done", "10.244.1.6", phase="Succeeded")
    pending = pod("ns1", "pending", "")
    text = render([policy("deny", ingress=[{"from": [{"podSelector": {}}]}])],
                  [host, done, pending, DB], NAMESPACES, node_name=NODE)
    assert "10.244.1.6" not in text and "172.31.0.11" not in text
    assert lines_of(text, policy_chain("ns1/deny", "Ingress")) == ["-s 10.244.1.5"]


def test_stale_chains_of_ours_are_flushed_and_deleted_and_no_others() -> None:
    existing = {"KUBE-ROUTER-FORWARD", "KUBE-POD-IN-OLD", "KUBE-NWPLCY-OLD", "DOCKER",
                "KUBE-FORWARD"}
    assert with_stale_deletions(EMPTY, existing) == (
        "*filter\n:KUBE-NWPLCY-OLD - [0:0]\n:KUBE-POD-IN-OLD - [0:0]\n" + EMPTY[8:-7]
        + "-X KUBE-NWPLCY-OLD\n-X KUBE-POD-IN-OLD\nCOMMIT\n")
    assert cleanup_text(existing) == (
        "*filter\n:KUBE-NWPLCY-OLD - [0:0]\n:KUBE-POD-IN-OLD - [0:0]\n"
        ":KUBE-ROUTER-FORWARD - [0:0]\n-X KUBE-NWPLCY-OLD\n-X KUBE-POD-IN-OLD\n"
        "-X KUBE-ROUTER-FORWARD\nCOMMIT\n")
    assert cleanup_text({"DOCKER"}) == ""


def test_the_jump_must_be_the_first_forward_rule() -> None:
    ours = '-A FORWARD -m comment --comment "jota network policies" -j KUBE-ROUTER-FORWARD'
    kube = "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD"
    assert jump_is_first(f"-P FORWARD DROP\n{ours}\n{kube}\n")
    assert not jump_is_first(f"-P FORWARD DROP\n{kube}\n{ours}\n")
    assert not jump_is_first("-P FORWARD ACCEPT\n")
