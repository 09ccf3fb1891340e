"""DNS over UDP and TCP on asyncio: answer from the index, forward everything else.

Messages are parsed and built by dnspython; the records come from `answers.answer`.
A UDP answer too big for the client's buffer (512 bytes, or its EDNS size) goes back
truncated (TC), so the client asks again over TCP, as RFC 1035 has it: a headless
Service with a hundred pods still resolves. Names outside the cluster domain go to the
upstream servers in order (CoreDNS's `forward . /etc/resolv.conf`); when none answers,
SERVFAIL. An ExternalName's CNAME gets its target's addresses from upstream too, as
CoreDNS adds them, since a stub resolver would not chase it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import struct
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset

from controlplane.dns.answers import Answer, Zone, answer
from controlplane.dns.index import Index

logger = logging.getLogger("jota-dns")

UDP_DEFAULT_SIZE = 512
TCP_IDLE_TIMEOUT = 10.0
FORWARD_TIMEOUT = 2.0


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Upstream:
        """`1.2.3.4`, `1.2.3.4:5353`, `[fd00::1]:53` or `fd00::1`; ValueError otherwise."""
        text = text.strip()
        host, port = text, "53"
        if text.startswith("["):
            host, _, port = text[1:].partition("]:")
            host = host.rstrip("]")
        elif text.count(":") == 1:
            host, _, port = text.partition(":")
        number = int(port or 53)
        if not 0 < number < 65536:
            raise ValueError(f"port {number} out of range")
        return cls(str(ipaddress.ip_address(host)), number)


def resolv_conf_nameservers(text: str) -> list[Upstream]:
    """The `nameserver` lines of a resolv.conf: the default upstreams."""
    out = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) > 1 and fields[0] == "nameserver":
            with contextlib.suppress(ValueError):
                out.append(Upstream.parse(fields[1].split("%", 1)[0]))
    return out


class DNSServer:
    def __init__(self, index: Index, zone: Zone, upstreams: list[Upstream],
                 forward_timeout: float = FORWARD_TIMEOUT) -> None:
        self.index = index
        self.zone = zone
        self.upstreams = upstreams
        self.forward_timeout = forward_timeout
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] = ("", 0)

    # ---- one message ---------------------------------------------------------------------

    async def handle(self, wire: bytes, tcp: bool) -> bytes | None:
        """The response to one query message; None when it cannot be answered at all."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _formerr(wire)
        if query.flags & dns.flags.QR:
            return None  # a response sent to us: never answer it (no loops)
        response = dns.message.make_response(query)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        else:
            q = query.question[0]
            found = answer(q.name, q.rdtype, self.index, self.zone)
            if found is None:
                return await self._forward(query, tcp)
            await self._chase_cname(found, q.rdtype)
            _fill(response, found)
        return _wire(response, query, tcp)

    async def _forward(self, query: dns.message.Message, tcp: bool) -> bytes:
        reply = await self._ask_upstream(query, tcp)
        if reply is None:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            return _wire(response, query, tcp)
        reply.id = query.id
        return _wire(reply, query, tcp)

    async def _ask_upstream(self, query: dns.message.Message, tcp: bool
                            ) -> dns.message.Message | None:
        for up in self.upstreams:
            try:
                if tcp:
                    return await dns.asyncquery.tcp(query, up.host, self.forward_timeout,
                                                    up.port)
                return await dns.asyncquery.udp(query, up.host, self.forward_timeout,
                                                up.port, ignore_unexpected=True)
            except (dns.exception.DNSException, OSError) as e:
                logger.warning("upstream %s:%d failed for %s: %s", up.host, up.port,
                               query.question[0].name if query.question else "?", e)
        return None

    async def _chase_cname(self, found: Answer, qtype: int) -> None:
        """An ExternalName's target, resolved upstream for A/AAAA questions."""
        if qtype not in (dns.rdatatype.A, dns.rdatatype.AAAA) or not found.answer:
            return
        rrset = found.answer[-1]
        if rrset.rdtype != dns.rdatatype.CNAME:
            return
        target = rrset[0].target
        if target.is_subdomain(self.zone.origin):
            return
        query = dns.message.make_query(target, dns.rdatatype.RdataType.make(qtype))
        reply = await self._ask_upstream(query, False)
        if reply is not None:
            found.answer.extend(reply.answer)

    # ---- sockets -------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        """Listen on UDP and TCP `host:port` (port 0: a free one, the same for both)."""
        loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._serve_tcp, host, port)
        port = self._tcp.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UDP(self), local_addr=(host, port))
        self._udp = transport
        self.address = (host, port)
        logger.info("serving DNS for %s on %s:%d (udp, tcp)", self.zone.origin, host, port)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.create_task(self._answer_udp(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply = await self.handle(data, tcp=False)
        except Exception:
            logger.exception("failed to answer a query from %s", addr)
            return
        if reply is not None and self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(reply, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                (size,) = struct.unpack("!H", head)
                data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_TIMEOUT)
                reply = await self.handle(data, tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        except Exception:
            logger.exception("failed to answer over TCP")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._spawn_udp(data, addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("udp error: %s", exc)


def _fill(response: dns.message.Message, found: Answer) -> None:
    response.flags |= dns.flags.AA
    response.set_rcode(dns.rcode.Rcode.make(found.rcode))
    response.answer = list(found.answer)
    response.authority = list(found.authority)
    response.additional = list(found.additional)


def _wire(response: dns.message.Message, query: dns.message.Message, tcp: bool) -> bytes:
    """The response as bytes; over UDP cut to the client's size with TC set."""
    if tcp:
        return response.to_wire()
    limit = max(query.payload, UDP_DEFAULT_SIZE) if query.edns >= 0 else UDP_DEFAULT_SIZE
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.flags |= dns.flags.TC
        response.answer, response.authority, response.additional = [], [], []
        return response.to_wire(max_size=limit)


def _formerr(wire: bytes) -> bytes | None:
    """FORMERR echoing the id of a message that did not parse, when it has a header."""
    if len(wire) < 12:
        return None
    (qid, flags) = struct.unpack("!HH", wire[:4])
    if flags & dns.flags.QR:
        return None
    reply_flags = dns.flags.QR | (flags & dns.flags.RD) | dns.rcode.FORMERR
    return struct.pack("!HHHHHH", qid, reply_flags, 0, 0, 0, 0)
