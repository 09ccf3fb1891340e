"""A `Config` as the text of nginx.conf (pure; tests/unit/golden/ingress/ hold examples).

Everything nginx writes (pid, temp files) goes under the state dir, so this nginx
never touches the machine's own (/etc/nginx, /run/nginx.pid, /var/lib/nginx); it
runs in the foreground (`daemon off`) as jota-ingress's child and logs to stderr,
which is jota-ingress's log. Certificates are files `<certs>/<name>.crt|.key`.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.ingress.model import CATCH_ALL, Config, Location, Server, Upstream

TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True)
class Settings:
    state_dir: str
    http_port: int = 80
    https_port: int = 443
    worker_processes: str = "auto"


def cert_path(settings: Settings, name: str, ext: str) -> str:
    return f"{settings.state_dir}/certs/{name}.{ext}"


def _upstream(u: Upstream) -> list[str]:
    return [f"    upstream {u.name} {{",
            *(f"        server {s} max_fails=0;" for s in u.servers),
            "        keepalive 32;",
            "    }", ""]


def _location(loc: Location, upstreams: dict[str, Upstream]) -> list[str]:
    head = f"        location {'= ' if loc.exact else ''}{loc.path} {{"
    comment = [f"            # {loc.ingress}"] if loc.ingress else []
    if not loc.upstream:
        body = ["            return 404;"]
    elif not upstreams[loc.upstream].servers:
        body = ["            return 503;  # no ready endpoints"]
    else:
        body = [f"            proxy_pass http://{loc.upstream};"]
    return [head, *comment, *body, "        }"]


def _server(s: Server, settings: Settings, upstreams: dict[str, Upstream]) -> list[str]:
    default = " default_server" if s.host == CATCH_ALL else ""
    lines = ["    server {", f"        server_name {s.host};",
             f"        listen {settings.http_port}{default};"]
    if s.tls:
        lines += [f"        listen {settings.https_port} ssl;",
                  f"        ssl_certificate {cert_path(settings, s.tls, 'crt')};",
                  f"        ssl_certificate_key {cert_path(settings, s.tls, 'key')};"]
        if s.ssl_redirect:
            port = "" if settings.https_port == 443 else f":{settings.https_port}"
            lines += ["        if ($scheme = http) {",
                      f"            return 308 https://$host{port}$request_uri;",
                      "        }"]
    for loc in s.locations:
        lines += _location(loc, upstreams)
    return [*lines, "    }", ""]


def render(config: Config, settings: Settings) -> str:
    state = settings.state_dir
    upstreams = {u.name: u for u in config.upstreams}
    lines = [
        "# Written by jota-ingress from the cluster's Ingresses: do not edit.",
        f"# Ingresses: {', '.join(config.ingresses) or 'none'}",
        f"worker_processes {settings.worker_processes};",
        f"pid {state}/nginx.pid;",
        "error_log stderr notice;",
        "daemon off;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        "http {",
        "    access_log off;",
        "    server_tokens off;",
        "    server_names_hash_bucket_size 128;",
        *(f"    {t}_temp_path {state}/tmp/{t};" for t in TEMP_PATHS),
        "",
        "    map $http_upgrade $connection_upgrade {",
        "        default upgrade;",
        "        '' '';",
        "    }",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Host $host;",
        "    proxy_set_header Upgrade $http_upgrade;",
        "    proxy_set_header Connection $connection_upgrade;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "    proxy_set_header X-Forwarded-Host $host;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_connect_timeout 5s;",
        "    proxy_next_upstream error timeout;",
        "",
    ]
    for u in config.upstreams:
        if u.servers:
            lines += _upstream(u)
    for s in config.servers:
        lines += _server(s, settings, upstreams)
    lines.append("}")
    return "\n".join(lines) + "\n"


__all__ = ["Settings", "cert_path", "render"]
