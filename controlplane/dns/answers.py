"""A question and the index in, an answer out: the Kubernetes DNS spec, as CoreDNS answers it.

Names under the cluster domain (`<zone>`, `cluster.local` by default):

    <svc>.<ns>.svc.<zone>               A/AAAA: the ClusterIPs; headless: every ready
                                        endpoint (none ready: NXDOMAIN); ExternalName: CNAME
    <ep>.<svc>.<ns>.svc.<zone>          A/AAAA of the endpoint whose hostname (StatefulSet
                                        pods: web-0) or dashed IP is <ep>
    _<port>._<proto>.<svc>.<ns>.svc...  SRV per named port (headless: per ready endpoint),
                                        with the targets' addresses in the additional section
    <a-b-c-d>.<ns>.pod.<zone>           A (`pods insecure`, kubeadm's Corefile: the IP is
                                        read from the name)
    dns-version.<zone>                  TXT "1.1.0" (the spec's schema version)
    <d.c.b.a>.in-addr.arpa, ip6.arpa    PTR of ClusterIPs and endpoint IPs; others fall
                                        through (upstream), as kubeadm's `fallthrough`

A name that exists without records of the asked type is NODATA (NOERROR, nothing in
the answer); an unknown name in the zone is NXDOMAIN; both carry the zone's SOA in the
authority section, so resolvers cache the negative answer for the TTL. `None` means
"not ours": the server forwards the question upstream.

The `svc` and `svc.ns` short forms are the pods' search path at work (resolv.conf's
`search <ns>.svc.<zone> svc.<zone> <zone>` with `ndots:5`): the resolver tries
`web.default.svc.cluster.local.` first and this answers it.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
from dns.rdatatype import RdataType

from controlplane.dns.index import (
    CLUSTER_IP,
    EXTERNAL_NAME,
    HEADLESS,
    Endpoint,
    Index,
    ServiceRecord,
    undashed,
)

SCHEMA_VERSION = "1.1.0"
DEFAULT_TTL = 5  # CoreDNS's kubernetes plugin (kubeadm's Corefile sets 30)
REVERSE_ZONES = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."))
A, AAAA, SRV, PTR, CNAME, TXT, SOA, NS, ANY = (
    RdataType.A, RdataType.AAAA, RdataType.SRV, RdataType.PTR, RdataType.CNAME,
    RdataType.TXT, RdataType.SOA, RdataType.NS, RdataType.ANY)


@dataclass(frozen=True)
class Zone:
    """The cluster domain this server is authoritative for."""

    origin: dns.name.Name
    ttl: int = DEFAULT_TTL

    @classmethod
    def of(cls, domain: str, ttl: int = DEFAULT_TTL) -> Zone:
        return cls(dns.name.from_text(domain.rstrip(".") + "."), ttl)

    def name(self, *labels: str) -> dns.name.Name:
        return dns.name.Name([lbl.encode() for lbl in labels]).concatenate(self.origin)

    def soa(self, serial: int) -> dns.rrset.RRset:
        return _soa(self, serial)


@functools.lru_cache(maxsize=4)
def _soa(zone: Zone, serial: int) -> dns.rrset.RRset:
    """The zone's SOA, made once per serial: every negative answer carries it."""
    text = (f"ns.dns.{zone.origin} hostmaster.{zone.origin} {serial} 7200 1800 86400 "
            f"{zone.ttl}")
    return dns.rrset.from_text(zone.origin, zone.ttl, "IN", "SOA", text)


@dataclass
class Answer:
    rcode: int = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)


def answer(qname: dns.name.Name, qtype: int, index: Index, zone: Zone) -> Answer | None:
    """The answer to `qname`/`qtype`, or None when the name is not ours to answer."""
    if qname.is_subdomain(zone.origin):
        labels = [lbl.decode(errors="replace").lower()
                  for lbl in qname.relativize(zone.origin).labels]
        labels.reverse()  # from the zone down: ["svc", "default", "web"]
        return _in_zone(qname, RdataType.make(qtype), labels, index, zone)
    if qtype == PTR and any(qname.is_subdomain(z) for z in REVERSE_ZONES):
        return _reverse(qname, index, zone)
    return None


