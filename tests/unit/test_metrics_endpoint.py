"""The shared /metrics endpoint (jota/metrics/server.py) and client-go's workqueue series."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from jota.client.workqueue import WORKQUEUE_BUCKETS, RateLimitingQueue, WorkQueueMetrics
from jota.metrics import MetricsServer, WorkqueueCollector, parse_bind_address
from jota.metrics.server import Response


@pytest.mark.parametrize(("text", "want"), [
    ("127.0.0.1:10257", ("127.0.0.1", 10257)),
    (":10259", ("0.0.0.0", 10259)),
    ("[::1]:8080", ("::1", 8080)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
])
def test_bind_address(text: str, want: tuple[str, int]) -> None:
    assert parse_bind_address(text) == want


@pytest.mark.parametrize("text", ["10257", "host:", "host:port", "h:70000"])
def test_bad_bind_address_names_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="use HOST:PORT"):
        parse_bind_address(text)


async def _get(port: int, request: bytes) -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


async def test_serves_metrics_health_and_routes() -> None:
    registry = CollectorRegistry()
    Counter("jota_test_things", "Things.", registry=registry).inc(3)

    async def sd() -> Response:
        return "application/json", b"[]"

    server = MetricsServer("127.0.0.1", 0, registry=registry, routes={"/sd/x": sd})
    await server.start()
    try:
        status, body = await _get(server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == "HTTP/1.1 200 OK"
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        assert families["jota_test_things"].samples[0].value == 3
        assert await _get(server.port, b"GET /healthz HTTP/1.1\r\n\r\n") == (
            "HTTP/1.1 200 OK", b"ok")
        assert await _get(server.port, b"GET /sd/x?x=1 HTTP/1.1\r\n\r\n") == (
            "HTTP/1.1 200 OK", b"[]")
        assert (await _get(server.port, b"GET /nope HTTP/1.1\r\n\r\n"))[0] == \
            "HTTP/1.1 404 Not Found"
        assert (await _get(server.port, b"POST /metrics HTTP/1.1\r\n\r\n"))[0] == \
            "HTTP/1.1 405 Method Not Allowed"
        assert (await _get(server.port, b"garbage\r\n\r\n"))[0] == "HTTP/1.1 400 Bad Request"
    finally:
        await server.stop()


async def test_a_port_in_use_is_a_clear_error() -> None:
    first = MetricsServer("127.0.0.1", 0, registry=CollectorRegistry())
    await first.start()
    try:
        second = MetricsServer("127.0.0.1", first.port, registry=CollectorRegistry())
        with pytest.raises(OSError, match=f"cannot serve metrics on 127.0.0.1:{first.port}"):
            await second.start()
    finally:
        await first.stop()


def _samples(collector: WorkqueueCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]],
                                                   float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in registry.collect() for s in f.samples}


def test_workqueue_series_with_client_go_names_and_buckets() -> None:
    now = [0.0]
    a = WorkQueueMetrics("replicaset", clock=lambda: now[0])
    b = WorkQueueMetrics("replicaset", clock=lambda: now[0])  # same name: one series
    for key in ("ns/a", "ns/b"):
        a.added(key)
    now[0] = 0.5
    a.got("ns/a")
    now[0] = 0.75
    a.finished("ns/a")
    a.retried()
    b.added("ns/c")
    got = _samples(WorkqueueCollector([a, b]))
    name = (("name", "replicaset"),)
    assert got[("workqueue_depth", name)] == 2
    assert got[("workqueue_adds_total", name)] == 3
    assert got[("workqueue_retries_total", name)] == 1
    assert got[("workqueue_queue_duration_seconds_count", name)] == 1
    assert got[("workqueue_queue_duration_seconds_sum", name)] == 0.5
    assert got[("workqueue_work_duration_seconds_sum", name)] == 0.25
    # Cumulative buckets: 0.5 s is above 0.1 and within 1.
    le = {s[1][0][1]: v for s, v in got.items()
          if s[0] == "workqueue_queue_duration_seconds_bucket"}
    assert le["0.1"] == 0 and le["1.0"] == 1 and le["+Inf"] == 1
    assert len(le) == len(WORKQUEUE_BUCKETS) + 1


async def test_named_queues_register_themselves() -> None:
    queue = RateLimitingQueue("jota-test-queue")
    queue.add("ns/x")
    got = _samples(WorkqueueCollector())
    assert got[("workqueue_depth", (("name", "jota-test-queue"),))] == 1
    queue.shut_down()
