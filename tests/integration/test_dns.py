"""jota-dns as a process against the real apiserver, asked over loopback with dnspython.

Names outside the cluster go to a fake upstream on loopback (a dnspython server in
this test): nothing is ever sent off this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest

from controlplane.dns import service as kube_dns
from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon, start_dns

pytestmark = pytest.mark.integration

ZONE = "cluster.local"


class FakeUpstream(asyncio.DatagramProtocol):
    """Answers every A question with 192.0.2.1 (TEST-NET-1), counting the questions."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.asked: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        q = query.question[0]
        self.asked.append(q.name.to_text())
        response = dns.message.make_response(query)
        if q.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(q.name, 60, "IN", "A", "192.0.2.1"))
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[FakeUpstream, int]]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(FakeUpstream,
                                                           local_addr=("127.0.0.1", 0))
    yield proto, transport.get_extra_info("sockname")[1]
    transport.close()


@pytest.fixture
def dns_server(apiserver: Daemon, tmp_path: Path, request: pytest.FixtureRequest
               ) -> Iterator[Daemon]:
    up = getattr(request, "param", "")
    daemon = start_dns(apiserver.address, tmp_path, upstream=up)
    yield daemon
    daemon.stop()
    log = daemon.log.read_text()
    assert "Traceback" not in log, log[-4000:]


def _where(daemon: Daemon) -> tuple[str, int]:
    host, _, port = daemon.address.rpartition(":")
    return host, int(port)


async def ask(daemon: Daemon, name: str, rdtype: str = "A", tcp: bool = False
              ) -> dns.message.Message:
    host, port = _where(daemon)
    q = dns.message.make_query(name, rdtype)
    if tcp:
        return await dns.asyncquery.tcp(q, host, timeout=5, port=port)
    return await dns.asyncquery.udp(q, host, timeout=5, port=port)


def records(msg: dns.message.Message, rdtype: str = "A") -> list[str]:
    kind = dns.rdatatype.from_text(rdtype)
    return sorted(r.to_text() for rrset in msg.answer if rrset.rdtype == kind for r in rrset)


async def eventually(daemon: Daemon, name: str, want: Any, rdtype: str = "A",
                     timeout: float = 30.0) -> dns.message.Message:
    """Ask until the answer's records are `want` (a list) or its rcode is `want` (an int)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ask(daemon, name, rdtype)
        got: Any = records(msg, rdtype) if isinstance(want, list) else msg.rcode()
        if got == want:
            return msg
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} {rdtype}: got {got}, want {want}\n{msg}")
        await asyncio.sleep(0.1)


def service(name: str, *, headless: bool = False, ports: list[dict[str, Any]] | None = None,
            **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                         "spec": {"ports": ports or [{"name": "http", "port": 80}], **spec}}
    if headless:
        s["spec"]["clusterIP"] = "None"
    return s


def endpoint_slice(svc: str, endpoints: list[tuple[str, str, bool]],
                   ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A slice for a selector-less Service: (ip, hostname, ready) per endpoint."""
    eps = []
    for ip, hostname, ready in endpoints:
        ep: dict[str, Any] = {"addresses": [ip], "conditions": {"ready": ready}}
        if hostname:
            ep["hostname"] = hostname
        eps.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{svc}-1", "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": eps,
            "ports": ports or [{"name": "http", "port": 8080, "protocol": "TCP"}]}


