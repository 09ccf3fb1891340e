"""What NetworkPolicies want in this node's iptables: policies, pods, namespaces in,
`iptables-restore` text (filter table) out.

A pure function, tested as golden text and applied in one `iptables-restore` by
`apply.py`. The shape is kube-router's iptables firewall (pkg/controllers/netpol),
without ipsets: peers are listed one rule per address.

    filter FORWARD ─▶ KUBE-ROUTER-FORWARD
        established/related ─▶ RETURN (allowed connections stay allowed)
        -s <local pod selected for Egress>  ─▶ KUBE-POD-EG-<hash> ─┐
        -d <local pod selected for Ingress> ─▶ KUBE-POD-IN-<hash> ─┤
                                                                    ▼
        KUBE-POD-*: jump to each selecting policy's KUBE-NWPLCY-<hash>, which marks
        what one of its rules allows (0x10000); unmarked ─▶ REJECT (the default deny
        of a selected pod); the mark is cleared for the next direction.

Only pods on this node are guarded here (egress where a packet leaves its pod,
ingress where it arrives), and only pods some policy selects: the others stay open.
Traffic between a pod and its own node (kubelet probes: OUTPUT/INPUT) is never
filtered, as Kubernetes requires. Named ports resolve per pod: on the guarded pod
for ingress, on each peer pod for egress.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jota.api.errors import BadRequest
from jota.api.selectors import LabelSelector, from_label_selector_object

Obj = dict[str, Any]

MARK = "0x10000"
FORWARD_CHAIN = "KUBE-ROUTER-FORWARD"
CHAIN_PREFIXES = ("KUBE-POD-IN-", "KUBE-POD-EG-", "KUBE-NWPLCY-", "KUBE-SRC-", "KUBE-DST-")
JUMP_COMMENT = "jota network policies"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
INGRESS, EGRESS = "Ingress", "Egress"


def jump_args() -> list[str]:
    """The FORWARD rule that sends every forwarded packet through our chain (argv form)."""
    return ["-m", "comment", "--comment", JUMP_COMMENT, "-j", FORWARD_CHAIN]


def is_ours(chain: str) -> bool:
    return chain == FORWARD_CHAIN or chain.startswith(CHAIN_PREFIXES)


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def pod_chain(pod_key: str, direction: str) -> str:
    """KUBE-POD-IN-/KUBE-POD-EG- + 16 base32 chars of "pod ns/name Ingress|Egress"."""
    prefix = "KUBE-POD-IN-" if direction == INGRESS else "KUBE-POD-EG-"
    return prefix + _hash(f"pod {pod_key} {direction}")


def policy_chain(policy_key: str, direction: str) -> str:
    return "KUBE-NWPLCY-" + _hash(f"policy {policy_key} {direction}")


def _quote(text: str) -> str:
    return f'"{text}"' if " " in text else text


def _comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", _quote(text)]


# -- the model --


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str
    node: str
    labels: dict[str, str]
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, containerPort)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str, protocol: str) -> int | None:
        return next((p for n, proto, p in self.ports if n == name and proto == protocol), None)


def _ipv4(value: Any) -> bool:
    try:
        return isinstance(ipaddress.ip_address(str(value)), ipaddress.IPv4Address)
    except ValueError:
        return False


def _cidr(value: Any) -> str | None:
    try:
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return None
    return str(net) if isinstance(net, ipaddress.IPv4Network) else None


def pods_of(objs: Iterable[Obj]) -> list[Pod]:
    """Pods that have an address of their own: not host-network, not finished."""
    out = []
    for o in objs:
        meta, spec, status = o.get("metadata", {}), o.get("spec", {}), o.get("status") or {}
        ip = status.get("podIP")
        if (spec.get("hostNetwork") or not _ipv4(ip)
                or status.get("phase") in ("Succeeded", "Failed")):
            continue
        ports = tuple((str(p["name"]), str(p.get("protocol") or "TCP"), int(p["containerPort"]))
                      for c in spec.get("containers") or [] for p in c.get("ports") or []
                      if p.get("name") and p.get("containerPort"))
        out.append(Pod(namespace=meta.get("namespace", "default"), name=meta.get("name", ""),
                       ip=str(ip), node=spec.get("nodeName") or "",
                       labels=dict(meta.get("labels") or {}), ports=ports))
    return sorted(out, key=lambda p: (p.namespace, p.name))


def namespace_labels(objs: Iterable[Obj]) -> dict[str, dict[str, str]]:
    """name -> labels, with the `kubernetes.io/metadata.name` label every namespace has."""
    out = {}
    for o in objs:
        name = o.get("metadata", {}).get("name", "")
        out[name] = {**(o.get("metadata", {}).get("labels") or {}), NAMESPACE_NAME_LABEL: name}
    return out


def _selector(sel: Any) -> LabelSelector:
    """An unreadable selector selects nothing (validation keeps them out anyway)."""
    try:
        return from_label_selector_object(sel)
    except BadRequest:
        return LabelSelector.none()


def policy_types(policy: Obj) -> list[str]:
    """spec.policyTypes, or its default: Ingress, plus Egress when there are egress rules."""
    spec = policy.get("spec") or {}
    given = spec.get("policyTypes")
    if given:
        return [t for t in (INGRESS, EGRESS) if t in given]
    return [INGRESS, *([EGRESS] if spec.get("egress") else [])]


def selects(policy: Obj, pod: Pod) -> bool:
    meta = policy.get("metadata", {})
    return (meta.get("namespace", "default") == pod.namespace
            and _selector((policy.get("spec") or {}).get("podSelector") or {}).matches(
                pod.labels))


# -- rendering --


@dataclass
class _Out:
    chains: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)  # KUBE-ROUTER-FORWARD's, listed first
    rules: list[str] = field(default_factory=list)

    def chain(self, name: str) -> None:
        self.chains.append(f":{name} - [0:0]")

    def add(self, *args: str) -> None:
        (self.forward if args[1] == FORWARD_CHAIN else self.rules).append(" ".join(args))


@dataclass(frozen=True)
class _Ports:
    """One `ports` entry as match arguments; `named` when it needs a pod to resolve."""

    protocol: str
    port: int | None = None
    end_port: int | None = None
    named: str = ""

    def args(self, number: int | None = None) -> list[str]:
        proto = self.protocol.lower()
        port = number if number is not None else self.port
        if port is None:
            return ["-p", proto]
        dport = f"{port}:{self.end_port}" if self.end_port else str(port)
        return ["-p", proto, "-m", proto, "--dport", dport]


def _ports(rule: Obj) -> list[_Ports] | None:
    """None when the rule allows every port."""
    entries = rule.get("ports") or []
    if not entries:
        return None
    out = []
    for p in entries:
        proto = str(p.get("protocol") or "TCP")
        port = p.get("port")
        if isinstance(port, str) and not port.isdigit():
            out.append(_Ports(proto, named=port))
        else:
            end = p.get("endPort")
            out.append(_Ports(proto, int(port) if port is not None else None,
                              int(end) if end is not None and port is not None else None))
    return out


def render(policies: Iterable[Obj], pods: Iterable[Obj], namespaces: Iterable[Obj], *,
           node_name: str) -> str:
    """The whole `iptables-restore` input (filter table) for this node's pods."""
    all_pods = pods_of(pods)
    ns_labels = namespace_labels(namespaces)
    ordered = sorted(policies, key=lambda p: (p.get("metadata", {}).get("namespace", ""),
                                              p.get("metadata", {}).get("name", "")))
    local = [p for p in all_pods if p.node == node_name]
    out = _Out()
    out.chain(FORWARD_CHAIN)
    out.add("-A", FORWARD_CHAIN,
            *_comment("rule to permit the traffic of established connections"),
            "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN")
    policy_chains: dict[tuple[str, str], str] = {}
    for direction, addr in ((EGRESS, "-s"), (INGRESS, "-d")):
        for pod in local:
            chosen = [pol for pol in ordered
                      if direction in policy_types(pol) and selects(pol, pod)]
            if not chosen:
                continue
            chain = pod_chain(pod.key, direction)
            out.chain(chain)
            out.add("-A", FORWARD_CHAIN, *_comment(f"{pod.key} {direction.lower()}"),
                    addr, pod.ip, "-j", chain)
            for pol in chosen:
                key = (_policy_key(pol), direction)
                if key not in policy_chains:
                    policy_chains[key] = policy_chain(*key)
                out.add("-A", chain, *_comment(f"{pod.key} {direction.lower()}: {key[0]}"),
                        "-j", policy_chains[key])
            out.add("-A", chain, *_comment(f"{pod.key} {direction.lower()}: default deny"),
                    "-m", "mark", "!", "--mark", f"{MARK}/{MARK}", "-j", "REJECT")
            out.add("-A", chain, "-j", "MARK", "--set-xmark", f"0x0/{MARK}")
    by_key = {_policy_key(p): p for p in ordered}
    for (name, direction), chain in policy_chains.items():
        guarded = [p for p in local if selects(by_key[name], p)]
        _policy(out, by_key[name], direction, chain, guarded, all_pods, ns_labels)
    return "\n".join(["*filter", *out.chains, *out.forward, *out.rules, "COMMIT"]) + "\n"


