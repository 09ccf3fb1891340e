# ruff: noqa: E501  (golden iptables-restore lines are as long as kube-proxy writes them)
"""jota-proxy's rules: golden `iptables-restore` text in kube-proxy's iptables-mode shape."""

from __future__ import annotations

from typing import Any

import pytest

from node.proxy.apply import (
    chains_in_save,
    cleanup_text,
    parse_restore,
    partial_restore,
    with_stale_deletions,
)
from node.proxy.rules import endpoint_chain, probability, render, service_chain

NODE = "node-a"
CIDR = "10.244.0.0/16"
P80 = [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 8080}]
S80 = [{"name": "p80", "port": 8080, "protocol": "TCP"}]


def svc(name: str, ip: str, ports: list[dict[str, Any]], type_: str = "ClusterIP",
        **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "ns1", "name": name},
            "spec": {"type": type_, "clusterIP": ip, "ports": ports, **spec}}


def eps(name: str, endpoints: list[dict[str, Any]],
        ports: list[dict[str, Any]] = S80) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": "ns1", "name": f"{name}-abcde",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}


def lb(name: str, ip: str, node_port: int, ingress: str, **spec: Any) -> dict[str, Any]:
    s = svc(name, ip, [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": node_port}],
            "LoadBalancer", **spec)
    s["status"] = {"loadBalancer": {"ingress": [{"ip": ingress}]}}
    return s


BASE = render([], [], node_name=NODE, cluster_cidr=CIDR).splitlines()


def service_lines(services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> str:
    """What a set of services adds to the empty rule set, in output order."""
    out = render(services, slices, node_name=NODE, cluster_cidr=CIDR).splitlines()
    return "\n".join(line for line in out if line not in BASE) + "\n"


THREE_ENDPOINTS = """\
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-PPBSTXGMF4OXFMWK - [0:0]
:KUBE-SEP-VVESATJN7KGLRFIC - [0:0]
:KUBE-SEP-JJBS4MDKKJWHC3WD - [0:0]
:KUBE-SEP-BQAJC7RMGD6YI5Q3 - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns1/web:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-PPBSTXGMF4OXFMWK
-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 -> 10.244.1.2:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-VVESATJN7KGLRFIC
-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 -> 10.244.1.3:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-JJBS4MDKKJWHC3WD
-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 -> 10.244.2.4:8080" -j KUBE-SEP-BQAJC7RMGD6YI5Q3
-A KUBE-SEP-VVESATJN7KGLRFIC -m comment --comment ns1/web:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-VVESATJN7KGLRFIC -m comment --comment ns1/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-JJBS4MDKKJWHC3WD -m comment --comment ns1/web:p80 -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-JJBS4MDKKJWHC3WD -m comment --comment ns1/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.3:8080
-A KUBE-SEP-BQAJC7RMGD6YI5Q3 -m comment --comment ns1/web:p80 -s 10.244.2.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-BQAJC7RMGD6YI5Q3 -m comment --comment ns1/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.2.4:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
"""


def test_cluster_ip_with_three_endpoints_whole_restore_input() -> None:
    # Endpoints arrive out of order: rules are sorted by "ip:port", as kube-proxy's.
    slices = [eps("web", [{"addresses": [a], "conditions": {"ready": True}}
                          for a in ("10.244.1.3", "10.244.1.2", "10.244.2.4")])]
    assert render([svc("web", "172.30.0.41", P80)], slices, node_name=NODE,
                  cluster_cidr=CIDR) == THREE_ENDPOINTS


CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], str]] = [
    ("no endpoints: REJECT in filter KUBE-SERVICES",
     [svc("empty", "172.30.0.47", P80)], [eps("empty", [])], """\
-A KUBE-SERVICES -m comment --comment "ns1/empty:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.47 --dport 80 -j REJECT
"""),
    ("NodePort",
     [svc("np", "172.30.0.46", [{"name": "p80", "port": 80, "protocol": "TCP",
                                 "nodePort": 30080}], "NodePort")],
     [eps("np", [{"addresses": ["10.244.1.2"]}])], """\
:KUBE-SVC-KP4WNIAONBKYQZEC - [0:0]
:KUBE-EXT-KP4WNIAONBKYQZEC - [0:0]
:KUBE-SEP-NAZOYTOC3L3TZ5GM - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/np:p80 cluster IP" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j KUBE-SVC-KP4WNIAONBKYQZEC
-A KUBE-NODEPORTS -m comment --comment ns1/np:p80 -m tcp -p tcp --dport 30080 -j KUBE-EXT-KP4WNIAONBKYQZEC
-A KUBE-SVC-KP4WNIAONBKYQZEC -m comment --comment "ns1/np:p80 cluster IP" -m tcp -p tcp -d 172.30.0.46 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-KP4WNIAONBKYQZEC -m comment --comment "masquerade traffic for ns1/np:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-KP4WNIAONBKYQZEC -j KUBE-SVC-KP4WNIAONBKYQZEC
-A KUBE-SVC-KP4WNIAONBKYQZEC -m comment --comment "ns1/np:p80 -> 10.244.1.2:8080" -j KUBE-SEP-NAZOYTOC3L3TZ5GM
-A KUBE-SEP-NAZOYTOC3L3TZ5GM -m comment --comment ns1/np:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-NAZOYTOC3L3TZ5GM -m comment --comment ns1/np:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
"""),
    ("LoadBalancer without endpoints: REJECT cluster IP, LB IP and node port",
     [lb("lb2", "172.30.0.45", 30045, "192.0.2.11")], [], """\
-A KUBE-SERVICES -m comment --comment "ns1/lb2:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/lb2:p80 has no endpoints" -m tcp -p tcp -d 192.0.2.11 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/lb2:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30045 -j REJECT
"""),
    ("LoadBalancer, externalTrafficPolicy Local: KUBE-SVL holds this node's endpoint",
     [lb("lb", "172.30.0.44", 30044, "192.0.2.10", externalTrafficPolicy="Local",
         healthCheckNodePort=30999)],
     [eps("lb", [{"addresses": ["10.244.1.5"], "nodeName": "node-a"},
                 {"addresses": ["10.244.2.5"], "nodeName": "node-b"}])], """\
-A KUBE-NODEPORTS -m comment --comment "ns1/lb:p80 health check node port" -m tcp -p tcp --dport 30999 -j ACCEPT
:KUBE-SVC-NLSY6DROL7JRYYAN - [0:0]
:KUBE-SVL-NLSY6DROL7JRYYAN - [0:0]
:KUBE-EXT-NLSY6DROL7JRYYAN - [0:0]
:KUBE-SEP-5J4CC7QJGMUBVQLB - [0:0]
:KUBE-SEP-6VYSPPXE54NP6OLL - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/lb:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-NLSY6DROL7JRYYAN
-A KUBE-SERVICES -m comment --comment "ns1/lb:p80 loadbalancer IP" -m tcp -p tcp -d 192.0.2.10 --dport 80 -j KUBE-EXT-NLSY6DROL7JRYYAN
-A KUBE-NODEPORTS -m comment --comment ns1/lb:p80 -m tcp -p tcp --dport 30044 -j KUBE-EXT-NLSY6DROL7JRYYAN
-A KUBE-SVC-NLSY6DROL7JRYYAN -m comment --comment "ns1/lb:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-NLSY6DROL7JRYYAN -m comment --comment "pod traffic for ns1/lb:p80 external destinations" -s 10.244.0.0/16 -j KUBE-SVC-NLSY6DROL7JRYYAN
-A KUBE-EXT-NLSY6DROL7JRYYAN -m comment --comment "masquerade LOCAL traffic for ns1/lb:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-NLSY6DROL7JRYYAN -m comment --comment "route LOCAL traffic for ns1/lb:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-NLSY6DROL7JRYYAN
-A KUBE-EXT-NLSY6DROL7JRYYAN -j KUBE-SVL-NLSY6DROL7JRYYAN
-A KUBE-SVC-NLSY6DROL7JRYYAN -m comment --comment "ns1/lb:p80 -> 10.244.1.5:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-5J4CC7QJGMUBVQLB
-A KUBE-SVC-NLSY6DROL7JRYYAN -m comment --comment "ns1/lb:p80 -> 10.244.2.5:8080" -j KUBE-SEP-6VYSPPXE54NP6OLL
-A KUBE-SVL-NLSY6DROL7JRYYAN -m comment --comment "ns1/lb:p80 -> 10.244.1.5:8080" -j KUBE-SEP-5J4CC7QJGMUBVQLB
-A KUBE-SEP-5J4CC7QJGMUBVQLB -m comment --comment ns1/lb:p80 -s 10.244.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-5J4CC7QJGMUBVQLB -m comment --comment ns1/lb:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-6VYSPPXE54NP6OLL -m comment --comment ns1/lb:p80 -s 10.244.2.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-6VYSPPXE54NP6OLL -m comment --comment ns1/lb:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.2.5:8080
"""),
    ("LoadBalancer Local with no endpoint on this node: external traffic DROPped",
     [lb("lb", "172.30.0.44", 30044, "192.0.2.10", externalTrafficPolicy="Local")],
     [eps("lb", [{"addresses": ["10.244.2.5"], "nodeName": "node-b"}])], """\
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/lb:p80 has no local endpoints" -m tcp -p tcp -d 192.0.2.10 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/lb:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30044 -j DROP
:KUBE-SVC-NLSY6DROL7JRYYAN - [0:0]
:KUBE-EXT-NLSY6DROL7JRYYAN - [0:0]
:KUBE-SEP-6VYSPPXE54NP6OLL - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/lb:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-NLSY6DROL7JRYYAN
-A KUBE-SERVICES -m comment --comment "ns1/lb:p80 loadbalancer IP" -m tcp -p tcp -d 192.0.2.10 --dport 80 -j KUBE-EXT-NLSY6DROL7JRYYAN
-A KUBE-NODEPORTS -m comment --comment ns1/lb:p80 -m tcp -p tcp --dport 30044 -j KUBE-EXT-NLSY6DROL7JRYYAN
-A KUBE-SVC-NLSY6DROL7JRYYAN -m comment --comment "ns1/lb:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-NLSY6DROL7JRYYAN -m comment --comment "pod traffic for ns1/lb:p80 external destinations" -s 10.244.0.0/16 -j KUBE-SVC-NLSY6DROL7JRYYAN
-A KUBE-EXT-NLSY6DROL7JRYYAN -m comment --comment "masquerade LOCAL traffic for ns1/lb:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-NLSY6DROL7JRYYAN -m comment --comment "route LOCAL traffic for ns1/lb:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-NLSY6DROL7JRYYAN
-A KUBE-SVC-NLSY6DROL7JRYYAN -m comment --comment "ns1/lb:p80 -> 10.244.2.5:8080" -j KUBE-SEP-6VYSPPXE54NP6OLL
-A KUBE-SEP-6VYSPPXE54NP6OLL -m comment --comment ns1/lb:p80 -s 10.244.2.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-6VYSPPXE54NP6OLL -m comment --comment ns1/lb:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.2.5:8080
"""),
    ("sessionAffinity ClientIP: -m recent before the random choice",
     [svc("sticky", "172.30.0.42", P80, sessionAffinity="ClientIP",
          sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})],
     [eps("sticky", [{"addresses": ["10.244.1.2"]}, {"addresses": ["10.244.1.3"]}])], """\
:KUBE-SVC-F7REZHQFGEE5SPJR - [0:0]
:KUBE-SEP-T7DSECR4GK3STBZI - [0:0]
:KUBE-SEP-OPWITKDY3XTRZAQ2 - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/sticky:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-F7REZHQFGEE5SPJR
-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 -> 10.244.1.2:8080" -m recent --name KUBE-SEP-T7DSECR4GK3STBZI --rcheck --seconds 60 --reap -j KUBE-SEP-T7DSECR4GK3STBZI
-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 -> 10.244.1.3:8080" -m recent --name KUBE-SEP-OPWITKDY3XTRZAQ2 --rcheck --seconds 60 --reap -j KUBE-SEP-OPWITKDY3XTRZAQ2
-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 -> 10.244.1.2:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-T7DSECR4GK3STBZI
-A KUBE-SVC-F7REZHQFGEE5SPJR -m comment --comment "ns1/sticky:p80 -> 10.244.1.3:8080" -j KUBE-SEP-OPWITKDY3XTRZAQ2
-A KUBE-SEP-T7DSECR4GK3STBZI -m comment --comment ns1/sticky:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-T7DSECR4GK3STBZI -m comment --comment ns1/sticky:p80 -m recent --name KUBE-SEP-T7DSECR4GK3STBZI --set -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-OPWITKDY3XTRZAQ2 -m comment --comment ns1/sticky:p80 -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OPWITKDY3XTRZAQ2 -m comment --comment ns1/sticky:p80 -m recent --name KUBE-SEP-OPWITKDY3XTRZAQ2 --set -m tcp -p tcp -j DNAT --to-destination 10.244.1.3:8080
"""),
    ("not-ready and terminating endpoints are left out while one is ready",
     [svc("web", "172.30.0.41", P80)],
     [eps("web", [{"addresses": ["10.244.1.2"], "conditions": {"ready": True}},
                  {"addresses": ["10.244.1.3"],
                   "conditions": {"ready": False, "serving": True, "terminating": True}},
                  {"addresses": ["10.244.1.4"], "conditions": {"ready": False}}])], """\
:KUBE-SVC-PPBSTXGMF4OXFMWK - [0:0]
:KUBE-SEP-VVESATJN7KGLRFIC - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/web:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-PPBSTXGMF4OXFMWK
-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 -> 10.244.1.2:8080" -j KUBE-SEP-VVESATJN7KGLRFIC
-A KUBE-SEP-VVESATJN7KGLRFIC -m comment --comment ns1/web:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-VVESATJN7KGLRFIC -m comment --comment ns1/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
"""),
    ("only not-ready endpoints: REJECT",
     [svc("web", "172.30.0.41", P80)],
     [eps("web", [{"addresses": ["10.244.1.4"], "conditions": {"ready": False}}])], """\
-A KUBE-SERVICES -m comment --comment "ns1/web:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT
"""),
    ("named ports: each matched to the slice port of the same name (targetPort by name)",
     [svc("multi", "172.30.0.43",
          [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"},
           {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090}])],
     [eps("multi", [{"addresses": ["10.244.1.2"]}],
          [{"name": "metrics", "port": 9090, "protocol": "TCP"},
           {"name": "http", "port": 8080, "protocol": "TCP"}])], """\
:KUBE-SVC-DOFM5GJ3E56LRAGY - [0:0]
:KUBE-SEP-6S6ZNJM3P5CUNXNG - [0:0]
:KUBE-SVC-XIFFCSCYIOPYNM43 - [0:0]
:KUBE-SEP-HCDZMSBTJLQN6R44 - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/multi:http cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-DOFM5GJ3E56LRAGY
-A KUBE-SVC-DOFM5GJ3E56LRAGY -m comment --comment "ns1/multi:http cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-DOFM5GJ3E56LRAGY -m comment --comment "ns1/multi:http -> 10.244.1.2:8080" -j KUBE-SEP-6S6ZNJM3P5CUNXNG
-A KUBE-SEP-6S6ZNJM3P5CUNXNG -m comment --comment ns1/multi:http -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-6S6ZNJM3P5CUNXNG -m comment --comment ns1/multi:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SERVICES -m comment --comment "ns1/multi:metrics cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 9090 -j KUBE-SVC-XIFFCSCYIOPYNM43
-A KUBE-SVC-XIFFCSCYIOPYNM43 -m comment --comment "ns1/multi:metrics cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 9090 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-XIFFCSCYIOPYNM43 -m comment --comment "ns1/multi:metrics -> 10.244.1.2:9090" -j KUBE-SEP-HCDZMSBTJLQN6R44
-A KUBE-SEP-HCDZMSBTJLQN6R44 -m comment --comment ns1/multi:metrics -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-HCDZMSBTJLQN6R44 -m comment --comment ns1/multi:metrics -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:9090
"""),
    ("an unnamed UDP port is named ns/svc, without a colon",
     [svc("dns", "172.30.0.10", [{"port": 53, "protocol": "UDP"}])],
     [eps("dns", [{"addresses": ["10.244.1.2"]}], [{"port": 53, "protocol": "UDP"}])], """\
:KUBE-SVC-IIU7RI4YYSQY3FXW - [0:0]
:KUBE-SEP-BAHNQWHQO3VU2ABQ - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/dns cluster IP" -m udp -p udp -d 172.30.0.10 --dport 53 -j KUBE-SVC-IIU7RI4YYSQY3FXW
-A KUBE-SVC-IIU7RI4YYSQY3FXW -m comment --comment "ns1/dns cluster IP" -m udp -p udp -d 172.30.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-IIU7RI4YYSQY3FXW -m comment --comment "ns1/dns -> 10.244.1.2:53" -j KUBE-SEP-BAHNQWHQO3VU2ABQ
-A KUBE-SEP-BAHNQWHQO3VU2ABQ -m comment --comment ns1/dns -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-BAHNQWHQO3VU2ABQ -m comment --comment ns1/dns -m udp -p udp -j DNAT --to-destination 10.244.1.2:53
"""),
    ("headless and ExternalName services get no rules",
     [svc("headless", "None", P80),
      {"metadata": {"namespace": "ns1", "name": "ext"},
       "spec": {"type": "ExternalName", "externalName": "example.com"}}],
     [eps("headless", [{"addresses": ["10.244.1.2"]}])], "\n"),
]


