"""The DNS benchmark: jota-dns answering queries over UDP on loopback, 1,000 Services known.

A fresh etcd and apiserver hold 1,000 ClusterIP Services and one headless Service with
10 ready endpoints; jota-dns runs as its own process, as in a cluster. Concurrent
clients (a pod's resolver is one of many) ask it for a Service's A record, a headless
Service's 10 A records, and a name that does not exist (what a search path costs on
every miss). The baseline, in the same run and on the same loopback, is a trivial
dnspython server in its own process answering every question with one fixed A record:
the floor of Python + dnspython + asyncio on this machine, which the index lookup and
the answer logic of jota-dns add to.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import cast

import dns.message
import dns.rcode

from bench import Meter, Op, Result, Section, Table, Verdict, cluster, measure
from bench.stats import fmt_ms, fmt_rate, ratio
from jota.client import Client
from jota.local.processes import Daemon, free_port, start_dns, wait_for_port

SERVICES = 1000
WORKERS = 16
# The answer logic's cost over the floor: CPU per query, not latency, decides it, since
# latency on 2 shared cores follows whatever else runs.
AIM_CPU_RATIO = 1.5
NS = "bench"

FIXED_SERVER = textwrap.dedent("""
    import asyncio, sys
    import dns.message, dns.rrset

    class Fixed(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, addr):
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.answer.append(dns.rrset.from_text(
                query.question[0].name, 5, "IN", "A", "10.96.0.1"))
            self.transport.sendto(response.to_wire(), addr)

    async def main(port):
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(Fixed, local_addr=("127.0.0.1", port))
        # TCP only so that the harness's wait_for_port sees it listening
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        await asyncio.Event().wait()

    asyncio.run(main(int(sys.argv[1])))
""")


class UDPClient(asyncio.DatagramProtocol):
    """One socket, many queries in flight, matched to their answers by message id."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[int, asyncio.Future[dns.message.Message]] = {}
        self.ids = itertools.count(1)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = dns.message.from_wire(data)
        fut = self.waiting.pop(msg.id, None)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    async def ask(self, name: str, rdtype: str = "A") -> dns.message.Message:
        query = dns.message.make_query(name, rdtype)
        query.id = next(self.ids) % 65536
        fut = asyncio.get_running_loop().create_future()
        self.waiting[query.id] = fut
        assert self.transport is not None
        self.transport.sendto(query.to_wire())
        return await asyncio.wait_for(fut, 5)


async def _client(port: int) -> tuple[asyncio.DatagramTransport, UDPClient]:
    transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        UDPClient, remote_addr=("127.0.0.1", port))
    return transport, proto


async def _populate(apiserver: str) -> None:
    async with Client(apiserver) as c:
        await c.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": NS}})
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                await c.create("services", {
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}"},
                    "spec": {"ports": [{"name": "http", "port": 80}]}}, NS)

        await asyncio.gather(*(one(i) for i in range(SERVICES)))
        await c.create("services", {"apiVersion": "v1", "kind": "Service",
                                    "metadata": {"name": "headless"},
                                    "spec": {"clusterIP": "None",
                                             "ports": [{"name": "http", "port": 80}]}}, NS)
        await c.create("endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "headless-1",
                         "labels": {"kubernetes.io/service-name": "headless"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [f"10.244.1.{i}"], "conditions": {"ready": True}}
                          for i in range(1, 11)],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}, NS)


async def _wait_answers(client: UDPClient, name: str, count: int) -> None:
    for _ in range(600):
        msg = await client.ask(name)
        if sum(len(r) for r in msg.answer) == count:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"jota-dns never answered {name} with {count} records")


def _case(client: UDPClient, name: Callable[[int, int], str], rcode: int, records: int
          ) -> Callable[[str], Op]:
    def make(_tag: str) -> Op:
        async def op(w: int, j: int) -> None:
            msg = await client.ask(name(w, j))
            if msg.rcode() != rcode or sum(len(r) for r in msg.answer) != records:
                raise RuntimeError(f"unexpected answer:\n{msg}")
        return op
    return make


def _start_fixed(port: int, log: Path) -> Daemon:
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", FIXED_SERVER, str(port)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return Daemon("fixed", proc, f"127.0.0.1:{port}", log)


