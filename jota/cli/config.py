"""`~/.jota/config`: which apiserver to talk to, and the default namespace.

A small kubeconfig: named contexts, each a server, a namespace and, for a TLS
cluster, credentials (`jota.client.kubeconfig`), and the current one. The server
comes from `--server`, then `$JOTA_SERVER`, then the current context; the namespace
from `-n`, then the context, then `default`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jota.client import kubeconfig

DEFAULT_SERVER = "127.0.0.1:6443"


def config_path() -> Path:
    return Path(os.environ.get("JOTA_CONFIG") or Path.home() / ".jota" / "config")


@dataclass
class Settings:
    server: str
    namespace: str
    context: str
    credentials: kubeconfig.Credentials = field(default_factory=kubeconfig.Credentials)


def load(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.exists():
        return {"apiVersion": "v1", "kind": "Config", "current-context": "", "contexts": []}
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"error loading config file \"{path}\": {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"error loading config file \"{path}\": not a mapping")
    doc.setdefault("contexts", [])
    doc.setdefault("current-context", "")
    return doc


def save(doc: dict[str, Any], path: Path | None = None) -> None:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


def find_context(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    for ctx in doc.get("contexts") or []:
        if isinstance(ctx, dict) and ctx.get("name") == name:
            return ctx
    return None


def resolve(server_flag: str | None, namespace_flag: str | None,
            context_flag: str | None) -> Settings:
    doc = load()
    name = context_flag or doc.get("current-context") or ""
    ctx = find_context(doc, name) if name else None
    if context_flag and ctx is None:
        raise ValueError(f'context "{context_flag}" does not exist')
    ctx_settings = (ctx or {}).get("context") or {}
    server = (server_flag or os.environ.get("JOTA_SERVER") or ctx_settings.get("server")
              or DEFAULT_SERVER)
    namespace = namespace_flag or ctx_settings.get("namespace") or "default"
    try:
        credentials = kubeconfig.credentials_of(ctx_settings, config_path().parent)
    except kubeconfig.ConfigError as e:
        raise ValueError(f'error loading config file "{config_path()}": context '
                         f'"{name}": {e}') from None
    return Settings(server=str(server), namespace=str(namespace), context=name,
                    credentials=credentials)


def set_context(name: str, *, server: str | None = None, namespace: str | None = None,
                use: bool = False, credentials: kubeconfig.Credentials | None = None) -> None:
    doc = load()
    ctx = find_context(doc, name)
    if ctx is None:
        ctx = {"name": name, "context": {}}
        doc["contexts"].append(ctx)
    settings = ctx.setdefault("context", {})
    if server is not None:
        settings["server"] = server
    if namespace is not None:
        settings["namespace"] = namespace
    if credentials is not None:  # replaces whatever credentials the context had
        for key in [k for k in settings if k not in ("server", "namespace")]:
            del settings[key]
        settings.update({k: v for k, v in kubeconfig.context_settings(
            "", credentials).items() if k not in ("server", "namespace")})
    if use or not doc.get("current-context"):
        doc["current-context"] = name
    save(doc)