async def test_service_resolves_as_soon_as_it_is_made(
        dns_server: Daemon, client: Client, namespace: str) -> None:
    name = f"web.{namespace}.svc.{ZONE}."
    msg = await ask(dns_server, name)
    assert msg.rcode() == dns.rcode.NXDOMAIN
    assert msg.authority and msg.authority[0].rdtype == dns.rdatatype.SOA
    svc = await client.create("services", service("web"), namespace)
    ip = svc["spec"]["clusterIP"]
    msg = await eventually(dns_server, name, [ip])
    assert msg.flags & dns.flags.AA
    assert msg.answer[0].ttl == 5
    # the same name asked in capitals, over TCP
    msg = await ask(dns_server, name.upper(), tcp=True)
    assert records(msg) == [ip]
    # a name that exists, asked for a type it has not: NODATA, not NXDOMAIN
    msg = await ask(dns_server, name, "AAAA")
    assert msg.rcode() == dns.rcode.NOERROR and not msg.answer
    # SRV for the named port, PTR for the ClusterIP
    msg = await ask(dns_server, f"_http._tcp.web.{namespace}.svc.{ZONE}.", "SRV")
    assert records(msg, "SRV") == [f"0 100 80 web.{namespace}.svc.{ZONE}."]
    assert [r.to_text() for rr in msg.additional for r in rr] == [ip]
    msg = await ask(dns_server, dns.reversename.from_address(ip).to_text(), "PTR")
    assert records(msg, "PTR") == [f"web.{namespace}.svc.{ZONE}."]
    # the namespace exists: NODATA; an unknown one: NXDOMAIN
    assert (await ask(dns_server, f"{namespace}.svc.{ZONE}.")).rcode() == dns.rcode.NOERROR
    assert (await ask(dns_server, f"nope-{namespace}.svc.{ZONE}.")).rcode() == \
        dns.rcode.NXDOMAIN
    await client.delete("services", "web", namespace)
    await eventually(dns_server, name, dns.rcode.NXDOMAIN)


async def test_headless_service_and_stateful_pod_names(
        dns_server: Daemon, client: Client, namespace: str) -> None:
    await client.create("services", service("nginx", headless=True), namespace)
    name = f"nginx.{namespace}.svc.{ZONE}."
    await eventually(dns_server, name, dns.rcode.NXDOMAIN)  # no ready endpoint yet
    await client.create("endpointslices", endpoint_slice("nginx", [
        ("10.244.1.5", "web-0", True), ("10.244.2.7", "web-1", True),
        ("10.244.3.9", "", False)]), namespace)
    await eventually(dns_server, name, ["10.244.1.5", "10.244.2.7"])
    msg = await ask(dns_server, f"web-1.nginx.{namespace}.svc.{ZONE}.")
    assert records(msg) == ["10.244.2.7"]
    msg = await ask(dns_server, f"_http._tcp.nginx.{namespace}.svc.{ZONE}.", "SRV")
    assert records(msg, "SRV") == [f"0 50 80 web-0.nginx.{namespace}.svc.{ZONE}.",
                                   f"0 50 80 web-1.nginx.{namespace}.svc.{ZONE}."]
    msg = await ask(dns_server, dns.reversename.from_address("10.244.1.5").to_text(), "PTR")
    assert records(msg, "PTR") == [f"web-0.nginx.{namespace}.svc.{ZONE}."]
    # the not-ready endpoint has no name
    msg = await ask(dns_server, f"10-244-3-9.nginx.{namespace}.svc.{ZONE}.")
    assert msg.rcode() == dns.rcode.NXDOMAIN


async def test_big_headless_answer_is_truncated_over_udp_and_whole_over_tcp(
        dns_server: Daemon, client: Client, namespace: str) -> None:
    ips = [f"10.244.9.{i}" for i in range(1, 101)]
    await client.create("services", service("many", headless=True), namespace)
    await client.create("endpointslices",
                        endpoint_slice("many", [(ip, "", True) for ip in ips]), namespace)
    name = f"many.{namespace}.svc.{ZONE}."
    deadline = time.monotonic() + 30
    while not (msg := await ask(dns_server, name)).flags & dns.flags.TC:
        assert time.monotonic() < deadline, msg
        await asyncio.sleep(0.1)
    msg = await ask(dns_server, name, tcp=True)
    assert records(msg) == sorted(ips)


async def test_pod_names_and_schema_version(dns_server: Daemon, namespace: str) -> None:
    msg = await ask(dns_server, f"10-244-1-5.{namespace}.pod.{ZONE}.")
    assert records(msg) == ["10.244.1.5"]
    msg = await ask(dns_server, f"dns-version.{ZONE}.", "TXT")
    assert records(msg, "TXT") == ['"1.1.0"']


async def test_other_names_go_upstream(apiserver: Daemon, tmp_path: Path,
                                       upstream: tuple[FakeUpstream, int]) -> None:
    fake, port = upstream
    daemon = start_dns(apiserver.address, tmp_path, upstream=f"127.0.0.1:{port}")
    try:
        msg = await ask(daemon, "www.example.test.")
        assert records(msg) == ["192.0.2.1"]
        assert fake.asked == ["www.example.test."]
        # an unknown reverse name falls through upstream as well
        await ask(daemon, dns.reversename.from_address("192.0.2.44").to_text(), "PTR")
        assert len(fake.asked) == 2
    finally:
        daemon.stop()
    # with no upstream at all: SERVFAIL, quickly, and the server lives on
    daemon = start_dns(apiserver.address, tmp_path / "none", upstream="")
    try:
        assert (await ask(daemon, "www.example.test.")).rcode() == dns.rcode.SERVFAIL
        assert daemon.alive
    finally:
        daemon.stop()


