"""jota-dns's message handling and flags, without sockets: bytes in, bytes out."""

from __future__ import annotations

import argparse

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from controlplane.dns.answers import Zone
from controlplane.dns.index import build
from controlplane.dns.main import build_parser
from controlplane.dns.server import DNSServer, Upstream, resolv_conf_nameservers

NAME = "many.default.svc.cluster.local."


def server() -> DNSServer:
    svc = {"metadata": {"name": "many", "namespace": "default"}, "spec": {"clusterIP": "None"}}
    es = {"metadata": {"namespace": "default", "name": "many-1",
                       "labels": {"kubernetes.io/service-name": "many"}},
          "endpoints": [{"addresses": [f"10.244.0.{i}"]} for i in range(1, 101)]}
    return DNSServer(build([svc], [es]), Zone.of("cluster.local"), upstreams=[])


async def ask(query: dns.message.Message, tcp: bool = False) -> dns.message.Message:
    wire = await server().handle(query.to_wire(), tcp)
    assert wire is not None
    return dns.message.from_wire(wire)


async def test_too_big_for_udp_is_truncated_and_whole_over_tcp() -> None:
    msg = await ask(dns.message.make_query(NAME, "A"))
    assert msg.flags & dns.flags.TC and not msg.answer
    msg = await ask(dns.message.make_query(NAME, "A"), tcp=True)
    assert sum(len(r) for r in msg.answer) == 100
    # a client announcing a 4096-byte buffer (EDNS) gets all of it over UDP
    msg = await ask(dns.message.make_query(NAME, "A", use_edns=0, payload=4096))
    assert not msg.flags & dns.flags.TC and sum(len(r) for r in msg.answer) == 100


async def test_answers_are_authoritative_and_echo_the_id() -> None:
    query = dns.message.make_query(NAME, "A", use_edns=0, payload=4096)
    msg = await ask(query)
    assert msg.id == query.id and msg.flags & dns.flags.AA and msg.flags & dns.flags.QR


async def test_no_upstream_is_servfail() -> None:
    msg = await ask(dns.message.make_query("www.example.test.", "A"))
    assert msg.rcode() == dns.rcode.SERVFAIL


async def test_other_opcodes_are_not_implemented() -> None:
    query = dns.message.make_query(NAME, "A")
    query.set_opcode(dns.opcode.NOTIFY)
    assert (await ask(query)).rcode() == dns.rcode.NOTIMP


async def test_garbage_and_responses() -> None:
    s = server()
    reply = await s.handle(b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03", False)
    assert reply is not None and reply[:2] == b"\xab\xcd" and reply[3] & 0xF == 1  # FORMERR
    assert await s.handle(b"\x00\x01", False) is None  # no header: nothing to answer
    response = dns.message.make_response(dns.message.make_query(NAME, "A"))
    assert await s.handle(response.to_wire(), False) is None  # never answer an answer


@pytest.mark.parametrize(("text", "want"), [
    ("10.0.0.1", Upstream("10.0.0.1", 53)), ("127.0.0.1:5353", Upstream("127.0.0.1", 5353)),
    ("[fd00::1]:53", Upstream("fd00::1", 53)), ("fd00::1", Upstream("fd00::1", 53))])
def test_upstream_parse(text: str, want: Upstream) -> None:
    assert Upstream.parse(text) == want


@pytest.mark.parametrize("text", ["dns.example", "1.2.3.4:abc", "1.2.3.4:70000", ""])
def test_bad_upstreams(text: str) -> None:
    with pytest.raises(ValueError):
        Upstream.parse(text)


def test_resolv_conf_nameservers() -> None:
    text = ("# comment\nnameserver 10.0.0.2\nsearch corp\nnameserver fe80::1%eth0\n"
            "nameserver bogus\noptions ndots:2\n")
    assert resolv_conf_nameservers(text) == [Upstream("10.0.0.2"), Upstream("fe80::1")]


def test_flags() -> None:
    args = build_parser().parse_args(["--listen", "172.31.0.1:53", "--upstream",
                                      "127.0.0.1:5353,10.0.0.1"])
    assert args.listen == ("172.31.0.1", 53)
    assert args.upstream == [Upstream("127.0.0.1", 5353), Upstream("10.0.0.1")]
    assert build_parser().parse_args([]).upstream is None  # the resolv.conf's
    assert build_parser().parse_args(["--upstream", ""]).upstream == []  # none


@pytest.mark.parametrize("argv", [["--listen", "53"], ["--listen", "x:y"],
                                  ["--upstream", "dns.example"]])
def test_bad_flags_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    assert "invalid" in capsys.readouterr().err
    assert isinstance(build_parser(), argparse.ArgumentParser)