def _policy_key(policy: Obj) -> str:
    meta = policy.get("metadata", {})
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"


@dataclass(frozen=True)
class _Peer:
    """Who a rule allows: pods (their IPs), a CIDR minus exceptions, or anyone."""

    pods: tuple[Pod, ...] = ()
    cidr: str = ""
    excepts: tuple[str, ...] = ()
    anyone: bool = False


def _peers(rule_peers: list[Obj] | None, namespace: str, pods: Sequence[Pod],
           ns_labels: dict[str, dict[str, str]]) -> list[_Peer]:
    if not rule_peers:
        return [_Peer(anyone=True)]
    out = []
    for peer in rule_peers:
        block = peer.get("ipBlock")
        if block is not None:
            cidr = _cidr(block.get("cidr"))
            if cidr:
                out.append(_Peer(cidr=cidr, excepts=tuple(
                    c for e in block.get("except") or [] if (c := _cidr(e)))))
            continue
        ns_sel = peer.get("namespaceSelector")
        pod_sel = _selector(peer.get("podSelector") or {})
        if ns_sel is None:
            found = [p for p in pods if p.namespace == namespace and pod_sel.matches(p.labels)]
        else:
            nss = _selector(ns_sel)
            found = [p for p in pods if nss.matches(ns_labels.get(p.namespace, {}))
                     and pod_sel.matches(p.labels)]
        out.append(_Peer(pods=tuple(found)))
    return out


