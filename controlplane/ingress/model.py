"""What nginx must serve, decided from the API objects alone (no I/O).

`build` turns the Ingresses of our class, the Services, their EndpointSlices and the
TLS Secrets into a `Config`: one `Server` per host (plus the catch-all `_`), their
`Location`s, the `Upstream`s (ready endpoint IP:targetPort, as ingress-nginx), the
certificates, and a `Problem` for everything skipped (a missing Service or Secret, a
path nginx could not take), which the caller turns into Warning events. Nothing here
raises on bad input: a bad rule is skipped, the rest is served.

Kubernetes' path semantics in nginx terms:
- Exact `/p`                     -> `location = /p`
- Prefix `/p` (or `/p/`)         -> `location = /p` and `location /p/` (element-wise:
                                    `/p`, `/p/x` match, `/px` does not); `/` -> `location /`
- ImplementationSpecific `/p`    -> `location /p` (nginx's own string prefix)
When two paths render to the same location, Exact beats Prefix, then the oldest
Ingress wins (ingress-nginx's rule for conflicting Ingresses).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from jota.api.meta import Obj

CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
SSL_REDIRECT_ANNOTATION = "nginx.ingress.kubernetes.io/ssl-redirect"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TLS_SECRET_TYPE = "kubernetes.io/tls"
CATCH_ALL = "_"

# Characters a path may hold to be written into nginx.conf unquoted: RFC 3986's path
# characters without the ones nginx's parser gives a meaning to (`;`, `{`, `}`, quotes,
# `$`, spaces).
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._~!&()*+,=:@%/-]*$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Upstream:
    name: str  # ingress-nginx's: <namespace>-<service>-<port>
    servers: tuple[str, ...]  # "ip:port", sorted; empty: the location answers 503


@dataclass(frozen=True, order=True)
class Location:
    path: str
    exact: bool  # `location = path`, else a prefix location
    upstream: str  # an Upstream's name; "" answers 404 (nothing matched)
    ingress: str = ""  # "namespace/name" it came from, for the comment


@dataclass(frozen=True)
class Server:
    host: str  # a host name, `*.domain`, or CATCH_ALL
    locations: tuple[Location, ...]
    tls: str = ""  # the certificate's name (a Secret's "namespace-name"), "" for none
    ssl_redirect: bool = True  # plain HTTP to a TLS host gets a 308 to https


@dataclass(frozen=True)
class Certificate:
    name: str
    cert: bytes = field(repr=False)
    key: bytes = field(repr=False)  # never logged: repr hides both


@dataclass(frozen=True)
class Problem:
    ingress: str  # "namespace/name"
    reason: str
    message: str


@dataclass(frozen=True)
class Config:
    servers: tuple[Server, ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    ingresses: tuple[str, ...] = ()  # "namespace/name" of every Ingress of our class
    warnings: tuple[Problem, ...] = ()


# ---- which Ingresses are ours ------------------------------------------------------------


def is_default_class(ingress_class: Obj | None) -> bool:
    annotations = ((ingress_class or {}).get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true"


def is_ours(ing: Obj, class_name: str, default: bool) -> bool:
    """`spec.ingressClassName`, else the old annotation, else whether our class is the
    cluster's default (an Ingress without a class belongs to the default one)."""
    spec_class = (ing.get("spec") or {}).get("ingressClassName")
    if spec_class:
        return bool(spec_class == class_name)
    annotated = ((ing.get("metadata") or {}).get("annotations") or {}).get(CLASS_ANNOTATION)
    if annotated:
        return bool(annotated == class_name)
    return default


# ---- backends --------------------------------------------------------------------------


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name') or ''}"


def _ready(ep: Obj) -> bool:
    ready = (ep.get("conditions") or {}).get("ready")
    return ready is None or bool(ready)


