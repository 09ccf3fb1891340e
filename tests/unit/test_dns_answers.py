"""jota-dns's answers (controlplane/dns/answers.py), checked against golden/dns/answers.txt.

Each case is a question asked of one small cluster; the golden file holds every
answer as dig would print its sections. After a deliberate change, regenerate with
`JOTA_UPDATE_GOLDEN=1 pytest tests/unit/test_dns_answers.py` and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dns.name
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest

from controlplane.dns.answers import Answer, Zone, answer
from controlplane.dns.index import Index, build, dashed, service_record, undashed

GOLDEN = Path(__file__).parent / "golden" / "dns" / "answers.txt"
ZONE = Zone.of("cluster.local")


def svc(name: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def eps(service: str, *endpoints: tuple[str, str, bool | None], ns: str = "default",
        name: str = "") -> dict[str, Any]:
    out = []
    for ip, hostname, ready in endpoints:
        ep: dict[str, Any] = {"addresses": [ip]}
        if ready is not None:
            ep["conditions"] = {"ready": ready}
        if hostname:
            ep["hostname"] = hostname
        out.append(ep)
    return {"metadata": {"name": name or f"{service}-x", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "endpoints": out}


HTTP = [{"name": "http", "port": 80, "protocol": "TCP"}]
SERVICES = [
    svc("web", clusterIP="10.96.5.5", clusterIPs=["10.96.5.5"],
        ports=[*HTTP, {"port": 8443}, {"name": "dns", "port": 53, "protocol": "UDP"}]),
    svc("dual", clusterIP="10.96.7.7", clusterIPs=["10.96.7.7", "fd00:10:96::7"], ports=HTTP),
    svc("nginx", clusterIP="None", ports=HTTP),
    svc("lonely", clusterIP="None", ports=HTTP),
    svc("ext", type="ExternalName", externalName="db.example.test"),
    svc("web", ns="other", clusterIP="10.96.9.9", ports=HTTP),
]
SLICES = [
    eps("nginx", ("10.244.1.5", "web-0", True), ("10.244.2.7", "web-1", None)),
    eps("nginx", ("10.244.3.9", "web-2", False), ("10.244.1.8", "", True), name="nginx-y"),
    eps("web", ("10.244.1.20", "", True)),
    eps("lonely", ("10.244.4.4", "", False)),
]


def cluster() -> Index:
    return build(SERVICES, SLICES, namespaces=["default", "other", "empty"])


CASES = [
    ("web.default.svc.cluster.local.", "A"),
    ("WEB.Default.SVC.cluster.local.", "A"),
    ("web.default.svc.cluster.local.", "AAAA"),
    ("web.default.svc.cluster.local.", "TXT"),
    ("web.default.svc.cluster.local.", "SRV"),
    ("_http._tcp.web.default.svc.cluster.local.", "SRV"),
    ("_dns._udp.web.default.svc.cluster.local.", "SRV"),
    ("_dns._tcp.web.default.svc.cluster.local.", "SRV"),
    ("_http._tcp.web.default.svc.cluster.local.", "A"),
    ("10-244-1-20.web.default.svc.cluster.local.", "A"),
    ("web.other.svc.cluster.local.", "A"),
    ("dual.default.svc.cluster.local.", "A"),
    ("dual.default.svc.cluster.local.", "AAAA"),
    ("nginx.default.svc.cluster.local.", "A"),
    ("nginx.default.svc.cluster.local.", "AAAA"),
    ("web-0.nginx.default.svc.cluster.local.", "A"),
    ("web-2.nginx.default.svc.cluster.local.", "A"),
    ("10-244-1-8.nginx.default.svc.cluster.local.", "A"),
    ("_http._tcp.nginx.default.svc.cluster.local.", "SRV"),
    ("lonely.default.svc.cluster.local.", "A"),
    ("ext.default.svc.cluster.local.", "A"),
    ("ext.default.svc.cluster.local.", "CNAME"),
    ("nope.default.svc.cluster.local.", "A"),
    ("default.svc.cluster.local.", "A"),
    ("empty.svc.cluster.local.", "A"),
    ("missing.svc.cluster.local.", "A"),
    ("svc.cluster.local.", "A"),
    ("a.b.web.default.svc.cluster.local.", "A"),
    ("10-244-1-5.default.pod.cluster.local.", "A"),
    ("fd00-10-244--5.default.pod.cluster.local.", "AAAA"),
    ("10-244-1-5.default.pod.cluster.local.", "AAAA"),
    ("not-an-ip.default.pod.cluster.local.", "A"),
    ("dns-version.cluster.local.", "TXT"),
    ("cluster.local.", "SOA"),
    ("cluster.local.", "A"),
    ("www.example.test.", "A"),
    ("5.5.96.10.in-addr.arpa.", "PTR"),
    ("5.1.244.10.in-addr.arpa.", "PTR"),
    ("8.1.244.10.in-addr.arpa.", "PTR"),
    ("9.3.244.10.in-addr.arpa.", "PTR"),
    ("7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", "PTR"),
    ("1.2.0.192.in-addr.arpa.", "PTR"),
]


def render(qname: str, qtype: str, got: Answer | None) -> str:
    head = f";; {qname} {qtype}\n"
    if got is None:
        return head + "not ours: forwarded upstream\n"
    lines = [f"rcode {dns.rcode.to_text(dns.rcode.Rcode.make(got.rcode))}"]
    for title, section in (("answer", got.answer), ("authority", got.authority),
                           ("additional", got.additional)):
        lines += [f";{title}"] + [line for rrset in section
                                  for line in rrset.to_text().splitlines()] if section else []
    return head + "\n".join(lines) + "\n"


def run_all() -> str:
    index = cluster()
    return "\n".join(render(q, t, answer(dns.name.from_text(q), dns.rdatatype.from_text(t),
                                         index, ZONE)) for q, t in CASES)


def test_golden_answers() -> None:
    text = run_all()
    if os.environ.get("JOTA_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_a_change_to_one_service_moves_its_reverse_names() -> None:
    index = cluster()
    before = index.serial
    index.put(service_record(svc("web", clusterIP="10.96.5.6", ports=HTTP), []))
    assert index.serial == before + 1
    assert index.names_of("10.96.5.5") == [] and index.names_of("10.244.1.20") == []
    assert index.names_of("10.96.5.6") == [("default", "web", "")]
    index.remove("default", "web")
    assert index.names_of("10.96.5.6") == [] and index.service("default", "web") is None
    serial = index.serial
    index.put(service_record(SERVICES[5], []))  # unchanged: no new serial
    assert index.serial == serial


def test_shared_reverse_name_survives_one_owner_going() -> None:
    """Two Services selecting one pod both name its IP; removing one keeps the other."""
    index = build([svc("a", clusterIP="None"), svc("b", clusterIP="None")],
                  [eps("a", ("10.244.1.1", "", True)), eps("b", ("10.244.1.1", "", True))])
    index.remove("default", "a")
    assert index.names_of("10.244.1.1") == [("default", "b", "10-244-1-1")]


@pytest.mark.parametrize(("ip", "label"), [("10.244.1.5", "10-244-1-5"),
                                           ("fd00::1", "fd00--1")])
def test_dashed_names_round_trip(ip: str, label: str) -> None:
    assert dashed(ip) == label and undashed(label) == ip


@pytest.mark.parametrize("label", ["1-2-3", "300-1-1-1", "web-0", "", "fd00-1"])
def test_labels_that_name_no_ip(label: str) -> None:
    assert undashed(label) is None


def test_ttl_is_the_zones() -> None:
    got = answer(dns.name.from_text("web.default.svc.cluster.local."), dns.rdatatype.A,
                 cluster(), Zone.of("cluster.local", ttl=30))
    assert got is not None and got.answer[0].ttl == 30


def test_other_cluster_domain() -> None:
    zone = Zone.of("corp.example")
    index = cluster()
    got = answer(dns.name.from_text("web.default.svc.corp.example."), dns.rdatatype.A,
                 index, zone)
    assert got is not None and [r.to_text() for r in got.answer[0]] == ["10.96.5.5"]
    assert answer(dns.name.from_text("web.default.svc.cluster.local."), dns.rdatatype.A,
                  index, zone) is None