# ---- negative answers --------------------------------------------------------------------


def _nxdomain(index: Index, zone: Zone) -> Answer:
    return Answer(dns.rcode.NXDOMAIN, authority=[zone.soa(index.serial)])


def _nodata(index: Index, zone: Zone) -> Answer:
    return Answer(dns.rcode.NOERROR, authority=[zone.soa(index.serial)])


def _records(qname: dns.name.Name, ttl: int, rdtype: RdataType, texts: list[str]
             ) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(qname, dns.rdataclass.IN, rdtype)
    for text in texts:
        rrset.add(_rdata(rdtype, text), ttl)
    return rrset


@functools.lru_cache(maxsize=65536)
def _rdata(rdtype: RdataType, text: str) -> dns.rdata.Rdata:
    """Parsed once: rdata are immutable, and parsing text is most of an answer's cost."""
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


def _positive(qname: dns.name.Name, qtype: RdataType, rdtype: RdataType, texts: list[str],
              index: Index, zone: Zone) -> Answer:
    """Records of `rdtype` for the asked name: the answer, or NODATA for another type."""
    if not texts or qtype not in (rdtype, ANY):
        return _nodata(index, zone)
    return Answer(answer=[_records(qname, zone.ttl, rdtype, texts)])


def _addresses(qname: dns.name.Name, qtype: RdataType, ips: list[str], index: Index,
               zone: Zone) -> Answer:
    """A and AAAA from a list of IPs of both families."""
    v4 = [ip for ip in ips if ":" not in ip]
    v6 = [ip for ip in ips if ":" in ip]
    out = Answer()
    if qtype in (A, ANY) and v4:
        out.answer.append(_records(qname, zone.ttl, A, v4))
    if qtype in (AAAA, ANY) and v6:
        out.answer.append(_records(qname, zone.ttl, AAAA, v6))
    return out if out.answer else _nodata(index, zone)


# ---- the zone ----------------------------------------------------------------------------


def _in_zone(qname: dns.name.Name, qtype: RdataType, labels: list[str], index: Index,
             zone: Zone) -> Answer:
    if not labels:
        if qtype == SOA:
            return Answer(answer=[zone.soa(index.serial)])
        return _nodata(index, zone)
    if labels == ["dns-version"]:
        return _positive(qname, qtype, TXT, [f'"{SCHEMA_VERSION}"'], index, zone)
    top, rest = labels[0], labels[1:]
    if top == "svc":
        return _service_names(qname, qtype, rest, index, zone)
    if top == "pod":
        return _pod_names(qname, qtype, rest, index, zone)
    return _nxdomain(index, zone)


def _service_names(qname: dns.name.Name, qtype: RdataType, labels: list[str], index: Index,
                   zone: Zone) -> Answer:
    """Below `svc.<zone>`: labels are [ns, service, ...] from the top."""
    if not labels:
        return _nodata(index, zone)
    ns = labels[0]
    if len(labels) == 1:
        return _nodata(index, zone) if index.has_namespace(ns) else _nxdomain(index, zone)
    svc = index.service(ns, labels[1])
    if svc is None:
        return _nxdomain(index, zone)
    below = labels[2:]
    if not below:
        return _service(qname, qtype, svc, index, zone)
    if len(below) == 1:
        return _endpoint(qname, qtype, svc, below[0], index, zone)
    if len(below) == 2 and all(lbl.startswith("_") for lbl in below):
        return _srv(qname, qtype, svc, proto=below[0][1:], port=below[1][1:], index=index,
                    zone=zone)
    return _nxdomain(index, zone)