def resolve_backend(namespace: str, backend: Obj, services: Mapping[str, Obj],
                    slices: Mapping[str, list[Obj]]) -> tuple[Upstream | None, str]:
    """The Upstream a backend leads to, or None and why not."""
    svc_ref = backend.get("service") or {}
    name = str(svc_ref.get("name") or "")
    if not name:
        return None, "only Service backends are supported (resource backends are not)"
    port_ref = svc_ref.get("port") or {}
    key = f"{namespace}/{name}"
    svc = services.get(key)
    if svc is None:
        return None, f'service "{key}" not found'
    if (svc.get("spec") or {}).get("type") == "ExternalName":
        return None, f'service "{key}" is of type ExternalName, which is not supported'
    wanted_number, wanted_name = port_ref.get("number"), port_ref.get("name")
    port = next((p for p in (svc.get("spec") or {}).get("ports") or []
                 if (wanted_number is not None and p.get("port") == wanted_number)
                 or (wanted_name and p.get("name") == wanted_name)), None)
    if port is None:
        return None, f'service "{key}" has no port {wanted_number or wanted_name!r}'
    port_name = str(port.get("name") or "")
    servers: set[str] = set()
    for es in slices.get(key, []):
        for sp in es.get("ports") or []:
            if str(sp.get("name") or "") != port_name or sp.get("port") is None:
                continue
            if str(sp.get("protocol") or "TCP") != "TCP":
                continue
            for ep in es.get("endpoints") or []:
                if _ready(ep):
                    servers.update(_hostport(str(ip), int(sp["port"]))
                                   for ip in ep.get("addresses") or [])
    label = port.get("port")
    return Upstream(f"{namespace}-{name}-{label}", tuple(sorted(servers))), ""


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# ---- certificates ----------------------------------------------------------------------


def certificate_of(secret: Obj | None, key: str) -> tuple[Certificate | None, str]:
    """The certificate in a kubernetes.io/tls Secret, checked to parse and to match its
    key (nginx would refuse the whole config otherwise), or None and why not."""
    if secret is None:
        return None, f'secret "{key}" not found'
    if secret.get("type") != TLS_SECRET_TYPE:
        return None, f'secret "{key}" is of type {secret.get("type")!r}, not {TLS_SECRET_TYPE}'
    data = secret.get("data") or {}
    try:
        cert = base64.b64decode(str(data.get("tls.crt") or ""), validate=True)
        key_pem = base64.b64decode(str(data.get("tls.key") or ""), validate=True)
    except (binascii.Error, ValueError):
        return None, f'secret "{key}": tls.crt or tls.key is not base64'
    try:
        parsed = x509.load_pem_x509_certificate(cert)
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return None, f'secret "{key}": tls.crt or tls.key is not a PEM certificate and key'
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (parsed.public_key().public_bytes(serialization.Encoding.DER, public)
            != private.public_key().public_bytes(serialization.Encoding.DER, public)):
        return None, f'secret "{key}": tls.key does not match the certificate in tls.crt'
    return Certificate(key.replace("/", "-"), cert, key_pem), ""


# ---- the whole configuration -----------------------------------------------------------


def _locations_of(path: str, path_type: str) -> list[tuple[str, bool]]:
    if path_type == "Exact":
        return [(path, True)]
    if path_type == "Prefix":
        trimmed = path.rstrip("/")
        return [("/", False)] if not trimmed else [(trimmed, True), (trimmed + "/", False)]
    return [(path, False)]


@dataclass
class _Builder:
    services: Mapping[str, Obj]
    slices: Mapping[str, list[Obj]]
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    # (host, path, exact) -> (precedence, Location)
    locations: dict[tuple[str, str, bool], tuple[tuple[int, int], Location]] = \
        field(default_factory=dict)
    hosts: dict[str, int] = field(default_factory=dict)  # host -> order first seen

    def backend(self, ing: str, namespace: str, backend: Obj) -> str | None:
        upstream, why = resolve_backend(namespace, backend, self.services, self.slices)
        if upstream is None:
            self.warnings.append(Problem(ing, "BackendNotFound", why))
            return None
        self.upstreams[upstream.name] = upstream
        return upstream.name

    def host(self, host: str) -> None:
        self.hosts.setdefault(host, len(self.hosts))

    def add(self, host: str, path: str, exact: bool, precedence: tuple[int, int],
            loc: Location) -> None:
        self.host(host)
        key = (host, path, exact)
        if key not in self.locations or precedence < self.locations[key][0]:
            self.locations[key] = (precedence, loc)


def _age(ing: Obj) -> tuple[str, str]:
    md = ing.get("metadata") or {}
    return str(md.get("creationTimestamp") or ""), _key(ing)


