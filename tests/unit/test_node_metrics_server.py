"""The node's metrics port: it starts without asking DNS anything (in a node VM of
`jota local up` no DNS server answers, and a name lookup there held the agent's start
for two resolver timeouts, ten seconds), and callers that fail are a log line, never a
traceback in the agent's log."""

from __future__ import annotations

import logging
import socket
import ssl
import time
import urllib.request
from pathlib import Path

import pytest

from jota import pki
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


def test_callers_that_hang_up_or_fail_tls_are_a_log_line_not_a_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    ca = pki.new_ca()
    pair = pki.issue(ca, "node-1", hosts=["127.0.0.1"], server=True, client=False)
    (tmp_path / "ca.crt").write_bytes(ca.cert)
    (tmp_path / "tls.crt").write_bytes(pair.cert)
    (tmp_path / "tls.key").write_bytes(pair.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH,
                                         cafile=str(tmp_path / "ca.crt"))
    context.load_cert_chain(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
    context.verify_mode = ssl.CERT_REQUIRED
    collector = Collector(lambda: ([], []), Machine(cpus=1, memory_bytes=1 << 30))
    server = MetricsServer("127.0.0.1", 0, collector, AgentMetrics(), context).start()
    caplog.set_level(logging.DEBUG, logger="node.metrics.server")
    try:
        # Plain HTTP to the HTTPS port: the handshake fails in the request's thread.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1024)
        deadline = time.monotonic() + 10
        while "TLS handshake error" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        # A scraper gone while the answer was written (its scrape timeout passed).
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            server.httpd.handle_error(None, ("127.0.0.1", 40000))
    finally:
        server.stop()
    assert "TLS handshake error from 127.0.0.1" in caplog.text
    assert "127.0.0.1 went away: [Errno 32] Broken pipe" in caplog.text
    assert "Traceback" not in capsys.readouterr().err + caplog.text