async def test_external_name_is_a_cname_with_its_target_resolved_upstream(
        apiserver: Daemon, tmp_path: Path, client: Client, namespace: str,
        upstream: tuple[FakeUpstream, int]) -> None:
    _fake, port = upstream
    await client.create("services", {"apiVersion": "v1", "kind": "Service",
                                     "metadata": {"name": "ext"},
                                     "spec": {"type": "ExternalName",
                                              "externalName": "db.example.test"}}, namespace)
    daemon = start_dns(apiserver.address, tmp_path, upstream=f"127.0.0.1:{port}")
    try:
        msg = await ask(daemon, f"ext.{namespace}.svc.{ZONE}.")
        assert records(msg, "CNAME") == ["db.example.test."]
        assert records(msg, "A") == ["192.0.2.1"]
    finally:
        daemon.stop()


async def test_garbage_gets_formerr_and_the_server_lives_on(dns_server: Daemon) -> None:
    host, port = _where(dns_server)
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bytes] = loop.create_future()

    class Once(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not got.done():
                got.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Once, remote_addr=(host, port))
    try:
        transport.sendto(b"\x12\x34\x01\x00\x00\x01garbage")
        reply = await asyncio.wait_for(got, 5)
    finally:
        transport.close()
    assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR
    assert records(await ask(dns_server, f"dns-version.{ZONE}.", "TXT"), "TXT")


async def test_registers_kube_dns_and_leaves_on_stop(apiserver: Daemon, tmp_path: Path,
                                                    client: Client) -> None:
    with contextlib.suppress(Exception):
        await client.delete("services", "kube-dns", "kube-system")
    daemon = start_dns(apiserver.address, tmp_path, advertise_address="127.0.0.1")
    port = int(daemon.address.rpartition(":")[2])
    try:
        deadline = time.monotonic() + 30  # it registers once it serves
        while True:
            with contextlib.suppress(errors.NotFound):
                es = await client.get("endpointslices", "kube-dns", "kube-system")
                if es.get("endpoints"):
                    break
            assert time.monotonic() < deadline, daemon.log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        svc = await client.get("services", "kube-dns", "kube-system")
        assert svc["spec"]["clusterIP"] == "10.96.0.10"
        assert [(p["name"], p["port"], p["protocol"], p["targetPort"])
                for p in svc["spec"]["ports"]] == [("dns", 53, "UDP", port),
                                                   ("dns-tcp", 53, "TCP", port)]
        assert [e["addresses"] for e in es["endpoints"]] == [["127.0.0.1"]]
        assert {p["port"] for p in es["ports"]} == {port}
        # its periodic check writes nothing when all is right, and brings back what went
        ep = await client.get("endpoints", "kube-dns", "kube-system")
        await kube_dns.register(client, "10.96.0.10", "127.0.0.1", port, quiet=True)
        assert (await client.get("endpoints", "kube-dns", "kube-system"))["metadata"][
            "resourceVersion"] == ep["metadata"]["resourceVersion"]
        assert (await client.get("endpointslices", "kube-dns", "kube-system"))["metadata"][
            "resourceVersion"] == es["metadata"]["resourceVersion"]
        await client.delete("endpointslices", "kube-dns", "kube-system")
        await kube_dns.register(client, "10.96.0.10", "127.0.0.1", port, quiet=True)
        es = await client.get("endpointslices", "kube-dns", "kube-system")
        assert [e["addresses"] for e in es["endpoints"]] == [["127.0.0.1"]]
        daemon.stop()
        ep = await client.get("endpoints", "kube-dns", "kube-system")
        assert not ep.get("subsets")
        assert daemon.proc.returncode == 0
    finally:
        daemon.stop()
        for resource in ("services", "endpoints", "endpointslices"):
            with contextlib.suppress(Exception):
                await client.delete(resource, "kube-dns", "kube-system")
