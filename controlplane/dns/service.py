"""The `kube-dns` Service in kube-system, and its endpoints: this process's address.

Kubernetes runs CoreDNS as pods behind `kube-system/kube-dns` (ClusterIP 10.96.0.10
with kubeadm's service range); the kubelets' `--cluster-dns` names that IP. Here DNS
is a host process, so the Service has no selector and jota-dns writes its Endpoints and
EndpointSlice itself, as the apiserver does for `default/kubernetes`
(controlplane/apiserver/bootstrap.py): at start it creates the Service if missing
(asking the allocator for the well-known IP) and adds its own `--advertise-address`
to the endpoints; on a clean stop it takes it out again, so a dead server is not
sent queries. Several jota-dns (one per control-plane VM) each add their own address.

It checks again every RECONCILE_INTERVAL, so a deleted Service or endpoint comes back;
a check that finds everything right writes nothing.

The documents are pure functions; `register`/`unregister` write them.
"""

from __future__ import annotations

import logging

from jota.api import errors
from jota.api.meta import Obj
from jota.client import Client

logger = logging.getLogger("jota-dns")

NAMESPACE = "kube-system"
NAME = "kube-dns"
DEFAULT_SERVICE_IP = "10.96.0.10"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
LABELS = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS",
          "kubernetes.io/cluster-service": "true"}
PORT_NAMES = (("dns", "UDP"), ("dns-tcp", "TCP"))
RECONCILE_INTERVAL = 30.0


def kube_dns_service(cluster_ip: str, target_port: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip,
                     "ports": [{"name": name, "port": 53, "protocol": proto,
                                "targetPort": target_port} for name, proto in PORT_NAMES]}}


def _ports(port: int) -> list[Obj]:
    return [{"name": name, "port": port, "protocol": proto} for name, proto in PORT_NAMES]


def endpoints_of(ips: list[str], port: int) -> Obj:
    ep: Obj = {"apiVersion": "v1", "kind": "Endpoints",
               "metadata": {"name": NAME, "namespace": NAMESPACE,
                            "labels": {**LABELS, SKIP_MIRROR: "true"}}}
    if ips:
        ep["subsets"] = [{"addresses": [{"ip": ip} for ip in sorted(ips)],
                          "ports": _ports(port)}]
    return ep


def endpoint_slice_of(ips: list[str], port: int) -> Obj:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {**LABELS, SERVICE_NAME_LABEL: NAME}},
            "addressType": "IPv6" if ips and ":" in ips[0] else "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}
                          for ip in sorted(ips)],
            "ports": _ports(port)}


def addresses_in(endpoints: Obj | None) -> list[str]:
    if endpoints is None:
        return []
    return sorted({str(a.get("ip")) for s in endpoints.get("subsets") or []
                   for a in s.get("addresses") or [] if a.get("ip")})


async def _ensure_service(client: Client, cluster_ip: str, port: int) -> None:
    try:
        svc = await client.get("services", NAME, NAMESPACE)
    except errors.NotFound:
        await client.create("services", kube_dns_service(cluster_ip, port), NAMESPACE)
        logger.info("created Service %s/%s with ClusterIP %s", NAMESPACE, NAME, cluster_ip)
        return
    if (svc.get("spec") or {}).get("selector"):
        logger.warning("Service %s/%s has a selector: its endpoints are not jota-dns's",
                       NAMESPACE, NAME)


def _content(obj: Obj) -> Obj:
    """What this process owns of a document: its labels and everything outside metadata."""
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")},
            "labels": (obj.get("metadata") or {}).get("labels") or {}}


async def _write(client: Client, resource: str, doc: Obj) -> None:
    """Create or replace one document unless it is right already, keeping its
    resourceVersion (retried on conflict by the caller)."""
    try:
        current = await client.get(resource, NAME, NAMESPACE)
    except errors.NotFound:
        await client.create(resource, doc, NAMESPACE)
        return
    if _content(current) == _content(doc):
        return
    doc = {**doc, "metadata": {**doc["metadata"],
                               "resourceVersion": current["metadata"]["resourceVersion"]}}
    await client.update(resource, doc, NAMESPACE)


async def _set_address(client: Client, ip: str, port: int, present: bool) -> None:
    for _ in range(10):
        try:
            try:
                current: Obj | None = await client.get("endpoints", NAME, NAMESPACE)
            except errors.NotFound:
                current = None
            ips = set(addresses_in(current))
            ips = ips | {ip} if present else ips - {ip}
            await _write(client, "endpoints", endpoints_of(sorted(ips), port))
            await _write(client, "endpointslices", endpoint_slice_of(sorted(ips), port))
            return
        except (errors.Conflict, errors.AlreadyExists):
            continue
    raise RuntimeError(f"could not update the endpoints of {NAMESPACE}/{NAME}: "
                       f"too many conflicts")


async def register(client: Client, cluster_ip: str, ip: str, port: int,
                   quiet: bool = False) -> None:
    """The Service (if missing) and this server's address in its endpoints."""
    await _ensure_service(client, cluster_ip, port)
    await _set_address(client, ip, port, present=True)
    if not quiet:
        logger.info("%s/%s now leads to %s:%d", NAMESPACE, NAME, ip, port)


async def unregister(client: Client, ip: str, port: int) -> None:
    await _set_address(client, ip, port, present=False)
