"""Ingress through jota-ingress on `jota local up --nodes 2`.

`jota local up` runs jota-ingress on this machine: its nginx listens on ports 80 and
443 and proxies straight to the ready pods' IPs (routed from this machine to every
node's pod CIDR). Two Deployments serve different text; one Ingress routes by host and
path (Prefix, Exact), one host over TLS from a kubernetes.io/tls Secret made here. The
requests go from this machine to the publish address with a Host header (and SNI),
as `curl --resolve` would. Everything lives in the namespace `e2e-ingress`.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jota import pki
from jota.local.images import TEST_IMAGE
from tests.e2e.conftest import LocalCluster
from tests.e2e.test_services import apply, is_ready, wait_for
from tests.e2e.test_services import jota as jota_ok

NS = "e2e-ingress"
A, B, SECURE = "a.example.test", "b.example.test", "secure.example.test"
PAGES = {"alpha": {"index.html": "alpha /", "api/v1": "alpha api", "exact": "alpha exact"},
         "beta": {"index.html": "beta /", "api/v1": "beta api", "apix": "beta apix",
                  "page": "beta page"}}


def app(name: str) -> list[dict[str, Any]]:
    labels = {"app": name}
    files = " && ".join(f"mkdir -p $(dirname /www/{f}) && echo '{text}' > /www/{f}"
                        for f, text in PAGES[name].items())
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": NS},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                 "name": "httpd", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                 "command": ["sh", "-c", f"{files} && exec httpd -f -p 8080 -h /www"],
                 "ports": [{"name": "http", "containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/", "port": "http"},
                                    "periodSeconds": 1}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
         "spec": {"selector": labels,
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}]


def path(p: str, service: str, path_type: str = "Prefix") -> dict[str, Any]:
    return {"path": p, "pathType": path_type,
            "backend": {"service": {"name": service, "port": {"number": 80}}}}


def the_ingress() -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {"ingressClassName": "jota",
                     "tls": [{"hosts": [SECURE], "secretName": "secure-tls"}],
                     "rules": [
                         {"host": A, "http": {"paths": [
                             path("/api", "alpha"), path("/", "beta"),
                             path("/exact", "alpha", "Exact"),
                             path("/missing", "no-such-service")]}},
                         {"host": B, "http": {"paths": [path("/", "alpha")]}},
                         {"host": SECURE, "http": {"paths": [path("/", "beta")]}}]}}


def tls_secret(pair: pki.KeyPair) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "secure-tls", "namespace": NS},
            "data": {"tls.crt": base64.b64encode(pair.cert).decode(),
                     "tls.key": base64.b64encode(pair.key).decode()}}


def get(lc: LocalCluster, *args: str) -> Any:
    return json.loads(jota_ok(lc, "get", "-n", NS, *args, "-o", "json"))


def publish_address(lc: LocalCluster) -> str:
    state = json.loads((lc.state_dir / "state.json").read_text())
    ingress = next((c for c in state["components"] if c["name"] == "ingress"), None)
    assert ingress is not None, "jota local up did not start jota-ingress"
    return str(ingress["address"]).rpartition(":")[0]


def request(address: str, host: str, url: str, *, tls: ssl.SSLContext | None = None
            ) -> tuple[int, str, str]:
    """(status, body, Location header) of GET `url` at `address` for `host`."""
    conn = http.client.HTTPConnection(address, 443 if tls else 80, timeout=10)
    try:
        if tls is not None:  # connect to the address, but say (SNI) and check `host`
            conn.sock = tls.wrap_socket(socket.create_connection((address, 443), timeout=10),
                                        server_hostname=host)
        conn.request("GET", url, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace").strip(), \
            resp.getheader("Location") or ""
    finally:
        conn.close()


@pytest.fixture(scope="module")
def shop(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[LocalCluster, str, ssl.SSLContext]]:
    """Both apps ready, the TLS Secret and the Ingress; (cluster, publish address,
    a client TLS context trusting the test CA)."""
    lc = local_cluster
    ca = pki.new_ca("e2e-ingress-ca")
    pair = pki.issue(ca, SECURE, hosts=[SECURE], server=True, client=False)
    ca_file = Path(tmp_path_factory.mktemp("ingress")) / "ca.crt"
    ca_file.write_bytes(ca.cert)
    context = ssl.create_default_context(cafile=str(ca_file))
    apply(lc, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    try:
        apply(lc, *app("alpha"), *app("beta"), tls_secret(pair), the_ingress())
        wait_for("4 ready pods", lambda: (
            len(p := get(lc, "pods")["items"]) == 4 and all(map(is_ready, p))))
        yield lc, publish_address(lc), context
    finally:
        jota_ok(lc, "delete", "namespace", NS)


def routed(address: str, host: str, url: str, want: str, **kw: Any) -> None:
    """Wait until nginx (reloaded as endpoints come in) answers `want`, then check it."""
    wait_for(f"{host}{url} -> {want!r}", lambda: request(address, host, url, **kw)[1] == want)


@pytest.mark.parametrize(("host", "url", "want"), [
    (A, "/api/v1", "alpha api"),      # Prefix /api
    (A, "/apix", "beta apix"),        # Prefix matches whole path elements only
    (A, "/page", "beta page"),        # Prefix /
    (A, "/exact", "alpha exact"),     # Exact
    (B, "/api/v1", "alpha api"),      # another host, another backend
])
def test_routes_by_host_and_path(shop: tuple[LocalCluster, str, ssl.SSLContext], host: str,
                                 url: str, want: str) -> None:
    _lc, address, _tls = shop
    routed(address, host, url, want)
    assert request(address, host, url) == (200, want, "")


def test_unknown_host_and_missing_service_answer_404(
        shop: tuple[LocalCluster, str, ssl.SSLContext]) -> None:
    lc, address, _tls = shop
    routed(address, A, "/", "beta /")
    assert request(address, "nobody.example.test", "/")[0] == 404
    # A path to a missing Service is skipped (with a Warning event): `/` takes it.
    assert request(address, A, "/missing")[0] == 404  # beta's httpd has no such page
    wait_for("a BackendNotFound warning on the Ingress", lambda: any(
        e["reason"] == "BackendNotFound" and e["type"] == "Warning"
        and e["involvedObject"]["name"] == "shop" and "no-such-service" in e["message"]
        for e in get(lc, "events")["items"]))


def test_tls_host_serves_the_secrets_certificate(
        shop: tuple[LocalCluster, str, ssl.SSLContext]) -> None:
    _lc, address, tls = shop
    wait_for("https://secure.example.test/", lambda: _https_ok(address, tls))
    assert request(address, SECURE, "/", tls=tls) == (200, "beta /", "")
    status, _body, location = request(address, SECURE, "/page")
    assert (status, location) == (308, f"https://{SECURE}/page")


def _https_ok(address: str, tls: ssl.SSLContext) -> bool:
    try:
        return request(address, SECURE, "/", tls=tls)[1] == "beta /"
    except (OSError, ssl.SSLError):
        return False


def test_status_shows_the_publish_address(
        shop: tuple[LocalCluster, str, ssl.SSLContext]) -> None:
    lc, address, _tls = shop
    lb = wait_for("status.loadBalancer", lambda: (
        get(lc, "ingress", "shop").get("status") or {}).get("loadBalancer", {}).get("ingress"))
    assert lb == [{"ip": address}]
    ingresses = jota_ok(lc, "get", "-n", NS, "ingress")
    assert address in ingresses, ingresses


def test_deleting_the_ingress_removes_its_servers(
        shop: tuple[LocalCluster, str, ssl.SSLContext]) -> None:
    lc, address, _tls = shop
    routed(address, B, "/", "alpha /")
    jota_ok(lc, "delete", "-n", NS, "ingress", "shop")
    wait_for("b.example.test gone", lambda: request(address, B, "/")[0] == 404)
    conf = (lc.state_dir / "ingress" / "nginx.conf").read_text()
    assert B not in conf and SECURE not in conf
    assert not list((lc.state_dir / "ingress" / "certs").iterdir())
