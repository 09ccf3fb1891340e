"""What the proxy wants in iptables: Services + EndpointSlices in, `iptables-restore` text out.

A pure function, so the whole rule set is tested as text (golden files) and applied in
one atomic `iptables-restore` by `apply.py`. The shape is kube-proxy's iptables mode
(pkg/proxy/iptables/proxier.go `syncProxyRules`), chain names and comments included, so
that anyone who has read `iptables-save` on a Kubernetes node reads ours:

    nat KUBE-SERVICES ──(cluster IP)──▶ KUBE-SVC-<hash> ──random──▶ KUBE-SEP-<hash> ─▶ DNAT
                      ──(LB / external IP)──▶ KUBE-EXT-<hash> ─▶ KUBE-SVC / KUBE-SVL (Local policy)
                      ──(addrtype LOCAL)──▶ KUBE-NODEPORTS ─▶ KUBE-EXT-<hash>
    KUBE-MARK-MASQ sets 0x4000; KUBE-POSTROUTING masquerades what carries it.
    filter KUBE-SERVICES / KUBE-EXTERNAL-SERVICES REJECT services that have no endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

MASQ_MARK = "0x4000"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_STICKY_SECONDS = 10800

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"

FILTER_CHAINS = (KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS,
                 KUBE_PROXY_FIREWALL)
NAT_CHAINS = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)
# Per-service and per-endpoint chains: any chain so named belongs to the proxy, and one
# that the current rules no longer declare is stale.
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")


@dataclass(frozen=True)
class Jump:
    """A rule in a built-in chain that sends packets into ours (kube-proxy's jump chains)."""

    table: str
    chain: str  # the built-in chain
    target: str  # ours
    comment: str
    extra: tuple[str, ...] = ()

    def args(self) -> list[str]:
        return [*self.extra, "-m", "comment", "--comment", self.comment, "-j", self.target]


_NEW = ("-m", "conntrack", "--ctstate", "NEW")
JUMPS = (
    Jump("filter", "INPUT", KUBE_EXTERNAL_SERVICES,
         "kubernetes externally-visible service portals", _NEW),
    Jump("filter", "FORWARD", KUBE_EXTERNAL_SERVICES,
         "kubernetes externally-visible service portals", _NEW),
    Jump("filter", "INPUT", KUBE_NODEPORTS, "kubernetes health check service ports"),
    Jump("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", _NEW),
    Jump("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", _NEW),
    Jump("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    Jump("filter", "INPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    Jump("filter", "OUTPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    Jump("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    Jump("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    Jump("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    Jump("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
)


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def service_chain(prefix: str, port_name: str, protocol: str) -> str:
    """kube-proxy's `portProtoHash`: KUBE-SVC-/SVL-/EXT-/FW- + 16 base32 chars."""
    return prefix + _hash(port_name + protocol)


def endpoint_chain(port_name: str, protocol: str, endpoint: str) -> str:
    """kube-proxy's `servicePortEndpointChainName` (endpoint is "ip:port")."""
    return "KUBE-SEP-" + _hash(port_name + protocol + endpoint)


def probability(n: int) -> str:
    return f"{1.0 / n:0.10f}"


def _quote(comment: str) -> str:
    return f'"{comment}"' if " " in comment else comment


def _comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", _quote(text)]


# -- the model: one ServicePort and its endpoints, as kube-proxy's ServicePort/Endpoint --


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    node_name: str
    ready: bool
    serving: bool
    terminating: bool

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass
class ServicePort:
    name: str  # "ns/svc:port" or "ns/svc" for an unnamed port, as ServicePortName.String()
    port_name: str
    protocol: str  # lower case, as in `-p tcp`
    cluster_ip: str
    port: int
    node_port: int = 0
    health_check_node_port: int = 0
    external_ips: list[str] = field(default_factory=list)
    lb_ips: list[str] = field(default_factory=list)
    lb_source_ranges: list[str] = field(default_factory=list)
    external_local: bool = False
    internal_local: bool = False
    sticky_seconds: int = 0  # > 0: sessionAffinity ClientIP

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.lb_ips)

    @property
    def external_policy_local(self) -> bool:
        return self.externally_accessible and self.external_local

    @property
    def uses_cluster_endpoints(self) -> bool:
        """kube-proxy's UsesClusterEndpoints: also when externally accessible whatever
        the external policy, since pods and the node reaching an external address are
        always treated as "Cluster" (the KUBE-EXT chain sends them to KUBE-SVC)."""
        return not self.internal_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or self.external_policy_local


def _ipv4(value: Any) -> bool:
    try:
        return isinstance(ipaddress.ip_address(str(value)), ipaddress.IPv4Address)
    except ValueError:
        return False


def service_ports(service: Obj) -> list[ServicePort]:
    """The proxied ports of a Service; none for headless and ExternalName services."""
    meta, spec = service.get("metadata", {}), service.get("spec", {})
    cluster_ip = spec.get("clusterIP") or ""
    if spec.get("type") == "ExternalName" or not _ipv4(cluster_ip):
        return []
    ns, name = meta.get("namespace", "default"), meta.get("name", "")
    sticky = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        sticky = int(cfg.get("timeoutSeconds") or DEFAULT_STICKY_SECONDS)
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    lb_ips = [i["ip"] for i in ingress if _ipv4(i.get("ip"))] \
        if spec.get("type") == "LoadBalancer" else []
    out = []
    for p in spec.get("ports") or []:
        port_name = p.get("name") or ""
        out.append(ServicePort(
            name=f"{ns}/{name}:{port_name}" if port_name else f"{ns}/{name}",
            port_name=port_name, protocol=str(p.get("protocol") or "TCP").lower(),
            cluster_ip=cluster_ip, port=int(p["port"]),
            node_port=int(p.get("nodePort") or 0)
            if spec.get("type") in ("NodePort", "LoadBalancer") else 0,
            health_check_node_port=int(spec.get("healthCheckNodePort") or 0),
            external_ips=[ip for ip in spec.get("externalIPs") or [] if _ipv4(ip)],
            lb_ips=lb_ips, lb_source_ranges=list(spec.get("loadBalancerSourceRanges") or []),
            external_local=spec.get("externalTrafficPolicy") == "Local",
            internal_local=spec.get("internalTrafficPolicy") == "Local",
            sticky_seconds=sticky))
    return out


def endpoints_by_port(slices: Iterable[Obj]) -> dict[tuple[str, str, str, str], list[Endpoint]]:
    """(namespace, service, port name, protocol) -> endpoints, de-duplicated and sorted by
    "ip:port" as kube-proxy's EndpointSliceCache does, so rules never churn on order."""
    found: dict[tuple[str, str, str, str], dict[str, Endpoint]] = {}
    for s in slices:
        meta = s.get("metadata", {})
        svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not svc or s.get("addressType", "IPv4") != "IPv4":
            continue
        for port in s.get("ports") or []:
            if port.get("port") is None:
                continue
            key = (meta.get("namespace", "default"), svc, port.get("name") or "",
                   str(port.get("protocol") or "TCP").lower())
            eps = found.setdefault(key, {})
            for ep in s.get("endpoints") or []:
                addrs = [a for a in ep.get("addresses") or [] if _ipv4(a)]
                if not addrs:
                    continue
                cond = ep.get("conditions") or {}
                ready = cond.get("ready") is not False
                e = Endpoint(ip=addrs[0], port=int(port["port"]),
                             node_name=ep.get("nodeName") or "", ready=ready,
                             serving=cond.get("serving", ready) is not False,
                             terminating=cond.get("terminating") is True)
                eps.setdefault(str(e), e)
    return {k: [v[x] for x in sorted(v)] for k, v in found.items()}


def categorize(sp: ServicePort, endpoints: Sequence[Endpoint], node_name: str
               ) -> tuple[list[Endpoint], list[Endpoint], list[Endpoint], bool]:
    """kube-proxy's `CategorizeEndpoints`: (cluster, local, all reachable, has any).

    Ready endpoints first; when none are ready, serving-and-terminating ones, so a
    rolling update never blackholes a service whose last pods are shutting down.
    """
    def fallback(eps: Sequence[Endpoint]) -> list[Endpoint]:
        ready = [e for e in eps if e.ready]
        return ready or [e for e in eps if e.serving and e.terminating]

    cluster = fallback(endpoints) if sp.uses_cluster_endpoints else []
    has_any = bool(cluster)
    if not sp.uses_local_endpoints:
        return cluster, [], cluster, has_any
    has_any = has_any or any(e.ready or (e.serving and e.terminating) for e in endpoints)
    local = fallback([e for e in endpoints if e.node_name == node_name])
    if not sp.uses_cluster_endpoints:
        return [], local, local, has_any
    seen = {str(e) for e in cluster}
    return cluster, local, cluster + [e for e in local if str(e) not in seen], has_any


# -- rendering --


@dataclass
class _Tables:
    filter_rules: list[str] = field(default_factory=list)
    nat_chains: list[str] = field(default_factory=list)
    nat_rules: list[str] = field(default_factory=list)

    def nat(self, *args: str) -> None:
        self.nat_rules.append(" ".join(args))

    def filter(self, *args: str) -> None:
        self.filter_rules.append(" ".join(args))

    def chain(self, name: str) -> None:
        self.nat_chains.append(f":{name} - [0:0]")


def render(services: Iterable[Obj], slices: Iterable[Obj], *, node_name: str,
           node_ips: Sequence[str] = (), cluster_cidr: str = "",
           masquerade_all: bool = False) -> str:
    """The whole `iptables-restore` input (filter and nat) for these Services.

    `cluster_cidr` is kube-proxy's local-traffic detector: traffic to a cluster IP from
    outside it is masqueraded; empty means no detector. `node_ips` only decide whether
    the node itself may pass a loadBalancerSourceRanges firewall.
    """
    eps = endpoints_by_port(slices)
    ports: list[tuple[ServicePort, list[Endpoint]]] = []
    for svc in services:
        meta = svc.get("metadata", {})
        for sp in service_ports(svc):
            key = (meta.get("namespace", "default"), meta.get("name", ""), sp.port_name,
                   sp.protocol)
            ports.append((sp, eps.get(key, [])))
    ports.sort(key=lambda x: (x[0].name, x[0].protocol))

    t = _Tables()
    for name in NAT_CHAINS:
        t.chain(name)
    t.nat("-A", KUBE_POSTROUTING, "-m", "mark", "!", "--mark", f"{MASQ_MARK}/{MASQ_MARK}",
          "-j", "RETURN")
    t.nat("-A", KUBE_POSTROUTING, "-j", "MARK", "--xor-mark", MASQ_MARK)
    t.nat("-A", KUBE_POSTROUTING, *_comment("kubernetes service traffic requiring SNAT"),
          "-j", "MASQUERADE", "--random-fully")
    t.nat("-A", KUBE_MARK_MASQ, "-j", "MARK", "--or-mark", MASQ_MARK)
    t.filter("-A", KUBE_FORWARD, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
    t.filter("-A", KUBE_FORWARD, *_comment("kubernetes forwarding rules"),
             "-m", "mark", "--mark", f"{MASQ_MARK}/{MASQ_MARK}", "-j", "ACCEPT")
    t.filter("-A", KUBE_FORWARD, *_comment("kubernetes forwarding conntrack rule"),
             "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")

    for sp, endpoints in ports:
        _service(t, sp, endpoints, node_name=node_name, node_ips=node_ips,
                 cluster_cidr=cluster_cidr, masquerade_all=masquerade_all)

    t.nat("-A", KUBE_SERVICES,
          *_comment("kubernetes service nodeports; NOTE: this must be the last rule in "
                    "this chain"),
          "-m", "addrtype", "--dst-type", "LOCAL", "-j", KUBE_NODEPORTS)

    lines = ["*filter", *(f":{c} - [0:0]" for c in FILTER_CHAINS), *t.filter_rules,
             "COMMIT", "*nat", *t.nat_chains, *t.nat_rules, "COMMIT"]
    return "\n".join(lines) + "\n"


def _service(t: _Tables, sp: ServicePort, endpoints: Sequence[Endpoint], *, node_name: str,
             node_ips: Sequence[str], cluster_cidr: str, masquerade_all: bool) -> None:
    """One service port, in the order kube-proxy's syncProxyRules writes it."""
    name, proto = sp.name, sp.protocol
    match = ["-m", proto, "-p", proto]
    cluster, local, reachable, has_endpoints = categorize(sp, endpoints, node_name)
    svc_chain = service_chain("KUBE-SVC-", name, proto)
    svl_chain = service_chain("KUBE-SVL-", name, proto)
    ext_chain = service_chain("KUBE-EXT-", name, proto)
    fw_chain = service_chain("KUBE-FW-", name, proto)
    uses_cluster_chain = bool(cluster) and sp.uses_cluster_endpoints
    uses_local_chain = bool(local) and sp.uses_local_endpoints

    internal_chain, has_internal = svc_chain, has_endpoints
    if sp.internal_local:
        internal_chain, has_internal = svl_chain, bool(local)
    external_policy_chain, has_external = svc_chain, has_endpoints
    if sp.external_policy_local:
        external_policy_chain, has_external = svl_chain, bool(local)
    uses_ext_chain = has_endpoints and sp.externally_accessible
    uses_fw_chain = has_endpoints and bool(sp.lb_ips) and bool(sp.lb_source_ranges)
    lb_chain = fw_chain if uses_fw_chain else ext_chain

    no_eps = f"{name} has no endpoints"
    int_target, int_comment = "REJECT", no_eps
    ext_target, ext_comment = "REJECT", no_eps
    if has_endpoints:
        int_target, int_comment = "DROP", f"{name} has no local endpoints"
        ext_target, ext_comment = int_target, int_comment

    if uses_cluster_chain:
        t.chain(svc_chain)
    if uses_local_chain:
        t.chain(svl_chain)
    if uses_ext_chain:
        t.chain(ext_chain)
    if uses_fw_chain:
        t.chain(fw_chain)

    dport = ["--dport", str(sp.port)]
    if has_internal:
        t.nat("-A", KUBE_SERVICES, *_comment(f"{name} cluster IP"), *match,
              "-d", sp.cluster_ip, *dport, "-j", internal_chain)
    else:
        t.filter("-A", KUBE_SERVICES, *_comment(int_comment), *match, "-d", sp.cluster_ip,
                 *dport, "-j", int_target)

    for ip, what, target in ([(ip, "external IP", ext_chain) for ip in sp.external_ips]
                             + [(ip, "loadbalancer IP", lb_chain) for ip in sp.lb_ips]):
        if has_endpoints:
            t.nat("-A", KUBE_SERVICES, *_comment(f"{name} {what}"), *match, "-d", ip, *dport,
                  "-j", target)
        if uses_fw_chain and what == "loadbalancer IP":
            t.filter("-A", KUBE_PROXY_FIREWALL,
                     *_comment(f"{name} traffic not accepted by {fw_chain}"), *match,
                     "-d", ip, *dport, "-j", "DROP")
        if not has_external:
            t.filter("-A", KUBE_EXTERNAL_SERVICES, *_comment(ext_comment), *match, "-d", ip,
                     *dport, "-j", ext_target)

    if sp.node_port:
        if has_endpoints:
            t.nat("-A", KUBE_NODEPORTS, *_comment(name), *match, "--dport", str(sp.node_port),
                  "-j", ext_chain)
        if not has_external:
            t.filter("-A", KUBE_EXTERNAL_SERVICES, *_comment(ext_comment),
                     "-m", "addrtype", "--dst-type", "LOCAL", *match,
                     "--dport", str(sp.node_port), "-j", ext_target)
    if sp.health_check_node_port and sp.external_policy_local:
        t.filter("-A", KUBE_NODEPORTS, *_comment(f"{name} health check node port"),
                 "-m", "tcp", "-p", "tcp", "--dport", str(sp.health_check_node_port),
                 "-j", "ACCEPT")

    if has_internal:
        args = [*_comment(f"{name} cluster IP"), *match, "-d", sp.cluster_ip, *dport]
        if masquerade_all:
            t.nat("-A", internal_chain, *args, "-j", KUBE_MARK_MASQ)
        elif cluster_cidr:
            t.nat("-A", internal_chain, *args, "!", "-s", cluster_cidr, "-j", KUBE_MARK_MASQ)

    if uses_ext_chain:
        if not sp.external_policy_local:
            t.nat("-A", ext_chain,
                  *_comment(f"masquerade traffic for {name} external destinations"),
                  "-j", KUBE_MARK_MASQ)
        else:
            if cluster_cidr:
                t.nat("-A", ext_chain,
                      *_comment(f"pod traffic for {name} external destinations"),
                      "-s", cluster_cidr, "-j", svc_chain)
            t.nat("-A", ext_chain,
                  *_comment(f"masquerade LOCAL traffic for {name} external destinations"),
                  "-m", "addrtype", "--src-type", "LOCAL", "-j", KUBE_MARK_MASQ)
            t.nat("-A", ext_chain,
                  *_comment(f"route LOCAL traffic for {name} external destinations"),
                  "-m", "addrtype", "--src-type", "LOCAL", "-j", svc_chain)
        if has_external:
            t.nat("-A", ext_chain, "-j", external_policy_chain)

    if uses_fw_chain:
        fw = ["-A", fw_chain, *_comment(f"{name} loadbalancer IP")]
        allow_node = False
        for cidr in sp.lb_source_ranges:
            t.nat(*fw, "-s", cidr, "-j", ext_chain)
            net = ipaddress.ip_network(cidr, strict=False)
            allow_node = allow_node or any(
                _ipv4(ip) and ipaddress.ip_address(ip) in net for ip in node_ips)
        if allow_node:
            for ip in sp.lb_ips:
                t.nat(*fw, "-s", ip, "-j", ext_chain)
        t.nat(*fw, *_comment(f"other traffic to {name} will be dropped by "
                             f"{KUBE_PROXY_FIREWALL}"))

    if uses_cluster_chain:
        _balance(t, sp, svc_chain, cluster)
    if uses_local_chain:
        _balance(t, sp, svl_chain, local)

    for ep in reachable:
        sep = endpoint_chain(name, proto, str(ep))
        t.chain(sep)
        t.nat("-A", sep, *_comment(name), "-s", ep.ip, "-j", KUBE_MARK_MASQ)
        affinity = ["-m", "recent", "--name", sep, "--set"] if sp.sticky_seconds else []
        t.nat("-A", sep, *_comment(name), *affinity, *match, "-j", "DNAT",
              "--to-destination", str(ep))


def _balance(t: _Tables, sp: ServicePort, chain: str, endpoints: Sequence[Endpoint]) -> None:
    """Sticky jumps first, then the nth-of-n random choice kube-proxy makes."""
    proto = sp.protocol
    if sp.sticky_seconds:
        for ep in endpoints:
            sep = endpoint_chain(sp.name, proto, str(ep))
            t.nat("-A", chain, *_comment(f"{sp.name} -> {ep}"), "-m", "recent", "--name", sep,
                  "--rcheck", "--seconds", str(sp.sticky_seconds), "--reap", "-j", sep)
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        stat = (["-m", "statistic", "--mode", "random", "--probability", probability(n - i)]
                if i < n - 1 else [])
        t.nat("-A", chain, *_comment(f"{sp.name} -> {ep}"), *stat,
              "-j", endpoint_chain(sp.name, proto, str(ep)))