def build(ingresses: Iterable[Obj], services: Mapping[str, Obj],
          slices: Mapping[str, list[Obj]], secrets: Mapping[str, Obj]) -> Config:
    """The Config for `ingresses` (already filtered to our class); `services`,
    `secrets` by "namespace/name", `slices` by their Service's "namespace/name"."""
    b = _Builder(services, slices)
    ordered = sorted(ingresses, key=_age)
    tls_hosts: dict[str, tuple[str, bool]] = {}  # host -> (certificate, ssl redirect)
    certificates: dict[str, Certificate] = {}
    default_backend = ""
    for order, ing in enumerate(ordered):
        key, spec = _key(ing), ing.get("spec") or {}
        namespace = key.partition("/")[0]
        annotations = (ing.get("metadata") or {}).get("annotations") or {}
        redirect = str(annotations.get(SSL_REDIRECT_ANNOTATION, "true")).lower() != "false"
        own_default = ""
        if spec.get("defaultBackend"):
            own_default = b.backend(key, namespace, spec["defaultBackend"]) or ""
            default_backend = default_backend or own_default
        own_hosts: list[str] = []
        for rule in spec.get("rules") or []:
            host = str(rule.get("host") or "").lower() or CATCH_ALL
            if host != CATCH_ALL and not _HOST.match(host):
                b.warnings.append(Problem(key, "InvalidHost", f"host {host!r} is not a valid "
                                          "DNS name; rule skipped"))
                continue
            b.host(host)
            own_hosts.append(host)
            for path_rule in (rule.get("http") or {}).get("paths") or []:
                path = str(path_rule.get("path") or "/")
                path_type = str(path_rule.get("pathType") or "ImplementationSpecific")
                if not _SAFE_PATH.match(path):
                    b.warnings.append(Problem(key, "InvalidPath", f"path {path!r} has "
                                              "characters nginx cannot take; path skipped"))
                    continue
                upstream = b.backend(key, namespace, path_rule.get("backend") or {})
                if upstream is None:
                    continue
                rank = 0 if path_type == "Exact" else 1
                for loc_path, exact in _locations_of(path, path_type):
                    b.add(host, loc_path, exact, (rank, order),
                          Location(loc_path, exact, upstream, key))
        for tls in spec.get("tls") or []:
            secret_key = f"{namespace}/{tls.get('secretName') or ''}"
            cert, why = certificate_of(secrets.get(secret_key), secret_key)
            if cert is None:
                b.warnings.append(Problem(key, "TLSSecretNotFound", why + "; serving "
                                          f"{', '.join(tls.get('hosts') or []) or 'its hosts'} "
                                          "over plain HTTP only"))
                continue
            certificates[cert.name] = cert
            for host in tls.get("hosts") or []:
                host = str(host).lower()
                if _HOST.match(host) and host not in tls_hosts:
                    tls_hosts[host] = (cert.name, redirect)
                    b.host(host)
                    own_hosts.append(host)
        if own_default:
            for host in own_hosts:  # the Ingress's own hosts fall back to its default
                b.add(host, "/", False, (2, order), Location("/", False, own_default, key))
    if default_backend:
        b.add(CATCH_ALL, "/", False, (3, 0), Location("/", False, default_backend))
    b.host(CATCH_ALL)
    servers = []
    for host in sorted(b.hosts, key=lambda h: (h == CATCH_ALL, h)):
        locs = sorted(loc for (h, _p, _e), (_r, loc) in b.locations.items() if h == host)
        if not any(loc.path == "/" and not loc.exact for loc in locs):
            locs.append(Location("/", False, ""))
        cert_name, redirect = tls_hosts.get(host, ("", True))
        servers.append(Server(host, tuple(sorted(locs)), cert_name, redirect))
    used = {loc.upstream for s in servers for loc in s.locations}
    return Config(servers=tuple(servers),
                  upstreams=tuple(u for _n, u in sorted(b.upstreams.items()) if _n in used),
                  certificates=tuple(certificates[n] for n in sorted(certificates)
                                     if any(s.tls == n for s in servers)),
                  ingresses=tuple(_key(i) for i in ordered),
                  warnings=tuple(b.warnings))


__all__ = [
    "Certificate",
    "Config",
    "Location",
    "Problem",
    "Server",
    "Upstream",
    "build",
    "certificate_of",
    "is_default_class",
    "is_ours",
    "resolve_backend",
]
