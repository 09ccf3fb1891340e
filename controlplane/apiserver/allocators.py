"""ClusterIPs, NodePorts and LoadBalancer IPs, never handed out twice.

As kube-apiserver's RangeRegistry: each range is one bitmap document in etcd
(`/registry/ranges/serviceips`, `/registry/ranges/servicenodeports`, and
`/registry/ranges/loadbalancerips` for the MetalLB-style layer-2 pool), changed
only by a compare-and-swap on its mod_revision. Several apiservers may allocate
at once: the loser of a race re-reads and tries again, so no value is ever
given to two Services.

Three layers, top to bottom:

    ServiceAllocator     what a Service create/update/delete needs (allocate,
                         roll back if the write fails, release after success)
    RangeRegistry        read-modify-write of one bitmap document in etcd
    Bitmap + *Range      pure: offsets <-> values, first free offset, encoding

Dynamic allocation prefers the upper part of a range and leaves the lower
"static" band (KEP-3070, KEP-3668) to Services that ask for a value, so
`kube-dns` can still get 10.96.0.10 after a hundred Services exist.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from jota.api import errors
from jota.api.meta import Obj

SERVICE_IPS_KEY = b"/registry/ranges/serviceips"
NODE_PORTS_KEY = b"/registry/ranges/servicenodeports"
LB_IPS_KEY = b"/registry/ranges/loadbalancerips"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORT_RANGE = "30000-32767"
DEFAULT_LB_RANGE = "172.30.255.0/24"
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


class RangeFull(Exception):
    """No free value is left in the range."""


class AlreadyAllocated(Exception):
    """The requested value belongs to another object."""


class NotInRange(Exception):
    """The requested value is outside the range."""


# ---- pure: the bitmap and the ranges ---------------------------------------------------------


class Bitmap:
    """A fixed-size set of offsets, one bit each (bytearray: cheap to scan and encode)."""

    def __init__(self, size: int, data: bytes = b"") -> None:
        self.size = size
        self.bits = bytearray((size + 7) // 8)
        self.bits[:len(data)] = data[:len(self.bits)]

    def has(self, i: int) -> bool:
        return bool(self.bits[i >> 3] & (1 << (i & 7)))

    def set(self, i: int) -> None:
        self.bits[i >> 3] |= 1 << (i & 7)

    def clear(self, i: int) -> None:
        self.bits[i >> 3] &= ~(1 << (i & 7)) & 0xFF

    def count(self) -> int:
        return sum(b.bit_count() for b in self.bits)

    def offsets(self) -> list[int]:
        return [n * 8 + b for n, byte in enumerate(self.bits) if byte
                for b in range(8) if byte & (1 << b) and n * 8 + b < self.size]

    def first_free(self, start: int, end: int) -> int | None:
        """The first clear offset in [start, end), skipping full bytes quickly."""
        i = start
        while i < end:
            if i & 7 == 0 and self.bits[i >> 3] == 0xFF and i + 8 <= end:
                i += 8
                continue
            if not self.has(i):
                return i
            i += 1
        return None

    def next_free(self, static: int, pick: Callable[[int, int], int]) -> int | None:
        """A free offset: from a random point of the dynamic band [static, size), wrapping,
        then the static band [0, static) only when the dynamic band is full."""
        if static < self.size:
            start = pick(static, self.size - 1)
            found = self.first_free(start, self.size)
            if found is None:
                found = self.first_free(static, start)
            if found is not None:
                return found
        return self.first_free(0, min(static, self.size))

    def encode(self) -> str:
        return base64.b64encode(zlib.compress(bytes(self.bits))).decode()

    @classmethod
    def decode(cls, size: int, text: str) -> Bitmap:
        return cls(size, zlib.decompress(base64.b64decode(text)))


def static_band(size: int, divisor: int, cap: int) -> int:
    """Offsets below this are preferred for requested values: min(max(16, size/d), cap)."""
    return min(max(16, size // divisor), cap)


class Range(Protocol):
    """A range of values, each mapped to one offset of a bitmap."""

    @property
    def name(self) -> str: ...  # as stored: "10.96.0.0/12", "30000-32767"

    @property
    def size(self) -> int: ...

    @property
    def static(self) -> int: ...

    def offset(self, value: str | int) -> int | None: ...

    def value(self, offset: int) -> Any: ...


@dataclass(frozen=True)
class IPRange:
    """Host addresses of a CIDR (neither the network nor the broadcast address)."""

    cidr: str
    name: str = field(init=False)
    size: int = field(init=False)
    static: int = field(init=False)
    _net: ipaddress.IPv4Network | ipaddress.IPv6Network = field(init=False, repr=False)

    def __post_init__(self) -> None:
        net = ipaddress.ip_network(self.cidr, strict=False)
        total = net.num_addresses
        size = total - 2 if total > 2 else total
        size = min(size, 1 << 20)  # as Kubernetes: bitmaps never exceed 2^20 (a /12)
        object.__setattr__(self, "_net", net)
        object.__setattr__(self, "name", str(net))
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "static", static_band(size, 16, 256))

    def _first(self) -> int:
        return int(self._net.network_address) + (1 if self._net.num_addresses > 2 else 0)

    def offset(self, value: str | int) -> int | None:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            return None
        if ip.version != self._net.version:
            return None
        i = int(ip) - self._first()
        return i if 0 <= i < self.size else None

    def value(self, offset: int) -> str:
        return str(ipaddress.ip_address(self._first() + offset))


@dataclass(frozen=True)
class PortRange:
    """NodePorts `base-last`, both ends included."""

    base: int
    last: int
    name: str = field(init=False)
    size: int = field(init=False)
    static: int = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.last <= 65535:
            raise ValueError(f"invalid port range {self.base}-{self.last}")
        size = self.last - self.base + 1
        object.__setattr__(self, "name", f"{self.base}-{self.last}")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "static", static_band(size, 32, 128))

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """`30000-32767`, or `30000+2767` (base plus extra), as --service-node-port-range."""
        try:
            if "+" in text:
                base, extra = text.split("+", 1)
                return cls(int(base), int(base) + int(extra))
            if "-" in text:
                base, last = text.split("-", 1)
                return cls(int(base), int(last))
            return cls(int(text), int(text))
        except ValueError:
            raise ValueError(f'invalid port range "{text}": use e.g. 30000-32767') from None

    def offset(self, value: str | int) -> int | None:
        try:
            i = int(value) - self.base
        except (TypeError, ValueError):
            return None
        return i if 0 <= i < self.size else None

    def value(self, offset: int) -> int:
        return self.base + offset


def decode_document(rng: Range, raw: bytes | None) -> Bitmap:
    """The stored bitmap, re-mapped onto `rng` if it was written for another range (the
    flag changed): values still inside the new range stay allocated."""
    if not raw:
        return Bitmap(rng.size)
    doc = json.loads(raw)
    stored_range = str(doc.get("range", ""))
    if stored_range == rng.name:
        return Bitmap.decode(rng.size, str(doc.get("data", "")))
    old: Range = IPRange(stored_range) if "/" in stored_range else \
        PortRange.parse(stored_range)
    bitmap = Bitmap(rng.size)
    for i in Bitmap.decode(old.size, str(doc.get("data", ""))).offsets():
        j = rng.offset(old.value(i))
        if j is not None:
            bitmap.set(j)
    return bitmap


def encode_document(rng: Range, bitmap: Bitmap) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "RangeAllocation", "range": rng.name,
                       "data": bitmap.encode()}).encode()


# ---- etcd: one range document, compare-and-swap ---------------------------------------------


class KV(Protocol):
    """The slice of `controlplane.storage.etcd.Etcd` a range needs (fakeable in tests)."""

    async def get(self, key: bytes, *, revision: int = 0) -> tuple[Any, int]: ...

    async def create(self, key: bytes, value: bytes) -> int | None: ...

    async def update(self, key: bytes, value: bytes, expected_mod_revision: int
                     ) -> int | None: ...


Change = Callable[[Bitmap], Any]


class RangeRegistry:
    """Read-modify-write of one bitmap in etcd. A lock serializes this process's own
    changes (no self-inflicted conflicts); the compare-and-swap guards against the
    other apiservers."""

    def __init__(self, kv: KV, key: bytes, rng: Range, *, rand: random.Random | None = None
                 ) -> None:
        self.kv, self.key, self.range = kv, key, rng
        self.rand = rand or random.Random()
        self._lock = asyncio.Lock()

    async def _change(self, change: Change) -> Any:
        async with self._lock:
            for _ in range(64):
                kv, _rev = await self.kv.get(self.key)
                bitmap = decode_document(self.range, kv.value if kv is not None else None)
                result = change(bitmap)
                data = encode_document(self.range, bitmap)
                if kv is None:
                    ok = await self.kv.create(self.key, data)
                elif kv.value == data:
                    return result
                else:
                    ok = await self.kv.update(self.key, data, kv.mod_revision)
                if ok is not None:
                    return result
                await asyncio.sleep(self.rand.uniform(0, 0.01))
            raise errors.Conflict(f"too many conflicts allocating from {self.range.name}")

    async def allocate(self, value: str | int) -> None:
        offset = self.range.offset(value)
        if offset is None:
            raise NotInRange(value)

        def take(bitmap: Bitmap) -> None:
            if bitmap.has(offset):
                raise AlreadyAllocated(value)
            bitmap.set(offset)

        await self._change(take)

    async def allocate_next(self) -> Any:
        def take(bitmap: Bitmap) -> int:
            found = bitmap.next_free(self.range.static, self.rand.randint)
            if found is None:
                raise RangeFull(self.range.name)
            bitmap.set(found)
            return found

        return self.range.value(await self._change(take))

    async def release(self, values: list[Any]) -> None:
        offsets = [o for o in (self.range.offset(v) for v in values) if o is not None]
        if not offsets:
            return

        def drop(bitmap: Bitmap) -> None:
            for o in offsets:
                bitmap.clear(o)

        await self._change(drop)

    async def allocated(self) -> set[Any]:
        kv, _ = await self.kv.get(self.key)
        bitmap = decode_document(self.range, kv.value if kv is not None else None)
        return {self.range.value(i) for i in bitmap.offsets()}


# ---- what a Service needs ---------------------------------------------------------------------


@dataclass
class Transaction:
    """What one write allocated (to roll back if it fails) and what it frees (to release
    once it succeeded)."""

    allocated: list[tuple[RangeRegistry, Any]] = field(default_factory=list)
    freed: list[tuple[RangeRegistry, Any]] = field(default_factory=list)

    async def rollback(self) -> None:
        await _release(self.allocated)
        self.allocated = []

    async def commit(self) -> None:
        await _release(self.freed)
        self.freed = []


async def _release(items: list[tuple[RangeRegistry, Any]]) -> None:
    by_registry: dict[int, tuple[RangeRegistry, list[Any]]] = {}
    for reg, value in items:
        by_registry.setdefault(id(reg), (reg, []))[1].append(value)
    for reg, values in by_registry.values():
        await reg.release(values)


def _spec(svc: Obj) -> Obj:
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def service_type(svc: Obj) -> str:
    return str(_spec(svc).get("type") or "ClusterIP")


def wants_cluster_ip(svc: Obj) -> bool:
    return service_type(svc) != "ExternalName" and _spec(svc).get("clusterIP") != "None"


def cluster_ips(svc: Obj) -> list[str]:
    spec = _spec(svc)
    ips = [ip for ip in spec.get("clusterIPs") or [] if isinstance(ip, str)]
    ip = spec.get("clusterIP")
    if isinstance(ip, str) and ip and ip not in ips:
        ips.insert(0, ip)
    return [ip for ip in ips if ip and ip != "None"]


def node_ports(svc: Obj) -> list[int]:
    spec = _spec(svc)
    found = [p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)]
    found.append(spec.get("healthCheckNodePort"))
    return sorted({p for p in found if isinstance(p, int) and not isinstance(p, bool) and p})


def lb_ips(svc: Obj) -> list[str]:
    lb = ((svc.get("status") or {}).get("loadBalancer") or {})
    return [str(i["ip"]) for i in lb.get("ingress") or [] if isinstance(i, dict) and i.get("ip")]


def drop_type_dependent_fields(new: Obj, old: Obj) -> None:
    """A type change clears what the old type needed and the user did not change, as
    Kubernetes' dropTypeDependentFields: NodePort -> ClusterIP drops the nodePorts,
    -> ExternalName drops the clusterIP."""
    if service_type(new) == service_type(old):
        return
    spec, old_spec = _spec(new), _spec(old)
    if service_type(new) == "ExternalName" and spec.get("clusterIP") == old_spec.get(
            "clusterIP"):
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(key, None)
    if service_type(new) not in NODE_PORT_TYPES:
        old_ports = {p.get("nodePort") for p in old_spec.get("ports") or []
                     if isinstance(p, dict)}
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and port.get("nodePort") in old_ports:
                port.pop("nodePort", None)
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
    if service_type(new) != "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(key) == old_spec.get(key):
                spec.pop(key, None)
        if spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)
        if isinstance(new.get("status"), dict):
            new["status"].pop("loadBalancer", None)


def _go_strings(values: list[str]) -> str:
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


class ServiceAllocator:
    """Allocation around Service writes (the service REST storage's allocators)."""

    def __init__(self, kv: KV, *, cluster_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_ports: str = DEFAULT_NODE_PORT_RANGE, lb_cidr: str = DEFAULT_LB_RANGE,
                 rand: random.Random | None = None) -> None:
        self.ips = RangeRegistry(kv, SERVICE_IPS_KEY, IPRange(cluster_cidr), rand=rand)
        self.ports = RangeRegistry(kv, NODE_PORTS_KEY, PortRange.parse(node_ports),
                                   rand=rand)
        self.lb = RangeRegistry(kv, LB_IPS_KEY, IPRange(lb_cidr), rand=rand)

    async def on_create(self, svc: Obj) -> Transaction:
        return await self.on_update(svc, None)

    async def on_update(self, svc: Obj, old: Obj | None) -> Transaction:
        """Allocate what `svc` needs that `old` did not hold; free what it no longer needs.
        Raises Invalid (taken, out of range) or InternalError (range full); whatever
        was allocated before the failure is released again."""
        tx = Transaction()
        try:
            await self._cluster_ip(svc, old, tx)
            await self._node_ports(svc, old, tx)
            await self._lb_ip(svc, old, tx)
        except BaseException:
            await tx.rollback()
            raise
        return tx

    async def on_delete(self, svc: Obj) -> None:
        await self.ips.release(cluster_ips(svc))
        await self.ports.release(list(node_ports(svc)))
        await self.lb.release(lb_ips(svc))

    def check_ranges(self, svc: Obj) -> None:
        """What a dry run can tell without allocating: a requested clusterIP or nodePort
        outside the configured ranges, in the words allocation would use."""
        if wants_cluster_ip(svc):
            for ip in cluster_ips(svc)[:1]:
                if self.ips.range.offset(ip) is None:
                    raise self._invalid(svc, _ip_error(
                        ip, f"the provided IP ({ip}) is not in the valid range. The range "
                            f"of valid IPs is {self.ips.range.name}"))
        if service_type(svc) not in NODE_PORT_TYPES:
            return
        for i, port in enumerate(_spec(svc).get("ports") or []):
            value = port.get("nodePort") if isinstance(port, dict) else None
            if isinstance(value, int) and value and self.ports.range.offset(value) is None:
                raise self._invalid(svc, _port_range_error(
                    f"spec.ports[{i}].nodePort", value, self.ports.range.name))

    def _invalid(self, svc: Obj, cause: errors.FieldError) -> errors.Invalid:
        name = str((svc.get("metadata") or {}).get("name", ""))
        return errors.Invalid.of("Service", name, [cause])

    async def _cluster_ip(self, svc: Obj, old: Obj | None, tx: Transaction) -> None:
        spec = _spec(svc)
        held = cluster_ips(old) if old is not None else []
        if not wants_cluster_ip(svc):
            tx.freed += [(self.ips, ip) for ip in held]
            if spec.get("clusterIP") == "None":
                spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            return
        wanted = cluster_ips(svc)
        if wanted and wanted[0] in held:
            spec["clusterIP"], spec["clusterIPs"] = wanted[0], [wanted[0]]
            return
        if wanted:
            ip = wanted[0]
            try:
                await self.ips.allocate(ip)
            except AlreadyAllocated:
                raise self._invalid(svc, _ip_error(ip, "provided IP is already allocated")
                                    ) from None
            except NotInRange:
                raise self._invalid(svc, _ip_error(
                    ip, f"the provided IP ({ip}) is not in the valid range. The range of "
                        f"valid IPs is {self.ips.range.name}")) from None
        else:
            try:
                ip = await self.ips.allocate_next()
            except RangeFull:
                raise errors.InternalError(
                    "Internal error occurred: failed to allocate a serviceIP: range is full"
                ) from None
        tx.allocated.append((self.ips, ip))
        tx.freed += [(self.ips, h) for h in held]
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv6" if ":" in ip else "IPv4"])

    async def _node_ports(self, svc: Obj, old: Obj | None, tx: Transaction) -> None:
        spec = _spec(svc)
        held = set(node_ports(old)) if old is not None else set()
        stype = service_type(svc)
        needs = stype in NODE_PORT_TYPES
        auto = needs and not (stype == "LoadBalancer"
                              and spec.get("allocateLoadBalancerNodePorts") is False)
        taken: set[int] = set()
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict) or not needs:
                continue
            value = port.get("nodePort")
            if isinstance(value, int) and value:
                await self._take_port(svc, f"spec.ports[{i}].nodePort", value, held, taken,
                                      tx)
            elif auto:
                port["nodePort"] = await self._next_port(tx)
                taken.add(port["nodePort"])
        if stype == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local":
            value = spec.get("healthCheckNodePort")
            if isinstance(value, int) and value:
                await self._take_port(svc, "spec.healthCheckNodePort", value, held, taken, tx)
            else:
                spec["healthCheckNodePort"] = await self._next_port(tx)
                taken.add(spec["healthCheckNodePort"])
        tx.freed += [(self.ports, p) for p in held - taken]

    async def _take_port(self, svc: Obj, path: str, value: int, held: set[int],
                         taken: set[int], tx: Transaction) -> None:
        if value in held or value in taken:
            taken.add(value)  # kept, or shared by two protocols of one port number
            return
        try:
            await self.ports.allocate(value)
        except AlreadyAllocated:
            raise self._invalid(svc, errors.invalid(
                path, value, "provided port is already allocated")) from None
        except NotInRange:
            raise self._invalid(svc, _port_range_error(path, value, self.ports.range.name)
                                ) from None
        tx.allocated.append((self.ports, value))
        taken.add(value)

    async def _next_port(self, tx: Transaction) -> int:
        try:
            port = int(await self.ports.allocate_next())
        except RangeFull:
            raise errors.InternalError("Internal error occurred: failed to allocate a "
                                       "nodePort: range is full") from None
        tx.allocated.append((self.ports, port))
        return port

    async def _lb_ip(self, svc: Obj, old: Obj | None, tx: Transaction) -> None:
        """A LoadBalancer gets one address of the pool into status.loadBalancer.ingress,
        as MetalLB's layer-2 mode: `spec.loadBalancerIP` if asked for, else the next."""
        held = lb_ips(old) if old is not None else []
        if service_type(svc) != "LoadBalancer":
            tx.freed += [(self.lb, ip) for ip in held]
            return
        requested = _spec(svc).get("loadBalancerIP")
        if held and (not requested or requested == held[0]):
            ip = held[0]
        elif requested:
            try:
                await self.lb.allocate(str(requested))
            except (AlreadyAllocated, NotInRange) as e:
                detail = ("provided IP is already allocated" if isinstance(
                    e, AlreadyAllocated) else f"not in the load-balancer pool "
                                              f"{self.lb.range.name}")
                raise self._invalid(svc, errors.invalid("spec.loadBalancerIP", requested,
                                                        detail)) from None
            ip = str(requested)
            tx.allocated.append((self.lb, ip))
            tx.freed += [(self.lb, h) for h in held]
        else:
            try:
                ip = str(await self.lb.allocate_next())
            except RangeFull:
                return  # stays <pending>, as a LoadBalancer no pool can serve
            tx.allocated.append((self.lb, ip))
        status = svc.get("status")
        if not isinstance(status, dict):
            status = svc["status"] = {}
        status["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}


def _ip_error(ip: str, why: str) -> errors.FieldError:
    return errors.FieldError("spec.clusterIPs", f"{_go_strings([ip])}: failed to allocate "
                             f"IP {ip}: {why}", type="Invalid value", has_value=False)


def _port_range_error(path: str, port: int, valid: str) -> errors.FieldError:
    return errors.invalid(path, port, "provided port is not in the valid range. The range "
                                      f"of valid ports is {valid}")
