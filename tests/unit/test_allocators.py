"""ClusterIP, NodePort and LoadBalancer IP allocation: unique, honoured, released."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.apiserver.allocators import (
    Bitmap,
    IPRange,
    PortRange,
    RangeRegistry,
    ServiceAllocator,
    decode_document,
    drop_type_dependent_fields,
    encode_document,
)
from jota.api import errors
from jota.api.meta import Obj


@dataclass
class KV:
    key: bytes
    value: bytes
    mod_revision: int


class FakeEtcd:
    """Compare-and-swap like etcd, yielding between calls so that racers interleave."""

    def __init__(self) -> None:
        self.data: dict[bytes, KV] = {}
        self.revision = 0
        self.conflicts = 0

    async def get(self, key: bytes, *, revision: int = 0) -> tuple[Any, int]:
        await asyncio.sleep(0)
        return self.data.get(key), self.revision

    async def create(self, key: bytes, value: bytes) -> int | None:
        await asyncio.sleep(0)
        if key in self.data:
            self.conflicts += 1
            return None
        self.revision += 1
        self.data[key] = KV(key, value, self.revision)
        return self.revision

    async def update(self, key: bytes, value: bytes, expected: int) -> int | None:
        await asyncio.sleep(0)
        if key not in self.data or self.data[key].mod_revision != expected:
            self.conflicts += 1
            return None
        self.revision += 1
        self.data[key] = KV(key, value, self.revision)
        return self.revision


def svc(name: str = "web", stype: str = "ClusterIP", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": stype, "ports": [{"port": 80, "protocol": "TCP"}], **spec}}


# ---- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr,size,first,last,static", [
    ("10.96.0.0/12", 2**20 - 2, "10.96.0.1", "10.111.255.254", 256),
    ("10.0.0.0/24", 254, "10.0.0.1", "10.0.0.254", 16),
    ("172.30.255.0/24", 254, "172.30.255.1", "172.30.255.254", 16),
])
def test_ip_range_maps_host_addresses(cidr: str, size: int, first: str, last: str,
                                      static: int) -> None:
    rng = IPRange(cidr)
    assert (rng.size, rng.value(0), rng.value(size - 1), rng.static) == (size, first, last,
                                                                          static)
    assert rng.offset(first) == 0 and rng.offset(last) == size - 1


@pytest.mark.parametrize("value", ["10.95.255.255", "10.112.0.0", "10.96.0.0", "nope",
                                   "fd00::1"])
def test_ip_range_refuses_outside_values(value: str) -> None:
    assert IPRange("10.96.0.0/12").offset(value) is None


@pytest.mark.parametrize("text,base,last", [("30000-32767", 30000, 32767),
                                            ("30000+99", 30000, 30099), ("8080", 8080, 8080)])
def test_port_range_parses_kube_forms(text: str, base: int, last: int) -> None:
    rng = PortRange.parse(text)
    assert (rng.base, rng.last, rng.offset(base), rng.offset(last + 1)) == (
        base, last, 0, None)


@pytest.mark.parametrize("text", ["a-b", "40000-30000", "0-10"])
def test_port_range_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        PortRange.parse(text)


def test_next_free_prefers_the_dynamic_band_then_falls_back() -> None:
    bitmap = Bitmap(40)
    for _ in range(24):  # static band is 16: the 24 dynamic offsets go first
        found = bitmap.next_free(16, random.Random(1).randint)
        assert found is not None and found >= 16
        bitmap.set(found)
    found = bitmap.next_free(16, random.Random(1).randint)
    assert found is not None and found < 16
    for i in range(16):
        bitmap.set(i)
    assert bitmap.next_free(16, random.Random(1).randint) is None


def test_document_round_trips_and_remaps_on_a_new_range() -> None:
    old = IPRange("10.0.0.0/24")
    bitmap = Bitmap(old.size)
    for ip in ("10.0.0.5", "10.0.0.200"):
        offset = old.offset(ip)
        assert offset is not None
        bitmap.set(offset)
    raw = encode_document(old, bitmap)
    assert json.loads(raw)["range"] == "10.0.0.0/24"
    assert decode_document(old, raw).offsets() == bitmap.offsets()
    narrower = IPRange("10.0.0.0/25")
    assert [narrower.value(i) for i in decode_document(narrower, raw).offsets()] == [
        "10.0.0.5"]


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 99)), max_size=60))
def test_bitmap_behaves_as_a_set(ops: list[tuple[bool, int]]) -> None:
    bitmap, model = Bitmap(100), set[int]()
    for add, i in ops:
        (bitmap.set if add else bitmap.clear)(i)
        (model.add if add else model.discard)(i)
    assert set(bitmap.offsets()) == model and bitmap.count() == len(model)
    free = bitmap.first_free(0, 100)
    assert free == min(set(range(100)) - model, default=None)


# ---- allocation through a compare-and-swap store -------------------------------------------


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 40), servers=st.integers(1, 4), seed=st.integers(0, 1000))
def test_no_ip_or_port_is_handed_out_twice_under_concurrency(n: int, servers: int,
                                                             seed: int) -> None:
    async def scenario() -> None:
        etcd = FakeEtcd()
        # Several apiservers on one etcd, each with the same random picks: worst case.
        allocators = [ServiceAllocator(etcd, cluster_cidr="10.0.0.0/26",
                                       node_ports="30000-30099", rand=random.Random(seed))
                      for _ in range(servers)]
        services = [svc(f"s{i}", "NodePort") for i in range(n)]
        await asyncio.gather(*(allocators[i % servers].on_create(s)
                               for i, s in enumerate(services)))
        ips = [s["spec"]["clusterIP"] for s in services]
        ports = [s["spec"]["ports"][0]["nodePort"] for s in services]
        assert len(set(ips)) == n and len(set(ports)) == n
        assert await allocators[0].ips.allocated() == set(ips)
        assert await allocators[0].ports.allocated() == set(ports)

    asyncio.run(scenario())


async def test_fifty_concurrent_services_on_the_default_range_get_distinct_ips() -> None:
    allocator = ServiceAllocator(FakeEtcd())
    services = [svc(f"s{i}") for i in range(50)]
    await asyncio.gather(*(allocator.on_create(s) for s in services))
    ips = {s["spec"]["clusterIP"] for s in services}
    assert len(ips) == 50
    assert all((IPRange("10.96.0.0/12").offset(ip) or 0) >= 256 for ip in ips)  # dynamic
    assert all(s["spec"]["clusterIPs"] == [s["spec"]["clusterIP"]] for s in services)
    assert all(s["spec"]["ipFamilies"] == ["IPv4"] for s in services)


async def test_requested_ip_is_honoured_then_refused_in_kubectls_words() -> None:
    allocator = ServiceAllocator(FakeEtcd())
    first = svc("dns", clusterIP="10.96.0.10")
    await allocator.on_create(first)
    assert first["spec"]["clusterIPs"] == ["10.96.0.10"]
    with pytest.raises(errors.Invalid) as e:
        await allocator.on_create(svc("x", clusterIP="10.96.0.10"))
    assert e.value.message == (
        'Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: '
        "failed to allocate IP 10.96.0.10: provided IP is already allocated")
    with pytest.raises(errors.Invalid) as e:
        await allocator.on_create(svc("y", clusterIP="10.0.0.1"))
    assert e.value.message.endswith(
        "failed to allocate IP 10.0.0.1: the provided IP (10.0.0.1) is not in the valid "
        "range. The range of valid IPs is 10.96.0.0/12")


async def test_taken_node_port_is_refused_and_nothing_leaks() -> None:
    allocator = ServiceAllocator(FakeEtcd())
    await allocator.on_create(svc("a", "NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    b = svc("b", "NodePort", ports=[{"port": 80, "nodePort": 30080}])
    with pytest.raises(errors.Invalid) as e:
        await allocator.on_create(b)
    assert e.value.message == ('Service "b" is invalid: spec.ports[0].nodePort: Invalid '
                               "value: 30080: provided port is already allocated")
    assert len(await allocator.ips.allocated()) == 1  # b's clusterIP was rolled back


async def test_full_range_is_an_internal_error() -> None:
    allocator = ServiceAllocator(FakeEtcd(), cluster_cidr="10.0.0.0/30")
    for i in range(2):
        await allocator.on_create(svc(f"s{i}"))
    with pytest.raises(errors.InternalError, match="failed to allocate a serviceIP: range is "
                                                   "full"):
        await allocator.on_create(svc("s2"))


@pytest.mark.parametrize("spec,ip_expected", [
    ({"type": "ExternalName", "externalName": "example.com"}, None),
    ({"clusterIP": "None"}, "None"),
])
async def test_headless_and_external_name_take_no_ip(spec: Obj, ip_expected: str | None
                                                     ) -> None:
    allocator = ServiceAllocator(FakeEtcd())
    s = {"metadata": {"name": "h"}, "spec": spec}
    await allocator.on_create(s)
    assert s["spec"].get("clusterIP") == ip_expected
    assert await allocator.ips.allocated() == set()


async def test_load_balancer_gets_pool_ip_node_ports_and_delete_releases_all() -> None:
    allocator = ServiceAllocator(FakeEtcd())
    lb = svc("lb", "LoadBalancer", externalTrafficPolicy="Local")
    await allocator.on_create(lb)
    ingress = lb["status"]["loadBalancer"]["ingress"]
    assert ingress[0]["ip"].startswith("172.30.255.") and ingress[0]["ipMode"] == "VIP"
    assert 30000 <= lb["spec"]["ports"][0]["nodePort"] <= 32767
    assert lb["spec"]["healthCheckNodePort"] != lb["spec"]["ports"][0]["nodePort"]
    await allocator.on_delete(lb)
    assert await allocator.ips.allocated() == set()
    assert await allocator.ports.allocated() == set()
    assert await allocator.lb.allocated() == set()


async def test_no_node_ports_when_load_balancer_opts_out() -> None:
    allocator = ServiceAllocator(FakeEtcd())
    lb = svc("lb", "LoadBalancer", allocateLoadBalancerNodePorts=False)
    await allocator.on_create(lb)
    assert "nodePort" not in lb["spec"]["ports"][0]


async def test_type_changes_allocate_and_release_after_commit() -> None:
    allocator = ServiceAllocator(FakeEtcd())
    old = svc("web")
    await allocator.on_create(old)
    ip = old["spec"]["clusterIP"]
    as_node_port = json.loads(json.dumps(old))
    as_node_port["spec"]["type"] = "NodePort"
    tx = await allocator.on_update(as_node_port, old)
    await tx.commit()
    port = as_node_port["spec"]["ports"][0]["nodePort"]
    assert as_node_port["spec"]["clusterIP"] == ip and await allocator.ports.allocated() == {
        port}
    back = json.loads(json.dumps(as_node_port))
    back["spec"]["type"] = "ExternalName"
    back["spec"]["externalName"] = "example.com"
    drop_type_dependent_fields(back, as_node_port)
    assert "clusterIP" not in back["spec"] and "nodePort" not in back["spec"]["ports"][0]
    tx = await allocator.on_update(back, as_node_port)
    assert await allocator.ips.allocated() == {ip}  # freed only once the write succeeded
    await tx.commit()
    assert await allocator.ips.allocated() == set()
    assert await allocator.ports.allocated() == set()


async def test_rollback_releases_what_a_failed_write_took() -> None:
    allocator = ServiceAllocator(FakeEtcd())
    s = svc("web", "NodePort")
    tx = await allocator.on_create(s)
    await tx.rollback()
    assert await allocator.ips.allocated() == set()
    assert await allocator.ports.allocated() == set()


async def test_registry_retries_on_a_racing_writer() -> None:
    etcd = FakeEtcd()
    a = RangeRegistry(etcd, b"/k", PortRange.parse("30000-30009"))
    b = RangeRegistry(etcd, b"/k", PortRange.parse("30000-30009"))
    await asyncio.gather(*(r.allocate(30000 + i) for i, r in
                           enumerate([a, b, a, b, a, b])))
    assert etcd.conflicts > 0
    assert await a.allocated() == set(range(30000, 30006))


@pytest.mark.parametrize("node_ports,port,ok", [
    ("30000-32767", 30080, True),
    ("30000-32767", 80, False),
    ("20000-22767", 21000, True),     # a port validation alone would have refused
    ("20000-22767", 30080, False),
])
async def test_node_ports_are_checked_against_the_configured_range(
        node_ports: str, port: int, ok: bool) -> None:
    allocator = ServiceAllocator(FakeEtcd(), node_ports=node_ports)
    wanted = svc("np", "NodePort", ports=[{"port": 80, "nodePort": port}])
    message = (f'Service "np" is invalid: spec.ports[0].nodePort: Invalid value: {port}: '
               f"provided port is not in the valid range. The range of valid ports is "
               f"{node_ports}")
    if ok:
        allocator.check_ranges(wanted)  # what a dry run checks
        await allocator.on_create(wanted)
        assert await allocator.ports.allocated() == {port}
        return
    with pytest.raises(errors.Invalid) as e:
        allocator.check_ranges(wanted)
    assert e.value.message == message
    with pytest.raises(errors.Invalid) as e:
        await allocator.on_create(wanted)
    assert e.value.message == message