def _service(qname: dns.name.Name, qtype: RdataType, svc: ServiceRecord, index: Index,
             zone: Zone) -> Answer:
    if svc.kind == EXTERNAL_NAME:
        if not svc.external_name:
            return _nodata(index, zone)
        return Answer(answer=[_records(qname, zone.ttl, CNAME, [svc.external_name + "."])])
    if svc.kind == HEADLESS and not svc.endpoints:
        return _nxdomain(index, zone)  # the spec: a headless Service with none ready
    if qtype == SRV:
        return _srv(qname, qtype, svc, proto="", port="", index=index, zone=zone)
    ips = list(svc.cluster_ips) if svc.kind == CLUSTER_IP else [e.ip for e in svc.endpoints]
    return _addresses(qname, qtype, ips, index, zone)


def _endpoint(qname: dns.name.Name, qtype: RdataType, svc: ServiceRecord, label: str,
              index: Index, zone: Zone) -> Answer:
    ips = [e.ip for e in svc.endpoints if e.label == label]
    if not ips:
        return _nxdomain(index, zone)
    return _addresses(qname, qtype, ips, index, zone)


def _srv(qname: dns.name.Name, qtype: RdataType, svc: ServiceRecord, *, proto: str, port: str,
         index: Index, zone: Zone) -> Answer:
    """SRV for named ports; `port`/`proto` empty (a query for the Service name) means all.

    A ClusterIP Service's records point at the Service, a headless one's at each ready
    endpoint (`<hostname>.<svc>.<ns>.svc.<zone>`), weights sharing 100 as CoreDNS's."""
    ports = [p for p in svc.ports if p.name
             and (not port or (p.name.lower() == port and p.protocol == proto))]
    if not ports or svc.kind == EXTERNAL_NAME:
        return _nxdomain(index, zone) if port else _nodata(index, zone)
    if qtype not in (SRV, ANY):
        return _nodata(index, zone)
    service_name = zone.name(svc.name, svc.namespace, "svc")
    targets: list[tuple[dns.name.Name, list[Endpoint]]]
    if svc.kind == CLUSTER_IP:
        targets = [(service_name, [])]
    else:
        by_label: dict[str, list[Endpoint]] = {}
        for e in svc.endpoints:
            by_label.setdefault(e.label, []).append(e)
        targets = [(zone.name(label, svc.name, svc.namespace, "svc"), eps)
                   for label, eps in sorted(by_label.items())]
    if not targets:
        return _nxdomain(index, zone)
    weight = max(1, 100 // len(targets))
    texts = [f"0 {weight} {p.port} {target}" for p in ports for target, _ in targets]
    out = Answer(answer=[_records(qname, zone.ttl, SRV, texts)])
    for target, eps in targets:
        ips = list(svc.cluster_ips) if svc.kind == CLUSTER_IP else [e.ip for e in eps]
        extra = _addresses(target, ANY, ips, index, zone)
        out.additional.extend(extra.answer)
    return out


def _pod_names(qname: dns.name.Name, qtype: RdataType, labels: list[str], index: Index,
               zone: Zone) -> Answer:
    """`<a-b-c-d>.<ns>.pod.<zone>`: labels are [ns, dashed ip]."""
    if len(labels) < 2:
        return _nodata(index, zone)
    ip = undashed(labels[1]) if len(labels) == 2 else None
    if ip is None:
        return _nxdomain(index, zone)
    return _addresses(qname, qtype, [ip], index, zone)


# ---- reverse -----------------------------------------------------------------------------


def _reverse(qname: dns.name.Name, index: Index, zone: Zone) -> Answer | None:
    try:
        ip = str(ipaddress.ip_address(dns.reversename.to_address(qname)))
    except (ValueError, dns.exception.SyntaxError):
        return None
    names = [zone.name(*(p for p in (label, svc, ns, "svc") if p))
             for ns, svc, label in index.names_of(ip)]
    if not names:
        return None  # fall through: another server may know this address
    return Answer(answer=[_records(qname, zone.ttl, PTR, [str(n) for n in names])])

