"""What DNS needs to know of the cluster, one record per Service, with a reverse map.

A Service and its EndpointSlices become one `ServiceRecord` (`service_record`, pure);
`Index` holds them with the reverse (PTR) map kept in step, so a query is a dict
lookup and a change costs one Service, not a rebuild of the world. Only ready
endpoints count (an endpoint with no `ready` condition is ready, as CoreDNS reads
EndpointSlices); the EndpointSlice controller already marks every endpoint ready for
a Service with `publishNotReadyAddresses`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from jota.api.meta import Obj

CLUSTER_IP = "ClusterIP"
HEADLESS = "Headless"
EXTERNAL_NAME = "ExternalName"


@dataclass(frozen=True)
class Port:
    name: str
    protocol: str  # lower case: "tcp", "udp", "sctp"
    port: int


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    hostname: str = ""  # the endpoint's hostname (StatefulSet pods), else ""

    @property
    def label(self) -> str:
        """The endpoint's name under its Service: its hostname, else its IP with dashes
        (CoreDNS's endpoint name when a pod has no hostname)."""
        return self.hostname or dashed(self.ip)

    @property
    def v6(self) -> bool:
        return ":" in self.ip


@dataclass(frozen=True)
class ServiceRecord:
    namespace: str
    name: str
    kind: str  # CLUSTER_IP, HEADLESS or EXTERNAL_NAME
    cluster_ips: tuple[str, ...] = ()
    external_name: str = ""
    ports: tuple[Port, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()  # ready ones, sorted, de-duplicated


def dashed(ip: str) -> str:
    """`10.244.1.5` -> `10-244-1-5`, `fd00::1` -> `fd00--1` (pod and endpoint names)."""
    return ip.replace(".", "-").replace(":", "-")


def undashed(label: str) -> str | None:
    """The IP a dashed label names, or None when it names none."""
    for text in (label.replace("-", "."), label.replace("-", ":")):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            continue
    return None


def _ready(ep: Obj) -> bool:
    ready = (ep.get("conditions") or {}).get("ready")
    return ready is None or bool(ready)


def service_record(svc: Obj, slices: Iterable[Obj]) -> ServiceRecord:
    md = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    ports = tuple(Port(str(p.get("name") or ""), str(p.get("protocol") or "TCP").lower(),
                       int(p.get("port") or 0)) for p in spec.get("ports") or [])
    ns, name = str(md.get("namespace") or "default"), str(md.get("name") or "")
    if spec.get("type") == "ExternalName":
        return ServiceRecord(ns, name, EXTERNAL_NAME,
                             external_name=str(spec.get("externalName") or "").rstrip("."),
                             ports=ports)
    ips = [str(ip) for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
           if ip and ip != "None"]
    endpoints: set[Endpoint] = set()
    for es in slices:
        for ep in es.get("endpoints") or []:
            if not _ready(ep):
                continue
            for ip in ep.get("addresses") or []:
                endpoints.add(Endpoint(str(ip), str(ep.get("hostname") or "")))
    kind = CLUSTER_IP if ips else HEADLESS
    return ServiceRecord(ns, name, kind, cluster_ips=tuple(ips), ports=ports,
                         endpoints=tuple(sorted(endpoints)))


PtrTarget = tuple[str, str, str]  # (namespace, service, endpoint label or "")


def _ptr_targets(rec: ServiceRecord) -> list[tuple[str, PtrTarget]]:
    """(ip, target) pairs: a ClusterIP names its Service, an endpoint IP names
    `<endpoint>.<service>` (as CoreDNS, for endpoints of every kind of Service)."""
    out = [(ip, (rec.namespace, rec.name, "")) for ip in rec.cluster_ips]
    out += [(ep.ip, (rec.namespace, rec.name, ep.label)) for ep in rec.endpoints]
    return out


@dataclass
class Index:
    """Services by (namespace, name), namespaces, and IP -> names for PTR queries."""

    services: dict[tuple[str, str], ServiceRecord] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    reverse: dict[str, set[PtrTarget]] = field(default_factory=dict)
    serial: int = 1  # the SOA serial: bumped on every change, as a zone's would be

    def put(self, rec: ServiceRecord) -> None:
        key = (rec.namespace, rec.name)
        old = self.services.get(key)
        if old == rec:
            return
        if old is not None:
            self._unlink(old)
        self.services[key] = rec
        for ip, target in _ptr_targets(rec):
            self.reverse.setdefault(ip, set()).add(target)
        self.serial += 1

    def remove(self, namespace: str, name: str) -> None:
        old = self.services.pop((namespace, name), None)
        if old is not None:
            self._unlink(old)
            self.serial += 1

    def _unlink(self, rec: ServiceRecord) -> None:
        for ip, target in _ptr_targets(rec):
            targets = self.reverse.get(ip)
            if targets is not None:
                targets.discard(target)
                if not targets:
                    del self.reverse[ip]

    def service(self, namespace: str, name: str) -> ServiceRecord | None:
        return self.services.get((namespace, name))

    def has_namespace(self, namespace: str) -> bool:
        return namespace in self.namespaces

    def names_of(self, ip: str) -> list[PtrTarget]:
        return sorted(self.reverse.get(ip, ()))


def build(services: Iterable[Obj], slices: Iterable[Obj],
          namespaces: Iterable[str] = ()) -> Index:
    """A whole index at once (tests, benchmarks); `sync.py` keeps one up to date instead."""
    by_service: dict[tuple[str, str], list[Obj]] = {}
    for es in slices:
        md = es.get("metadata") or {}
        owner = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner:
            by_service.setdefault((str(md.get("namespace") or "default"), owner), []).append(es)
    index = Index(namespaces=set(namespaces))
    for svc in services:
        md = svc.get("metadata") or {}
        key = (str(md.get("namespace") or "default"), str(md.get("name") or ""))
        index.put(service_record(svc, by_service.get(key, [])))
        index.namespaces.add(key[0])
    index.serial = 1
    return index


SERVICE_NAME_LABEL = "kubernetes.io/service-name"
