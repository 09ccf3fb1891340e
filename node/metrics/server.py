"""The agent's metrics port, 10255: plain HTTP as kubelet's read-only port, or HTTPS
asking for a client certificate where the cluster runs TLS.

    /metrics/cadvisor   containers' cgroup figures, cAdvisor's families
    /metrics/resource   what metrics-server reads (kubelet's resource metrics)
    /metrics            the agent's own metrics (pod start latency, running pods, process)
    /healthz            "ok"

A standard-library HTTP server in threads of its own: a scrape reads cgroup files
and renders text without ever blocking the agent's event loop, and the only thing
it asks the loop for is the runtime listing the agent already keeps.
"""

from __future__ import annotations

import asyncio
import logging
import socketserver
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import generate_latest

from node.metrics.collector import Collector, View
from node.metrics.families import cadvisor_families, render, resource_families
from node.metrics.kubelet import AgentMetrics
from node.runtime.interface import ContainerStatus, SandboxStatus

logger = logging.getLogger(__name__)

DEFAULT_METRICS_PORT = 10255
LIST_TIMEOUT = 10.0
# The text format both writers produce (prometheus_client's constant names a newer one).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _HTTPServer(ThreadingHTTPServer):
    """HTTPServer.server_bind looks the address's name up (socket.getfqdn): where no DNS
    server answers, as in a node VM of `jota local up`, that held the agent's start for
    ten seconds (two resolver timeouts). The name is only for CGI's SERVER_NAME."""

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        """A caller gone (a scraper past its scrape timeout hangs up) or one that failed
        the TLS handshake (no certificate of the cluster's CA) is the caller's problem:
        a line, as kubelet's "http: TLS handshake error", not socketserver's traceback."""
        error = sys.exc_info()[1]
        peer = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(error, ssl.SSLError):
            logger.info("metrics: TLS handshake error from %s: %s", peer, error)
        elif isinstance(error, OSError):
            logger.debug("metrics: %s went away: %s", peer, error)
        else:
            logger.error("metrics: request from %s failed", peer, exc_info=error)


def loop_view(loop: asyncio.AbstractEventLoop,
              listing: Callable[[], Awaitable[tuple[list[SandboxStatus],
                                                    list[ContainerStatus]]]]) -> View:
    """A `View` for other threads: runs the agent's listing coroutine on its loop."""
    def view() -> tuple[list[SandboxStatus], list[ContainerStatus]]:
        async def call() -> tuple[list[SandboxStatus], list[ContainerStatus]]:
            return await listing()
        return asyncio.run_coroutine_threadsafe(call(), loop).result(LIST_TIMEOUT)
    return view


class MetricsServer:
    """Serves the endpoints on (host, port) until `stop()`."""

    def __init__(self, host: str, port: int, collector: Collector, agent: AgentMetrics,
                 tls: ssl.SSLContext | None = None) -> None:
        routes: dict[str, Callable[[], bytes]] = {
            "/metrics/cadvisor": lambda: render(cadvisor_families(collector.snapshot())),
            "/metrics/resource": lambda: render(resource_families(collector.snapshot())),
            "/metrics": lambda: generate_latest(agent.registry),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(200, b"ok", "text/plain; charset=utf-8")
                    return
                produce = routes.get(path)
                if produce is None:
                    self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
                    return
                try:
                    body = produce()
                except Exception as e:
                    logger.exception("metrics endpoint %s failed", path)
                    self._send(500, f"{e}\n".encode(), "text/plain; charset=utf-8")
                    return
                self._send(200, body, CONTENT_TYPE)

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                logger.debug("metrics: " + format, *args)

        try:
            self.httpd = _HTTPServer((host, port), Handler)
        except OSError as e:
            raise OSError(e.errno, f"cannot serve metrics on {host}:{port} (--metrics-port): "
                                   f"{e.strerror}") from None
        if tls is not None:
            # The handshake runs in each request's own thread (on its first read), so a
            # slow or silent client never holds up the accept loop.
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True,
                                                do_handshake_on_connect=False)
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http",
                                        daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        logger.info("metrics served on port %d", self.port)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
