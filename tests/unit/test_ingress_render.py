"""jota-ingress's pure half: Ingress objects -> Config (model.py) -> nginx.conf (render.py).

Each golden case is a small cluster rendered to tests/unit/golden/ingress/<case>.conf;
to accept a change on purpose: `JOTA_UPDATE_GOLDEN=1 pytest tests/unit/test_ingress_render.py`
and read the diff. When nginx is installed, every golden file is also checked with
`nginx -t`, so a rendering nginx refuses cannot pass.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from controlplane.ingress.model import (
    CATCH_ALL,
    Config,
    Location,
    build,
    certificate_of,
    is_ours,
)
from controlplane.ingress.render import Settings, render
from jota import pki

GOLDEN = Path(__file__).parent / "golden" / "ingress"
STATE = "/var/lib/jota-ingress"

CA = pki.new_ca("test-ca")
PAIR = pki.issue(CA, "secure.example.test", hosts=["secure.example.test"], server=True)
OTHER = pki.issue(CA, "other")


def svc(name: str, port: int = 80, port_name: str = "http", ns: str = "default",
        **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": port_name, "port": port, "targetPort": 8080}],
                     **spec}}


def eps(service: str, *ips: str, port: int = 8080, port_name: str = "http",
        not_ready: tuple[str, ...] = (), ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": f"{service}-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ip not in not_ready}}
                          for ip in (*ips, *not_ready)]}


def tls_secret(name: str, pair: pki.KeyPair = PAIR, ns: str = "default",
               type_: str = "kubernetes.io/tls") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "type": type_,
            "data": {"tls.crt": base64.b64encode(pair.cert).decode(),
                     "tls.key": base64.b64encode(pair.key).decode()}}


def backend(service: str, port: int | str = 80) -> dict[str, Any]:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": service, "port": ref}}


def path(p: str, service: str, path_type: str = "Prefix", port: int | str = 80
         ) -> dict[str, Any]:
    return {"path": p, "pathType": path_type, "backend": backend(service, port)}


def ingress(name: str, rules: list[dict[str, Any]] | None = None, *, ns: str = "default",
            created: str = "2026-01-01T00:00:00Z", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
            "spec": {"ingressClassName": "jota", "rules": rules or [], **spec}}


def rule(host: str, *paths: dict[str, Any]) -> dict[str, Any]:
    return {"host": host, "http": {"paths": list(paths)}}


def cluster(ingresses: list[dict[str, Any]], services: list[dict[str, Any]],
            slices: list[dict[str, Any]] = (), secrets: list[dict[str, Any]] = ()  # type: ignore[assignment]
            ) -> Config:
    by_service: dict[str, list[dict[str, Any]]] = {}
    for es in slices:
        md = es["metadata"]
        by_service.setdefault(f"{md['namespace']}/{md['labels']['kubernetes.io/service-name']}",
                              []).append(es)
    return build(ingresses,
                 {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s for s in services},
                 by_service,
                 {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s for s in secrets})


CASES: dict[str, Config] = {
    "hosts-and-paths": cluster(
        [ingress("shop", [rule("a.example.test", path("/api", "api"), path("/", "web")),
                          rule("b.example.test", path("/healthz", "web", "Exact"),
                               path("/static", "web", "ImplementationSpecific"))])],
        [svc("api"), svc("web")],
        [eps("api", "10.244.1.2", "10.244.2.3"),
         eps("web", "10.244.1.4", not_ready=("10.244.2.9",))]),
    "tls-and-default-backend": cluster(
        [ingress("secure", [rule("secure.example.test", path("/", "web"))],
                 tls=[{"hosts": ["secure.example.test"], "secretName": "secure-tls"}],
                 defaultBackend=backend("fallback", "http"))],
        [svc("web"), svc("fallback", 8081)],
        [eps("web", "10.244.1.4"), eps("fallback", "10.244.3.5", port=9000)],
        [tls_secret("secure-tls")]),
    "skipped-and-empty": cluster(
        [ingress("broken", [rule("a.example.test", path("/missing", "nope"),
                                 path("/noport", "web", port=81), path("/empty", "idle"))],
                 tls=[{"hosts": ["a.example.test"], "secretName": "absent"}])],
        [svc("web"), svc("idle")], [eps("web", "10.244.1.4")]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    text = render(CASES[case], Settings(state_dir=STATE))
    golden = GOLDEN / f"{case}.conf"
    if os.environ.get("JOTA_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("case", sorted(CASES))
def test_nginx_accepts_the_rendering(case: str, tmp_path: Path) -> None:
    assert shutil.which("nginx"), "nginx is not installed (hack/install-deps.sh installs " \
                                  "nginx-light)"
    config = CASES[case]
    (tmp_path / "certs").mkdir()
    (tmp_path / "tmp").mkdir()
    for cert in config.certificates:
        (tmp_path / "certs" / f"{cert.name}.crt").write_bytes(cert.cert)
        (tmp_path / "certs" / f"{cert.name}.key").write_bytes(cert.key)
    conf = tmp_path / "nginx.conf"
    conf.write_text(render(config, Settings(state_dir=str(tmp_path), http_port=18080,
                                            https_port=18443)))
    out = subprocess.run(["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(conf)],
                         capture_output=True, text=True, check=False, timeout=30)
    assert out.returncode == 0, out.stderr


def locations(config: Config, host: str) -> list[tuple[str, bool, str]]:
    server = next(s for s in config.servers if s.host == host)
    return [(loc.path, loc.exact, loc.upstream) for loc in server.locations]


@pytest.mark.parametrize(("path_type", "p", "want"), [
    ("Prefix", "/api", [("/", False, ""), ("/api", True, "default-api-80"),
                        ("/api/", False, "default-api-80")]),
    ("Prefix", "/api/", [("/", False, ""), ("/api", True, "default-api-80"),
                         ("/api/", False, "default-api-80")]),
    ("Prefix", "/", [("/", False, "default-api-80")]),
    ("Exact", "/api", [("/", False, ""), ("/api", True, "default-api-80")]),
    ("ImplementationSpecific", "/api", [("/", False, ""), ("/api", False, "default-api-80")]),
])
def test_path_types(path_type: str, p: str, want: list[tuple[str, bool, str]]) -> None:
    config = cluster([ingress("i", [rule("h.test", path(p, "api", path_type))])],
                     [svc("api")], [eps("api", "10.0.0.1")])
    assert locations(config, "h.test") == want


def test_exact_beats_prefix_then_the_oldest_ingress_wins() -> None:
    config = cluster(
        [ingress("new", [rule("h.test", path("/p", "b", "Exact"), path("/", "b"))],
                 created="2026-02-01T00:00:00Z"),
         ingress("old", [rule("h.test", path("/p", "a"), path("/", "a"))],
                 created="2026-01-01T00:00:00Z")],
        [svc("a"), svc("b")], [eps("a", "10.0.0.1"), eps("b", "10.0.0.2")])
    assert locations(config, "h.test") == [("/", False, "default-a-80"),
                                           ("/p", True, "default-b-80"),
                                           ("/p/", False, "default-a-80")]
    assert config.ingresses == ("default/old", "default/new")


def test_catch_all_takes_hostless_rules_and_the_default_backend() -> None:
    config = cluster([ingress("i", [rule("", path("/x", "a"))], defaultBackend=backend("b"))],
                     [svc("a"), svc("b")], [eps("a", "10.0.0.1"), eps("b", "10.0.0.2")])
    assert [s.host for s in config.servers] == [CATCH_ALL]
    assert locations(config, CATCH_ALL) == [("/", False, "default-b-80"),
                                            ("/x", True, "default-a-80"),
                                            ("/x/", False, "default-a-80")]


def test_missing_things_are_warnings_not_errors() -> None:
    config = cluster([ingress("i", [rule("h.test", path("/", "gone"))],
                              tls=[{"hosts": ["h.test"], "secretName": "nope"}])], [])
    assert [(w.ingress, w.reason) for w in config.warnings] == [
        ("default/i", "BackendNotFound"), ("default/i", "TLSSecretNotFound")]
    assert 'service "default/gone" not found' in config.warnings[0].message
    assert locations(config, "h.test") == [("/", False, "")]
    assert all(not s.tls for s in config.servers)


@pytest.mark.parametrize(("bad_path", "bad_host"), [("/a;b", "h.test"), ("/a{", "h.test"),
                                                    ("/ok", "h;.test"), ("/ok", "H test")])
def test_nginx_syntax_in_paths_or_hosts_is_refused(bad_path: str, bad_host: str) -> None:
    config = cluster([ingress("i", [rule(bad_host, path(bad_path, "a"))])],
                     [svc("a")], [eps("a", "10.0.0.1")])
    assert config.warnings and config.warnings[0].reason in ("InvalidPath", "InvalidHost")
    text = render(config, Settings(state_dir=STATE))
    assert ";b" not in text and "a{" not in text and "h;" not in text


@pytest.mark.parametrize(("secret", "problem"), [
    (None, "not found"),
    (tls_secret("s", type_="Opaque"), "not kubernetes.io/tls"),
    ({**tls_secret("s"), "data": {"tls.crt": "!!", "tls.key": ""}}, "not base64"),
    ({**tls_secret("s"), "data": {"tls.crt": "aGk=", "tls.key": "aGk="}}, "not a PEM"),
    ({**tls_secret("s"), "data": {**tls_secret("s")["data"],
                                  "tls.key": base64.b64encode(OTHER.key).decode()}},
     "does not match"),
])
def test_certificate_problems(secret: dict[str, Any] | None, problem: str) -> None:
    cert, why = certificate_of(secret, "default/s")
    assert cert is None and problem in why


def test_certificate_key_is_never_in_repr() -> None:
    cert, _ = certificate_of(tls_secret("s"), "default/s")
    assert cert is not None and "PRIVATE" not in repr(cert)


@pytest.mark.parametrize(("spec_class", "annotation", "default", "want"), [
    ("jota", None, False, True), ("other", None, True, False),
    (None, "jota", False, True), (None, "other", True, False),
    (None, None, True, True), (None, None, False, False),
])
def test_is_ours(spec_class: str | None, annotation: str | None, default: bool,
                 want: bool) -> None:
    ing: dict[str, Any] = {"metadata": {"annotations": {}}, "spec": {}}
    if spec_class:
        ing["spec"]["ingressClassName"] = spec_class
    if annotation:
        ing["metadata"]["annotations"]["kubernetes.io/ingress.class"] = annotation
    assert is_ours(ing, "jota", default) is want


def test_ssl_redirect_annotation_off() -> None:
    ing = ingress("i", [rule("secure.example.test", path("/", "a"))],
                  tls=[{"hosts": ["secure.example.test"], "secretName": "t"}])
    ing["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}
    config = cluster([ing], [svc("a")], [eps("a", "10.0.0.1")], [tls_secret("t")])
    text = render(config, Settings(state_dir=STATE, https_port=8443))
    assert "return 308" not in text and "listen 8443 ssl;" in text
    assert Location("/", False, "default-a-80", "default/i") in config.servers[0].locations