@pytest.mark.parametrize(("services", "slices", "want"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_service_rules(services: list[dict[str, Any]], slices: list[dict[str, Any]],
                       want: str) -> None:
    assert service_lines(services, slices) == want


def test_chain_names_are_kube_proxys() -> None:
    # The value kube-proxy's own golden tests give for ns1/svc1:p80 over TCP.
    assert service_chain("KUBE-SVC-", "ns1/svc1:p80", "tcp") == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80").startswith("KUBE-SEP-")
    assert len(endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80")) == len("KUBE-SEP-") + 16


@pytest.mark.parametrize(("n", "want"), [(2, "0.5000000000"), (3, "0.3333333333"),
                                         (10, "0.1000000000"), (7, "0.1428571429")])
def test_probability_format(n: int, want: str) -> None:
    assert probability(n) == want


def test_masquerade_all_and_no_cluster_cidr() -> None:
    slices = [eps("web", [{"addresses": ["10.244.1.2"]}])]
    text = render([svc("web", "172.30.0.41", P80)], slices, node_name=NODE,
                  masquerade_all=True)
    assert ('-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 cluster IP" '
            "-m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ") in text.splitlines()
    text = render([svc("web", "172.30.0.41", P80)], slices, node_name=NODE)
    assert "! -s" not in text and "cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j " \
        "KUBE-MARK-MASQ" not in text


def test_load_balancer_source_ranges_go_through_a_firewall_chain() -> None:
    s = lb("fw", "172.30.0.48", 30048, "192.0.2.12", loadBalancerSourceRanges=["203.0.113.0/24"])
    lines = render([s], [eps("fw", [{"addresses": ["10.244.1.2"]}])], node_name=NODE,
                   cluster_cidr=CIDR).splitlines()
    fw = service_chain("KUBE-FW-", "ns1/fw:p80", "tcp")
    ext = service_chain("KUBE-EXT-", "ns1/fw:p80", "tcp")
    assert f":{fw} - [0:0]" in lines
    assert (f'-A KUBE-SERVICES -m comment --comment "ns1/fw:p80 loadbalancer IP" -m tcp -p tcp '
            f"-d 192.0.2.12 --dport 80 -j {fw}") in lines
    assert (f'-A {fw} -m comment --comment "ns1/fw:p80 loadbalancer IP" -s 203.0.113.0/24 '
            f"-j {ext}") in lines
    assert (f'-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/fw:p80 traffic not accepted by '
            f'{fw}" -m tcp -p tcp -d 192.0.2.12 --dport 80 -j DROP') in lines


def test_terminating_serving_endpoints_are_the_fallback() -> None:
    slices = [eps("web", [{"addresses": ["10.244.1.3"],
                           "conditions": {"ready": False, "serving": True,
                                          "terminating": True}}])]
    assert "--to-destination 10.244.1.3:8080" in service_lines(
        [svc("web", "172.30.0.41", P80)], slices)


# -- apply.py's pure parts --

SAVE = """\
# Generated by iptables-save v1.8.9
*filter
:INPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-OLD0000000000000 - [0:0]
:KUBE-SEP-OLD0000000000000 - [0:0]
:KUBE-SVC-PPBSTXGMF4OXFMWK - [0:0]
-A KUBE-SERVICES -j KUBE-SVC-OLD0000000000000
COMMIT
"""


def test_chains_in_save() -> None:
    assert chains_in_save(SAVE) == {
        "filter": {"INPUT", "KUBE-SERVICES"},
        "nat": {"PREROUTING", "DOCKER", "KUBE-SERVICES", "KUBE-SVC-OLD0000000000000",
                "KUBE-SEP-OLD0000000000000", "KUBE-SVC-PPBSTXGMF4OXFMWK"}}


def test_stale_chains_are_flushed_and_deleted_in_the_same_restore() -> None:
    text = with_stale_deletions(THREE_ENDPOINTS, chains_in_save(SAVE))
    lines = text.splitlines()
    nat = lines.index("*nat")
    assert lines[nat + 1:nat + 3] == [":KUBE-SEP-OLD0000000000000 - [0:0]",
                                      ":KUBE-SVC-OLD0000000000000 - [0:0]"]
    assert lines[-3:] == ["-X KUBE-SEP-OLD0000000000000", "-X KUBE-SVC-OLD0000000000000",
                          "COMMIT"]
    assert "DOCKER" not in text  # never touches chains that are not ours
    assert with_stale_deletions(THREE_ENDPOINTS, {}) == THREE_ENDPOINTS


def test_cleanup_removes_only_our_chains() -> None:
    assert cleanup_text(chains_in_save(SAVE)) == """\
*filter
:KUBE-SERVICES - [0:0]
-X KUBE-SERVICES
COMMIT
*nat
:KUBE-SEP-OLD0000000000000 - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-OLD0000000000000 - [0:0]
:KUBE-SVC-PPBSTXGMF4OXFMWK - [0:0]
-X KUBE-SEP-OLD0000000000000
-X KUBE-SERVICES
-X KUBE-SVC-OLD0000000000000
-X KUBE-SVC-PPBSTXGMF4OXFMWK
COMMIT
"""
    assert cleanup_text({"nat": {"DOCKER"}}) == ""


def test_partial_restore_writes_only_changed_chains() -> None:
    one = [svc("web", "172.30.0.41", P80)]
    before = parse_restore(render(one, [eps("web", [{"addresses": ["10.244.1.2"]},
                                                    {"addresses": ["10.244.1.3"]}])],
                                  node_name=NODE, cluster_cidr=CIDR))
    after = parse_restore(render(one, [eps("web", [{"addresses": ["10.244.1.2"]}])],
                                 node_name=NODE, cluster_cidr=CIDR))
    assert partial_restore(before, before) == ""
    gone = endpoint_chain("ns1/web:p80", "tcp", "10.244.1.3:8080")
    assert partial_restore(before, after) == f"""\
*nat
:KUBE-SVC-PPBSTXGMF4OXFMWK - [0:0]
:{gone} - [0:0]
-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-PPBSTXGMF4OXFMWK -m comment --comment "ns1/web:p80 -> 10.244.1.2:8080" -j KUBE-SEP-VVESATJN7KGLRFIC
-X {gone}
COMMIT
"""
    # The service loses its last endpoint: REJECT appears in filter, the nat chains go.
    empty = parse_restore(render(one, [], node_name=NODE, cluster_cidr=CIDR))
    text = partial_restore(after, empty)
    assert text.startswith("*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m comment "
                           '--comment "ns1/web:p80 has no endpoints"')
    assert "-X KUBE-SVC-PPBSTXGMF4OXFMWK" in text and "-X KUBE-SEP-VVESATJN7KGLRFIC" in text
    assert ":KUBE-POSTROUTING" not in text  # unchanged chains are not rewritten


@pytest.mark.parametrize(("external", "internal"), [
    ("Local", "Local"), ("Local", "Cluster"), ("Cluster", "Local"), ("Cluster", "Cluster")])
def test_every_jump_goes_to_a_declared_chain(external: str, internal: str) -> None:
    """Both traffic policies Local on a NodePort: pods and the node reaching the node
    port are still treated as "Cluster" (KUBE-EXT -> KUBE-SVC), so that chain must exist
    (iptables-restore refused the whole sync when it did not)."""
    service = svc("web", "172.30.0.41", [{**P80[0], "nodePort": 30080}], "NodePort",
                  externalTrafficPolicy=external, internalTrafficPolicy=internal)
    slices = [eps("web", [{"addresses": ["10.244.1.2"], "nodeName": NODE},
                          {"addresses": ["10.244.2.2"], "nodeName": "node-b"}])]
    text = render([service], slices, node_name=NODE, cluster_cidr=CIDR)
    declared = {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}
    targets = {line.split(" -j ")[1].split()[0] for line in text.splitlines()
               if " -j KUBE-" in line}
    assert targets <= declared, targets - declared
    svl = service_chain("KUBE-SVL-", "ns1/web:p80", "tcp")
    assert (f":{svl} " in text) == ("Local" in (external, internal))
