"""jota-ingress as a process against the real apiserver, with its real nginx.

The backends are HTTP servers in this test on loopback, named by hand-written
EndpointSlices of selector-less Services (as a user points a Service at addresses
outside the cluster), so no node is needed; nginx listens on free high ports, so no
root is needed. Requests carry a Host header (and SNI), as `curl --resolve` would.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import http.server
import os
import shutil
import signal
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jota import pki
from jota.client.client import Client
from jota.local.processes import Daemon, free_port, start_ingress

pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True, scope="module")
def nginx_installed() -> None:
    """No skipping: a machine without nginx fails here (make test installs it)."""
    assert shutil.which("nginx"), "nginx is not installed (hack/install-deps.sh installs " \
                                  "nginx-light)"

PUBLISH = "192.0.2.10"  # TEST-NET-1: only ever written into status, never reached


class Backend:
    """An HTTP server on loopback answering `<name> <path>`."""

    def __init__(self, name: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"{name} {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Ingress:
    daemon: Daemon
    http_port: int
    https_port: int
    state_dir: Path

    def get(self, host: str, path: str, tls: ssl.SSLContext | None = None
            ) -> tuple[int, str, str]:
        """(status, body, Location) of GET `path` for `host`; (0, error, "") when the
        connection fails."""
        port = self.https_port if tls else self.http_port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            if tls is not None:
                conn.sock = tls.wrap_socket(socket.create_connection(("127.0.0.1", port), 5),
                                            server_hostname=host)
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            return resp.status, resp.read().decode(), resp.getheader("Location") or ""
        except (OSError, ssl.SSLError) as e:
            return 0, str(e), ""
        finally:
            conn.close()


@pytest.fixture(scope="module")
def ingress(apiserver: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingress]:
    root = tmp_path_factory.mktemp("ingress")
    http_port, https_port = free_port(), free_port()
    daemon = start_ingress(apiserver.address, root, root / "state", http_port=http_port,
                           https_port=https_port, publish_address=PUBLISH)
    yield Ingress(daemon, http_port, https_port, root / "state")
    daemon.stop()
    log = daemon.log.read_text()
    assert "Traceback" not in log, log[-4000:]
    assert "PRIVATE KEY" not in log


@pytest.fixture
def backends() -> Iterator[dict[str, Backend]]:
    made = {name: Backend(name) for name in ("alpha", "beta")}
    yield made
    for b in made.values():
        b.close()


def service(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def endpoint_slice(name: str, ns: str, port: int, ready: bool = True) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-manual", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}]}


def path(p: str, svc: str, path_type: str = "Prefix") -> dict[str, Any]:
    return {"path": p, "pathType": path_type,
            "backend": {"service": {"name": svc, "port": {"number": 80}}}}


def ingress_obj(ns: str, rules: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": ns},
            "spec": {"ingressClassName": "jota", "rules": rules, **spec}}


async def eventually(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def apps(client: Client, namespace: str, backends: dict[str, Backend]
               ) -> AsyncIterator[str]:
    for name, b in backends.items():
        await client.create("services", service(name, namespace), namespace)
        await client.create("endpointslices", endpoint_slice(name, namespace, b.port),
                            namespace)
    yield namespace
    await client.delete("namespaces", namespace)


async def test_routes_hosts_and_paths_and_fills_status(
        client: Client, apps: str, ingress: Ingress) -> None:
    ns = apps
    await client.create("ingresses", ingress_obj(ns, [
        {"host": "a.example.test", "http": {"paths": [
            path("/api", "alpha"), path("/", "beta"), path("/exact", "alpha", "Exact"),
            path("/gone", "no-such-service")]}},
        {"host": "b.example.test", "http": {"paths": [path("/", "alpha")]}}]), ns)
    await eventually("a.example.test/api/v1 -> alpha",
                     lambda: ingress.get("a.example.test", "/api/v1")[1] == "alpha /api/v1")
    assert ingress.get("a.example.test", "/api")[1] == "alpha /api"
    assert ingress.get("a.example.test", "/apix")[1] == "beta /apix"
    assert ingress.get("a.example.test", "/exact")[1] == "alpha /exact"
    assert ingress.get("a.example.test", "/exact/x")[1] == "beta /exact/x"
    assert ingress.get("a.example.test", "/gone")[1] == "beta /gone"  # skipped rule
    assert ingress.get("b.example.test", "/x")[1] == "alpha /x"
    assert ingress.get("other.example.test", "/")[0] == 404

    async def status() -> Any:
        obj = await client.get("ingresses", "shop", ns)
        return (obj.get("status") or {}).get("loadBalancer", {}).get("ingress")

    deadline = time.monotonic() + 60
    while not await status() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert await status() == [{"ip": PUBLISH}]
    events = (await client.list("events", ns))["items"]
    assert any(e["reason"] == "BackendNotFound" and e["type"] == "Warning"
               and "no-such-service" in e["message"] for e in events), events
    cls = await client.get("ingressclasses", "jota")
    assert cls["spec"]["controller"] == "jota.io/ingress-nginx"

    await client.delete("ingresses", "shop", ns)
    await eventually("b.example.test gone",
                     lambda: ingress.get("b.example.test", "/")[0] == 404)
    assert "b.example.test" not in (ingress.state_dir / "nginx.conf").read_text()


async def test_follows_endpoints(client: Client, apps: str, ingress: Ingress,
                                 backends: dict[str, Backend]) -> None:
    ns = apps
    await client.create("ingresses", ingress_obj(ns, [
        {"host": "c.example.test", "http": {"paths": [path("/", "alpha")]}}]), ns)
    await eventually("c.example.test -> alpha",
                     lambda: ingress.get("c.example.test", "/")[1] == "alpha /")
    es = await client.get("endpointslices", "alpha-manual", ns)
    es["endpoints"][0]["conditions"]["ready"] = False
    await client.update("endpointslices", es, ns)
    await eventually("503 without ready endpoints",
                     lambda: ingress.get("c.example.test", "/")[0] == 503)
    es = await client.get("endpointslices", "alpha-manual", ns)
    es["endpoints"][0]["conditions"]["ready"] = True
    es["ports"][0]["port"] = backends["beta"].port  # the pods moved
    await client.update("endpointslices", es, ns)
    await eventually("c.example.test -> beta's server",
                     lambda: ingress.get("c.example.test", "/")[1] == "beta /")
    await client.delete("ingresses", "shop", ns)


async def test_tls_from_a_secret(client: Client, apps: str, ingress: Ingress,
                                 tmp_path: Path) -> None:
    ns = apps
    ca = pki.new_ca("it-ingress-ca")
    pair = pki.issue(ca, "secure.example.test", hosts=["secure.example.test"], server=True,
                     client=False)
    (tmp_path / "ca.crt").write_bytes(ca.cert)
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    await client.create("ingresses", ingress_obj(
        ns, [{"host": "secure.example.test", "http": {"paths": [path("/", "beta")]}}],
        tls=[{"hosts": ["secure.example.test"], "secretName": "secure-tls"}]), ns)
    await eventually("plain HTTP while the Secret is missing",
                     lambda: ingress.get("secure.example.test", "/")[1] == "beta /")
    await client.create("secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "secure-tls", "namespace": ns},
        "data": {"tls.crt": base64.b64encode(pair.cert).decode(),
                 "tls.key": base64.b64encode(pair.key).decode()}}, ns)
    await eventually("https://secure.example.test/", lambda: ingress.get(
        "secure.example.test", "/p", tls=context)[1] == "beta /p")
    status, _body, location = ingress.get("secure.example.test", "/p")
    assert (status, location) == (308, f"https://secure.example.test:{ingress.https_port}/p")
    key_files = list((ingress.state_dir / "certs").glob("*.key"))
    assert key_files and all(f.stat().st_mode & 0o777 == 0o600 for f in key_files)
    await client.delete("ingresses", "shop", ns)
    await eventually("the certificate files removed",
                     lambda: not list((ingress.state_dir / "certs").iterdir()))


async def test_a_killed_nginx_comes_back(client: Client, apps: str,
                                         ingress: Ingress) -> None:
    ns = apps
    await client.create("ingresses", ingress_obj(ns, [
        {"host": "d.example.test", "http": {"paths": [path("/", "alpha")]}}]), ns)
    await eventually("d.example.test -> alpha",
                     lambda: ingress.get("d.example.test", "/")[1] == "alpha /")
    pid = int((ingress.state_dir / "nginx.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    await eventually("nginx started again", lambda: ingress.get(
        "d.example.test", "/")[1] == "alpha /" and
        int((ingress.state_dir / "nginx.pid").read_text()) != pid)
    await client.delete("ingresses", "shop", ns)