async def run(quick: bool) -> Section:
    total, warmup = (2000, 200) if quick else (20000, 1000)
    with cluster() as (_etcd, apiserver), tempfile.TemporaryDirectory(prefix="jota-dns-") as tmp:
        await _populate(apiserver.address)
        dns_daemon = start_dns(apiserver.address, Path(tmp), upstream="")
        port = free_port()
        fixed = _start_fixed(port, Path(tmp) / "fixed.log")
        transports: list[asyncio.DatagramTransport] = []
        try:
            wait_for_port("127.0.0.1", port, 30, fixed.proc, fixed.log)
            t1, jota = await _client(int(dns_daemon.address.rpartition(":")[2]))
            t2, base = await _client(port)
            transports += [t1, t2]
            svc = f".{NS}.svc.cluster.local."
            await _wait_answers(jota, f"svc-{SERVICES - 1}{svc}", 1)
            await _wait_answers(jota, f"headless{svc}", 10)
            cases = {
                "svc": _case(jota, lambda w, j: f"svc-{(w * 7919 + j) % SERVICES}{svc}",
                             dns.rcode.NOERROR, 1),
                "headless": _case(jota, lambda w, j: f"headless{svc}", dns.rcode.NOERROR, 10),
                "nx": _case(jota, lambda w, j: f"nope-{j}{svc}", dns.rcode.NXDOMAIN, 0),
                "fixed": _case(base, lambda w, j: f"svc-{j % SERVICES}{svc}",
                               dns.rcode.NOERROR, 1),
            }
            meter = Meter({"jota-dns": dns_daemon.proc.pid, "fixed": fixed.proc.pid})
            results = await measure(meter, cases, WORKERS, total, warmup)
        finally:
            for t in transports:
                t.close()
            fixed.stop()
            dns_daemon.stop()
            log = dns_daemon.log.read_text()
            if "Traceback" in log:
                print(f"warning: jota-dns logged a traceback:\n{log[-3000:]}")
    return _section(results, total)


def _section(results: dict[str, Result], total: int) -> Section:
    table = Table(f"UDP queries on loopback, {WORKERS} concurrent clients, {total:,} queries "
                  f"per case ({SERVICES:,} Services known)",
                  ["Case", "queries/s", "p50 (ms)", "p99 (ms)", "server CPU (ms/query)",
                   "vs. fixed-answer server (queries/s)"])
    base = results["fixed"]
    rows: list[tuple[str, str, str]] = [
        ("svc", "A of a ClusterIP Service (jota-dns)", "jota-dns"),
        ("headless", "A of a headless Service, 10 endpoints (jota-dns)", "jota-dns"),
        ("nx", "unknown name: NXDOMAIN + SOA (jota-dns)", "jota-dns"),
        ("fixed", "baseline: dnspython server, one fixed A record", "fixed")]
    for key, what, proc in rows:
        r = results[key]
        table.rows.append([what, fmt_rate(r.summary.ops_per_s), fmt_ms(r.summary.p50),
                           fmt_ms(r.summary.p99), f"{r.cpu_ms.get(proc, 0.0):.3f}",
                           f"{ratio(r.summary.ops_per_s, base.summary.ops_per_s):.2f}x"])
    table.notes.append(
        "The client is this benchmark's own process (one UDP socket, queries matched by "
        "id), on the same 2 cores as the servers: the rates are what the machine gives "
        "all three together; the headless case is bounded by the client parsing 10 "
        "records per answer. CoreDNS itself is not installed here, so not compared.")
    svc = results["svc"]
    cpu, base_cpu = svc.cpu_ms.get("jota-dns", 0.0), base.cpu_ms.get("fixed", 0.0)
    verdict = Verdict(f"jota-dns spends at most {AIM_CPU_RATIO}x the CPU per Service lookup "
                      "of a dnspython server answering a fixed record (the index and the "
                      "spec's logic cost little over parsing and building the messages)",
                      cpu <= AIM_CPU_RATIO * base_cpu,
                      f"{cpu:.3f} vs. {base_cpu:.3f} ms/query "
                      f"({ratio(cpu, base_cpu):.2f}x); {fmt_rate(svc.summary.ops_per_s)} "
                      f"queries/s, p99 {fmt_ms(svc.summary.p99)} ms (fixed-answer server: "
                      f"{fmt_rate(base.summary.ops_per_s)} queries/s, p99 "
                      f"{fmt_ms(base.summary.p99)} ms).")
    intro = __doc__.split("\n\n")[0] if __doc__ else ""
    return Section("Cluster DNS (jota-dns)", intro, [table], [verdict])

