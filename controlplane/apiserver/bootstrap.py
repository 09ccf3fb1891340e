"""The `kubernetes` Service in `default`: how pods find the apiserver.

As kube-apiserver's kubernetesservice controller with the lease endpoint
reconciler: each apiserver creates the Service if it is missing (ClusterIP the
first address of the service range, taken through the allocator like any other,
so no other Service can get it; port `https` 443 to the apiserver's port), keeps
a master lease for its own address in etcd (`/registry/masterleases/<ip>`, a
15 s etcd lease renewed every 10 s), and writes the Endpoints and EndpointSlice
`default/kubernetes` from the addresses whose leases are alive. An apiserver that
stops, or moves to a new address, drops out within one lease; one that shuts
down cleanly removes itself at once.

Unlike kube-apiserver, a lease is per address *and port*: `jota local up
--control-planes 2` runs two apiservers on one address (ports 6443 and 6444), and
Endpoints can carry one port per address. All apiservers then agree on the port of
the first live lease (`serving_port`), rather than each writing its own in turn.

The documents are pure functions (`kubernetes_service`, `endpoints_of`,
`endpoint_slice_of`); `KubernetesService` is the loop that writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
from typing import TYPE_CHECKING

from controlplane.storage.etcd import prefix_end
from jota.api import errors
from jota.api.meta import Obj
from jota.api.registry import by_plural

if TYPE_CHECKING:
    from controlplane.apiserver.rest import API

logger = logging.getLogger(__name__)

NAMESPACE = "default"
NAME = "kubernetes"
MASTER_LEASES = b"/registry/masterleases/"
LEASE_TTL = 15
RECONCILE_INTERVAL = 10.0
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def first_address(cidr: str) -> str:
    """The Service's ClusterIP: the first host address of the service range."""
    return str(next(ipaddress.ip_network(cidr, strict=False).hosts()))


def advertise_address(listen: str, given: str = "") -> str:
    """The address other parts reach this apiserver at: --advertise-address, else the
    --listen host, else (listening on every address) the address of the interface
    the default route leaves by (found without sending anything)."""
    if given:
        return given
    host = listen.rsplit(":", 1)[0].strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and not ip.is_unspecified:
        return str(ip)
    if host == "localhost":
        return "127.0.0.1"
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))  # UDP connect: picks a route, sends nothing
        return str(s.getsockname()[0])
    return "127.0.0.1"


def serving_port(leases: list[tuple[str, int]], own: int) -> int:
    """The port the Service and Endpoints name: the first live lease's (sorted by
    address and port), so every apiserver writes the same; `own` when none is live."""
    return min(leases)[1] if leases else own


def _ports(port: int) -> list[Obj]:
    return [{"name": "https", "port": port, "protocol": "TCP"}]


def kubernetes_service(cluster_ip: str, port: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": port}]}}


def service_update(current: Obj, port: int) -> Obj | None:
    """The Service with its ports and type put back, or None when they are right
    (getMasterServiceUpdateIfNeeded)."""
    spec = current.get("spec") or {}
    wanted = kubernetes_service("", port)["spec"]
    ports = [{k: p.get(k) for k in ("name", "port", "protocol", "targetPort")}
             for p in spec.get("ports") or [] if isinstance(p, dict)]
    if ports == wanted["ports"] and spec.get("type") == "ClusterIP":
        return None
    new = {**current, "spec": {**spec, "type": "ClusterIP", "ports": wanted["ports"]}}
    return new


def endpoints_of(ips: list[str], port: int) -> Obj:
    ep: Obj = {"apiVersion": "v1", "kind": "Endpoints",
               "metadata": {"name": NAME, "namespace": NAMESPACE,
                            "labels": {SKIP_MIRROR: "true"}}}
    if ips:
        ep["subsets"] = [{"addresses": [{"ip": ip} for ip in sorted(ips)],
                          "ports": _ports(port)}]
    return ep


def endpoint_slice_of(ips: list[str], port: int) -> Obj:
    family = "IPv6" if ips and ":" in ips[0] else "IPv4"
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {SERVICE_NAME_LABEL: NAME}},
            "addressType": family,
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}
                          for ip in sorted(ips)],
            "ports": _ports(port)}


def _content(obj: Obj) -> Obj:
    """What the reconciler owns: labels and everything outside metadata."""
    out = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    out["labels"] = (obj.get("metadata") or {}).get("labels") or {}
    return out


class KubernetesService:
    """One apiserver's part in keeping `default/kubernetes` and its endpoints."""

    def __init__(self, api: API, *, address: str, port: int, cluster_ip: str,
                 interval: float = RECONCILE_INTERVAL) -> None:
        self.api, self.address, self.port = api, address, port
        self.cluster_ip, self.interval = cluster_ip, interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Leave: drop this apiserver's lease and address at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            kv, _ = await self.api.etcd.get(self._lease_key())
            if kv is not None:
                await self.api.etcd.delete(kv.key, kv.mod_revision)
            await self._write_endpoints(await self._live_leases())
        except (errors.APIError, OSError) as e:
            logger.warning("could not remove this apiserver from the kubernetes endpoints: "
                           "%s", e)

    async def _run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the API is still served; try again next round
                logger.warning("reconciling the kubernetes service: %s", e)
            await asyncio.sleep(self.interval)

    def _lease_key(self) -> bytes:
        return MASTER_LEASES + f"{self.address}:{self.port}".encode()

    async def reconcile(self) -> None:
        await self.api.etcd.put_with_ttl(
            self._lease_key(), json.dumps({"ip": self.address, "port": self.port}).encode(),
            LEASE_TTL)
        leases = await self._live_leases()
        await self._ensure_service(serving_port(leases, self.port))
        await self._write_endpoints(leases)

    async def _live_leases(self) -> list[tuple[str, int]]:
        """(address, port) of every apiserver whose lease is alive."""
        found = await self.api.etcd.range(MASTER_LEASES, prefix_end(MASTER_LEASES))
        leases = []
        for kv in found.kvs:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                doc = json.loads(kv.value)
                leases.append((str(doc["ip"]), int(doc.get("port") or self.port)))
        return sorted(leases)

    async def _ensure_service(self, port: int) -> None:
        rt = by_plural("services")
        try:
            current = await self.api.get(rt, NAMESPACE, NAME)
        except errors.NotFound:
            with contextlib.suppress(errors.AlreadyExists):
                await self.api.create(rt, NAMESPACE,
                                      kubernetes_service(self.cluster_ip, port))
            return
        new = service_update(current, port)
        if new is not None:
            await self.api.update(rt, NAMESPACE, NAME, new)

    async def _write_endpoints(self, leases: list[tuple[str, int]]) -> None:
        port = serving_port(leases, self.port)
        ips = sorted({ip for ip, p in leases if p == port})
        for plural, desired in (("endpoints", endpoints_of(ips, port)),
                                ("endpointslices", endpoint_slice_of(ips, port))):
            rt = by_plural(plural)
            try:
                current = await self.api.get(rt, NAMESPACE, NAME)
            except errors.NotFound:
                with contextlib.suppress(errors.AlreadyExists):
                    await self.api.create(rt, NAMESPACE, desired)
                continue
            if _content(current) == _content(desired):
                continue
            desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            with contextlib.suppress(errors.Conflict):  # another apiserver wrote: next round
                await self.api.update(rt, NAMESPACE, NAME, desired)
