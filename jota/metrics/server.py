"""The one HTTP endpoint every Jota daemon serves `/metrics` (and `/healthz`) on.

A tiny HTTP/1.0-style server on the daemon's own asyncio loop rather than
prometheus_client's threaded WSGI server: custom collectors (the workqueues,
kube-state-metrics over the informers' stores) read structures that only the
event loop mutates, so a scrape must run on the loop too, between two awaits,
or it would see a dict change size under it. A scrape answers GET only, closes
the connection after one response, and never raises into the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

# No `*_created` series: Kubernetes' components do not expose them, and they would
# double the series of every counter and histogram.
disable_created_metrics()  # type: ignore[no-untyped-call]

Response = tuple[str, bytes]  # content type, body
Handler = Callable[[], Awaitable[Response]]
MAX_REQUEST = 8192
READ_TIMEOUT = 10.0


def parse_bind_address(text: str) -> tuple[str, int]:
    """`127.0.0.1:10257`, `[::1]:10257` or `:10257` (all addresses) -> (host, port).

    Raises ValueError naming the problem, for argparse to print.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid bind address {text!r}: use HOST:PORT, e.g. 127.0.0.1:10257 "
                         f"(port 0 turns the endpoint off)")
    return host.strip("[]") or "0.0.0.0", int(port)


class MetricsServer:
    """Serves `/metrics` from `registry`, `/healthz`, and any extra `routes`."""

    def __init__(self, host: str, port: int, *, registry: CollectorRegistry = REGISTRY,
                 routes: dict[str, Handler] | None = None) -> None:
        self.host = host
        self.port = port
        self.registry = registry
        self.routes: dict[str, Handler] = {"/metrics": self._metrics, "/healthz": _ok,
                                           **(routes or {})}
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; an address in use is an OSError naming it (the daemon exits, as kube's)."""
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as e:
            raise OSError(f"cannot serve metrics on {self.host}:{self.port}: {e.strerror}"
                          ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("serving metrics", extra={"address": f"http://{self.address}/metrics"})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _metrics(self) -> Response:
        return CONTENT_TYPE_LATEST, generate_latest(self.registry)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            status, ctype, body = await self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            writer.close()
            return
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _answer(self, head: bytes) -> tuple[str, str, bytes]:
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3 or len(head) > MAX_REQUEST:
            return "400 Bad Request", "text/plain", b"bad request\n"
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"only GET\n"
        handler = self.routes.get(target)
        if handler is None:
            return "404 Not Found", "text/plain", f"{target} not found\n".encode()
        try:
            ctype, body = await handler()
        except Exception:
            logger.exception("error serving %s", target)
            return "500 Internal Server Error", "text/plain", b"internal error\n"
        return "200 OK", ctype, body


async def _ok() -> Response:
    return "text/plain; charset=utf-8", b"ok"


async def start_metrics_server(bind: str, *, registry: CollectorRegistry = REGISTRY,
                               routes: dict[str, Handler] | None = None
                               ) -> MetricsServer | None:
    """Start serving on `bind` (HOST:PORT); None when the port is 0 (turned off)."""
    host, port = parse_bind_address(bind)
    if port == 0:
        return None
    server = MetricsServer(host, port, registry=registry, routes=routes)
    await server.start()
    return server
