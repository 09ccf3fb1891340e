"""Registry credentials for an image pull, from the pod's imagePullSecrets.

kubelet's credential keyring in miniature: each kubernetes.io/dockerconfigjson (or the
older kubernetes.io/dockercfg) Secret the pod names is a map of registry keys to
credentials; the image's registry host (and repository path) picks the matching entry.
Pure functions, so the matching is tested without a registry; the result is the auth dict
the Docker runtime hands to the engine. Nothing here logs: these values are passwords.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from typing import Any

from jota.api.meta import Obj

DOCKER_HUB = "docker.io"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


def registry_of(image: str) -> tuple[str, str]:
    """(registry host, repository path) as Docker reads an image reference: the first
    component is a registry only if it looks like a host (a '.' or ':' or 'localhost')."""
    name = image.split("@", 1)[0]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, name if "/" in name else f"library/{name}"
    last = path.rsplit("/", 1)
    if ":" in last[-1]:  # drop the tag
        path = path[: len(path) - len(last[-1])] + last[-1].split(":", 1)[0]
    return _canonical_host(host), path


def _canonical_host(host: str) -> str:
    host = host.lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _split_key(key: str) -> tuple[str, str]:
    """A config key ('https://reg:5000/v1/', 'reg:5000/team', '*.example.com') as
    (host pattern, path prefix); Docker Hub's '/v1/' suffix is no path."""
    rest = key.strip()
    for scheme in ("https://", "http://"):
        if rest.lower().startswith(scheme):
            rest = rest[len(scheme):]
    host, _, path = rest.partition("/")
    path = path.strip("/")
    if path in ("v1", "v2"):
        path = ""
    return _canonical_host(host), path


def _host_matches(pattern: str, host: str) -> bool:
    """Globs match one DNS label each ('*.example.com' is not 'a.b.example.com'),
    as in kubelet's keyring; ports must agree."""
    p_name, _, p_port = pattern.partition(":")
    h_name, _, h_port = host.partition(":")
    if p_port != h_port:
        return False
    p_labels, h_labels = p_name.split("."), h_name.split(".")
    return len(p_labels) == len(h_labels) and all(
        fnmatch.fnmatchcase(h, p) for p, h in zip(p_labels, h_labels, strict=True))


def _path_matches(prefix: str, path: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _decode(value: str) -> str:
    return base64.b64decode(value, validate=True).decode()


def config_entries(secret: Obj) -> dict[str, dict[str, Any]]:
    """The registry map a pull Secret holds; {} for a Secret of another type or one that
    does not parse (kubelet skips such a Secret rather than failing the pull)."""
    data = secret.get("data") or {}
    kind = secret.get("type", "")
    try:
        if kind == "kubernetes.io/dockerconfigjson":
            parsed = json.loads(_decode(data.get(".dockerconfigjson", "")))
            auths = parsed.get("auths") if isinstance(parsed, dict) else None
        elif kind == "kubernetes.io/dockercfg":
            auths = json.loads(_decode(data.get(".dockercfg", "")))
        else:
            return {}
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return {}
    if not isinstance(auths, dict):
        return {}
    return {str(k): v for k, v in auths.items() if isinstance(v, dict)}


def _credentials(entry: dict[str, Any]) -> tuple[str, str] | None:
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and (user or password):
        return user, password
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = _decode(auth).partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if sep:
            return user, password
    return None


def pull_auth(image: str, pod: Obj, secrets: dict[str, Obj]) -> dict[str, str] | None:
    """The credentials Docker gets for pulling `image` for `pod`: the entry whose key
    matches the image's registry with the longest repository prefix, first Secret first;
    None (an anonymous pull) when no Secret has one."""
    host, path = registry_of(image)
    best: tuple[int, dict[str, str]] | None = None
    for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
        secret = secrets.get(ref.get("name", ""))
        if secret is None:
            continue
        for key, entry in config_entries(secret).items():
            k_host, k_path = _split_key(key)
            if not (_host_matches(k_host, host) and _path_matches(k_path, path)):
                continue
            creds = _credentials(entry)
            if creds is None:
                continue
            score = len(k_path) + 1
            if best is None or score > best[0]:
                server = DOCKER_HUB_SERVER if host == DOCKER_HUB else host
                best = (score, {"username": creds[0], "password": creds[1],
                                "serveraddress": server})
    return best[1] if best else None