def _policy(out: _Out, policy: Obj, direction: str, chain: str, guarded: Sequence[Pod],
            pods: Sequence[Pod], ns_labels: dict[str, dict[str, str]]) -> None:
    """One policy's rules for one direction: each allowed (peer, port) marks the packet."""
    key = _policy_key(policy)
    namespace = key.split("/", 1)[0]
    spec = policy.get("spec") or {}
    ingress = direction == INGRESS
    rules = spec.get("ingress" if ingress else "egress") or []
    peer_addr = "-s" if ingress else "-d"
    accept = ["-j", "MARK", "--set-xmark", f"{MARK}/{MARK}"]
    out.chain(chain)
    for i, rule in enumerate(rules):
        text = f"{key} {direction.lower()} rule {i}"
        ports = _ports(rule)
        for peer in _peers(rule.get("from" if ingress else "to"), namespace, pods, ns_labels):
            if peer.pods or peer.anyone:
                addrs = [[peer_addr, p.ip] for p in peer.pods] if peer.pods else [[]]
                # Who a named port is resolved on: the guarded pod (ingress), the peer.
                for j, match in enumerate(addrs):
                    port_pods = guarded if ingress else (
                        [peer.pods[j]] if peer.pods else [])
                    for args in _port_matches(ports, port_pods, ingress):
                        out.add("-A", chain, *_comment(text), *match, *args, *accept)
                continue
            if not peer.cidr:
                continue
            target = chain
            if peer.excepts:
                target = ("KUBE-SRC-" if ingress else "KUBE-DST-") + _hash(
                    f"{chain} {i} {peer.cidr} {' '.join(peer.excepts)}")
                out.chain(target)
                out.add("-A", chain, *_comment(text), peer_addr, peer.cidr, "-j", target)
                for exc in peer.excepts:
                    out.add("-A", target, *_comment(f"{text} except"), peer_addr, exc,
                            "-j", "RETURN")
            for args in _port_matches(ports, guarded if ingress else [], ingress):
                out.add("-A", target, *_comment(text), peer_addr, peer.cidr, *args, *accept)


def _port_matches(ports: list[_Ports] | None, on: Sequence[Pod], ingress: bool
                  ) -> list[list[str]]:
    """Match arguments for a rule's ports; a named port becomes one match per pod of
    `on` that has it (with `-d <pod>` on ingress, where the pod is not otherwise named)."""
    if ports is None:
        return [[]]
    out: list[list[str]] = []
    for p in ports:
        if not p.named:
            out.append(p.args())
            continue
        for pod in on:
            number = pod.named_port(p.named, p.protocol)
            if number is not None:
                out.append([*(["-d", pod.ip] if ingress else []), *p.args(number)])
    return out
