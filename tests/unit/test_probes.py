"""Probes against real local servers (HTTP, HTTPS, TCP, gRPC health), and their timing."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from node.agent.podworker import Observed, ProbeResults
from node.agent.probes import (
    LIVENESS,
    READINESS,
    STARTUP,
    ContainerProbes,
    ProbeManager,
    ProbeTracker,
    failure_event,
    run_probe,
)
from node.runtime.interface import (
    ContainerState,
    ContainerStatus,
    ExecResult,
    PodRef,
    SandboxState,
    SandboxStatus,
)

pytestmark = pytest.mark.usefixtures("no_task_left_running")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HTTPServer:
    port: int
    requests: list[list[str]] = field(default_factory=list)
    handlers: list[asyncio.Task[Any]] = field(default_factory=list)


async def stop(srv: asyncio.Server, holder: HTTPServer) -> None:
    srv.close()
    for t in holder.handlers:
        t.cancel()
    await asyncio.gather(*holder.handlers, return_exceptions=True)
    await srv.wait_closed()


async def _handle(server: HTTPServer, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    task = asyncio.current_task()
    assert task is not None
    server.handlers.append(task)
    lines = []
    while (line := await reader.readline()) not in (b"\r\n", b""):
        lines.append(line.decode().rstrip("\r\n"))
    server.requests.append(lines)
    path = lines[0].split(" ")[1] if lines else "/"
    status, extra = {
        "/ok": (200, ""), "/fail": (500, ""), "/notfound": (404, ""), "/created": (204, ""),
        "/moved": (302, "Location: /ok\r\n"), "/moved-bad": (301, "Location: /fail\r\n"),
        "/away": (302, "Location: http://elsewhere.invalid/\r\n"),
        "/loop": (302, "Location: /loop\r\n"),
    }.get(path, (200, ""))
    if path == "/slow":
        await asyncio.sleep(5)
    writer.write(f"HTTP/1.1 {status} X\r\n{extra}Content-Length: 2\r\n\r\nok".encode())
    await writer.drain()
    writer.close()


@pytest.fixture
async def http_server() -> AsyncIterator[HTTPServer]:
    holder = HTTPServer(0)
    srv = await asyncio.start_server(lambda r, w: _handle(holder, r, w), "127.0.0.1", 0)
    holder.port = srv.sockets[0].getsockname()[1]
    yield holder
    await stop(srv, holder)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem"), "-days", "1", "-subj", "/CN=pod"],
                   check=True, capture_output=True)
    yield d / "cert.pem", d / "key.pem"


@pytest.fixture
async def https_server(cert: tuple[Path, Path]) -> AsyncIterator[HTTPServer]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    holder = HTTPServer(0)
    srv = await asyncio.start_server(lambda r, w: _handle(holder, r, w), "127.0.0.1", 0,
                                     ssl=ctx)
    holder.port = srv.sockets[0].getsockname()[1]
    yield holder
    await stop(srv, holder)


async def no_exec(cmd: list[str], timeout: float) -> ExecResult:
    raise AssertionError("exec not expected")


async def probe(spec: dict[str, Any], ports: dict[str, int] | None = None,
                exec_fn: Any = no_exec) -> tuple[bool, str]:
    return await run_probe(spec, pod_ip="127.0.0.1", exec_fn=exec_fn,
                           container_ports=ports or {})


# ---- httpGet ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "ok", "output"), [
    ("/ok", True, ""),
    ("/created", True, ""),
    ("/fail", False, "HTTP probe failed with statuscode: 500"),
    ("/notfound", False, "HTTP probe failed with statuscode: 404"),
    ("/moved", True, ""),
    ("/moved-bad", False, "HTTP probe failed with statuscode: 500"),
    ("/away", True, "Probe terminated redirects"),
])
async def test_http_get(http_server: HTTPServer, path: str, ok: bool, output: str) -> None:
    assert await probe({"httpGet": {"path": path, "port": http_server.port}}) == (ok, output)


async def test_http_redirect_loop(http_server: HTTPServer) -> None:
    ok, output = await probe({"httpGet": {"path": "/loop", "port": http_server.port}})
    assert not ok
    assert output == f'Get "http://127.0.0.1:{http_server.port}/loop": stopped after 10 redirects'


async def test_http_request_shape(http_server: HTTPServer) -> None:
    await probe({"httpGet": {"path": "/ok", "port": "web", "httpHeaders": [
        {"name": "X-Custom", "value": "1"}]}}, ports={"web": http_server.port})
    await probe({"httpGet": {"path": "ok", "port": str(http_server.port),
                             "httpHeaders": [{"name": "Host", "value": "app.example"},
                                             {"name": "User-Agent", "value": "mine"}]}})
    first, second = http_server.requests
    assert first[0] == "GET /ok HTTP/1.1"
    assert f"Host: 127.0.0.1:{http_server.port}" in first
    assert "User-Agent: kube-probe/1.31" in first and "Accept: */*" in first
    assert "X-Custom: 1" in first
    assert "Host: app.example" in second and "User-Agent: mine" in second
    assert "User-Agent: kube-probe/1.31" not in second


async def test_http_timeout(http_server: HTTPServer) -> None:
    ok, output = await probe({"httpGet": {"path": "/slow", "port": http_server.port},
                              "timeoutSeconds": 0.2})
    assert not ok
    assert output == (f'Get "http://127.0.0.1:{http_server.port}/slow": context deadline '
                      f"exceeded (Client.Timeout exceeded while awaiting headers)")


async def test_http_connection_refused() -> None:
    port = free_port()
    ok, output = await probe({"httpGet": {"path": "/healthz", "port": port}})
    assert not ok
    assert output == (f'Get "http://127.0.0.1:{port}/healthz": dial tcp 127.0.0.1:{port}: '
                      f"connect: connection refused")


async def test_https_without_verification(https_server: HTTPServer) -> None:
    spec = {"httpGet": {"scheme": "HTTPS", "path": "/ok", "port": https_server.port}}
    assert await probe(spec) == (True, "")
    spec["httpGet"]["path"] = "/fail"
    assert await probe(spec) == (False, "HTTP probe failed with statuscode: 500")


@pytest.mark.parametrize(("port", "output"), [
    ("metrics", "port metrics not found"),
    (0, "invalid port number: 0"),
    (70000, "invalid port number: 70000"),
])
async def test_bad_ports(port: Any, output: str) -> None:
    assert await probe({"httpGet": {"path": "/", "port": port}}) == (False, output)
    assert await probe({"tcpSocket": {"port": port}}) == (False, output)


# ---- tcpSocket ---------------------------------------------------------------------------------


async def test_tcp_socket() -> None:
    srv = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        assert await probe({"tcpSocket": {"port": port}}) == (True, "")
        assert await probe({"tcpSocket": {"port": "db"}}, ports={"db": port}) == (True, "")
        assert await probe({"tcpSocket": {"host": "127.0.0.1", "port": port}}) == (True, "")
    finally:
        srv.close()
        await srv.wait_closed()
    assert await probe({"tcpSocket": {"port": port}}) == (
        False, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


# ---- exec --------------------------------------------------------------------------------------


async def test_exec() -> None:
    calls: list[tuple[list[str], float]] = []

    def runner(code: int, out: bytes = b"", err: bytes = b"") -> Any:
        async def fn(cmd: list[str], timeout: float) -> ExecResult:
            calls.append((cmd, timeout))
            return ExecResult(code, out, err)
        return fn

    spec = {"exec": {"command": ["cat", "/tmp/healthy"]}, "timeoutSeconds": 3}
    assert await probe(spec, exec_fn=runner(0, b"fine\n")) == (True, "fine\n")
    assert await probe(spec, exec_fn=runner(1, b"", b"cat: can't open '/tmp/healthy': "
                                            b"No such file or directory\n")) == \
        (False, "cat: can't open '/tmp/healthy': No such file or directory\n")
    assert calls[0] == (["cat", "/tmp/healthy"], 3.0)

    async def slow(cmd: list[str], timeout: float) -> ExecResult:
        raise TimeoutError

    assert await probe(spec, exec_fn=slow) == (False, 'command "cat /tmp/healthy" timed out')


def test_failure_event() -> None:
    assert failure_event(LIVENESS, "HTTP probe failed with statuscode: 500") == \
        "Liveness probe failed: HTTP probe failed with statuscode: 500"
    assert failure_event(READINESS, "dial tcp 10.0.0.1:8080: connect: connection refused") == \
        "Readiness probe failed: dial tcp 10.0.0.1:8080: connect: connection refused"


# ---- grpc --------------------------------------------------------------------------------------


async def test_grpc_health() -> None:
    server = grpc.aio.server()
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        await health.set("down", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert await probe({"grpc": {"port": port}}) == (True, "service healthy")
        assert await probe({"grpc": {"port": port, "service": "down"}}) == (
            False, 'service unhealthy (responded with "NOT_SERVING")')
        ok, output = await probe({"grpc": {"port": port, "service": "nope"}})
        assert not ok
        assert output.startswith("error: health rpc probe failed: rpc error: code = NotFound "
                                 "desc = ")
    finally:
        await server.stop(None)


async def test_grpc_without_health_service() -> None:
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        ok, output = await probe({"grpc": {"port": port}})
        assert not ok
        assert output.startswith("error: this server does not implement the grpc health "
                                 "protocol (grpc.health.v1.Health)")
    finally:
        await server.stop(None)


async def test_grpc_nothing_listening() -> None:
    port = free_port()
    ok, output = await probe({"grpc": {"port": port}, "timeoutSeconds": 0.3})
    assert (ok, output) == (False, f'timeout: failed to connect service "127.0.0.1:{port}" '
                                   f"within 0.3s: context deadline exceeded")


# ---- ProbeTracker timing -------------------------------------------------------------------------


def run_table(tracker: ProbeTracker, steps: list[tuple[float, bool | None, bool, bool | None]],
              started: bool = True) -> None:
    """steps: (now, outcome if probed, expected due, expected result after)."""
    for now, outcome, due, result in steps:
        assert tracker.due(now, started=started) == due, f"due at {now}"
        if due and outcome is not None:
            tracker.record(outcome, now)
        assert tracker.result == result, f"result at {now}"


def test_initial_delay_and_period() -> None:
    t = ProbeTracker({"initialDelaySeconds": 5, "periodSeconds": 10}, READINESS, started_at=100)
    run_table(t, [(100, None, False, None), (104.9, None, False, None),
                  (105, True, True, True), (110, None, False, True), (114.9, None, False, True),
                  (115, False, True, True), (125, False, True, True), (135, False, True, False)])
    assert t.next_due() == 145


def test_success_threshold() -> None:
    t = ProbeTracker({"periodSeconds": 1, "successThreshold": 3, "failureThreshold": 1},
                     READINESS, started_at=0)
    run_table(t, [(0, True, True, None), (1, True, True, None), (2, False, True, False),
                  (3, True, True, False), (4, True, True, False), (5, True, True, True),
                  (6, False, True, False)])


def test_liveness_failure_threshold_then_hold() -> None:
    t = ProbeTracker({"periodSeconds": 2, "failureThreshold": 3}, LIVENESS, started_at=0)
    run_table(t, [(0, False, True, None), (2, True, True, True), (4, False, True, True),
                  (6, False, True, True), (8, False, True, False),
                  (10, None, False, False), (100, None, False, False)])
    assert t.on_hold


def test_defaults() -> None:
    t = ProbeTracker({}, LIVENESS, started_at=0)
    assert (t.initial_delay, t.period, t.timeout, t.success_threshold,
            t.failure_threshold) == (0, 10, 1, 1, 3)


def test_liveness_and_readiness_wait_for_startup() -> None:
    container = {"name": "app",
                 "startupProbe": {"periodSeconds": 1, "failureThreshold": 30},
                 "livenessProbe": {"periodSeconds": 5},
                 "readinessProbe": {"periodSeconds": 5}}
    cp = ContainerProbes.for_container(container, "c1", started_at=0)
    assert [t.kind for t in cp.due(0)] == [STARTUP]
    assert not cp.started and not cp.ready
    cp.trackers[STARTUP].record(False, 0)
    assert [t.kind for t in cp.due(1)] == [STARTUP]
    cp.trackers[STARTUP].record(True, 1)
    assert cp.started and not cp.ready
    assert sorted(t.kind for t in cp.due(1)) == [LIVENESS, READINESS]  # startup stops
    cp.trackers[READINESS].record(True, 1)
    cp.trackers[LIVENESS].record(True, 1)
    assert cp.ready and cp.failed is None
    assert cp.due(2) == [] and cp.next_due() == 6


def test_startup_failure_means_restart() -> None:
    cp = ContainerProbes.for_container({"startupProbe": {"failureThreshold": 2},
                                        "livenessProbe": {}}, "c1", started_at=0)
    cp.trackers[STARTUP].record(False, 0)
    assert cp.failed is None
    cp.trackers[STARTUP].record(False, 10)
    assert cp.failed == STARTUP and cp.due(100) == [] and cp.next_due() is None


def test_no_probes_means_started_and_ready() -> None:
    cp = ContainerProbes.for_container({"name": "app"}, "c1", started_at=0)
    assert cp.started and cp.ready and cp.due(0) == [] and cp.next_due() is None


# ---- ProbeManager --------------------------------------------------------------------------------


class ExecRuntime:
    def __init__(self, codes: dict[str, int]) -> None:
        self.codes = codes

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        return ExecResult(self.codes[cmd[0]], b"", b"boom" if self.codes[cmd[0]] else b"")


async def test_probe_manager_reports_results_and_events() -> None:
    ref = PodRef("u-1", "default", "web-1")
    pod = {"metadata": {"uid": "u-1", "name": "web-1", "namespace": "default"},
           "spec": {"containers": [
               {"name": "app", "readinessProbe": {"exec": {"command": ["ready"]}}},
               {"name": "side", "livenessProbe": {"exec": {"command": ["live"]},
                                                  "failureThreshold": 1}},
               {"name": "plain"}]}}
    observed = Observed(
        sandboxes=[SandboxStatus("s1", ref, 0, SandboxState.READY, 0.0, ip="10.0.0.5")],
        containers=[ContainerStatus(f"c-{n}", "s1", ref, n, 0, ContainerState.RUNNING, "i",
                                    started_at=1.0) for n in ("app", "side", "plain")])
    changed: list[str] = []
    events: list[tuple[str, str, str]] = []
    woke = asyncio.Event()

    def on_change(uid: str) -> None:
        changed.append(uid)
        woke.set()

    manager = ProbeManager(ExecRuntime({"ready": 0, "live": 1}), on_change=on_change,  # type: ignore[arg-type]
                           on_event=lambda p, t, r, m: events.append((t, r, m)))
    assert manager.results("u-1") == ProbeResults()
    manager.track(pod, observed)
    try:
        await asyncio.wait_for(woke.wait(), 5)
        for _ in range(50):
            if manager.results("u-1").live_failed:
                break
            await asyncio.sleep(0.02)
        assert manager.results("u-1") == ProbeResults(ready={"app": True},
                                                      live_failed=frozenset({"side"}))
        assert ("Warning", "Unhealthy", "Liveness probe failed: boom") in events
        assert set(changed) == {"u-1"}
        # a new container instance starts over
        observed.containers[1] = ContainerStatus("c-side-2", "s1", ref, "side", 1,
                                                 ContainerState.RUNNING, "i", started_at=2.0)
        manager.track(pod, observed)
        assert manager.results("u-1").live_failed == frozenset()
    finally:
        await manager.stop()
    manager.forget("u-1")
