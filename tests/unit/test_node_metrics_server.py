"""The node's metrics port starts without asking DNS anything: in a node VM of
`jota local up` no DNS server answers, and a name lookup there held the agent's start
for two resolver timeouts (ten seconds)."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from node.metrics.collector import Collector, Machine
from node.metrics.kubelet import AgentMetrics
from node.metrics.server import MetricsServer


def test_the_metrics_port_starts_and_answers_without_a_name_lookup(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*_args: object) -> str:
        raise AssertionError("the metrics server looked a name up")

    monkeypatch.setattr(socket, "getfqdn", no_dns)
    monkeypatch.setattr(socket, "gethostbyaddr", no_dns)
    collector = Collector(lambda: ([], []), Machine(cpus=1, memory_bytes=1 << 30,
                                                     machine_id="m", boot_id="b"))
    server = MetricsServer("127.0.0.1", 0, collector, AgentMetrics()).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz",
                                    timeout=10) as answer:
            assert answer.read() == b"ok"
    finally:
        server.stop()
