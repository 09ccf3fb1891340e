"""How the CLI and every daemon find the apiserver and prove who they are.

One file shape for all of them, `~/.jota/config` for a user and `--kubeconfig FILE` for a
daemon, as kubectl and Kubernetes' components share kubeconfig. A context holds the
server and, for a TLS cluster, kubeconfig's credential fields:

    current-context: local
    contexts:
    - name: local
      context:
        server: 172.31.0.1:6443
        namespace: default
        certificate-authority-data: <base64 PEM>    # or certificate-authority: FILE
        client-certificate-data: <base64 PEM>       # or client-certificate: FILE
        client-key-data: <base64 PEM>               # or client-key: FILE
        token: abcdef.0123456789abcdef              # a bootstrap token instead of a cert

Without a CA the connection is plaintext (the loopback development apiserver).
"""

from __future__ import annotations

import argparse
import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml

CA, CERT, KEY, TOKEN = ("certificate-authority", "client-certificate", "client-key", "token")


@dataclass(frozen=True)
class Credentials:
    """PEM bytes (empty when unset) and a bearer token."""

    ca: bytes = b""
    cert: bytes = b""
    key: bytes = b""
    token: str = ""

    @property
    def tls(self) -> bool:
        return bool(self.ca)

    def channel(self) -> grpc.ChannelCredentials | None:
        """gRPC channel credentials, or None for plaintext."""
        if not self.ca:
            return None
        creds = grpc.ssl_channel_credentials(root_certificates=self.ca,
                                             private_key=self.key or None,
                                             certificate_chain=self.cert or None)
        if self.token:
            creds = grpc.composite_channel_credentials(
                creds, grpc.access_token_call_credentials(self.token))
        return creds


class ConfigError(ValueError):
    """The file names something unusable; the message says which field."""


def _pem(settings: dict[str, Any], field: str, base: Path | None) -> bytes:
    data = settings.get(f"{field}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{field}-data: not base64") from None
    path = settings.get(field)
    if path:
        file = Path(str(path))
        if base is not None and not file.is_absolute():
            file = base / file
        try:
            return file.read_bytes()
        except OSError as e:
            raise ConfigError(f"{field}: {e.strerror}: {file}") from None
    return b""


def credentials_of(settings: dict[str, Any], base: Path | None = None) -> Credentials:
    """The credentials a context's settings give (files relative to `base`)."""
    creds = Credentials(_pem(settings, CA, base), _pem(settings, CERT, base),
                        _pem(settings, KEY, base), str(settings.get(TOKEN) or ""))
    if bool(creds.cert) != bool(creds.key):
        raise ConfigError(f"{CERT} and {KEY} must be given together")
    if (creds.cert or creds.token) and not creds.ca:
        raise ConfigError(f"{CA} is required with client credentials (they are only sent "
                          f"over TLS)")
    return creds


def context_settings(server: str, creds: Credentials, namespace: str = "default"
                     ) -> dict[str, Any]:
    settings: dict[str, Any] = {"server": server, "namespace": namespace}
    for field, value in ((CA, creds.ca), (CERT, creds.cert), (KEY, creds.key)):
        if value:
            settings[f"{field}-data"] = base64.b64encode(value).decode()
    if creds.token:
        settings[TOKEN] = creds.token
    return settings


def write(path: Path, server: str, creds: Credentials, *, name: str = "default",
          namespace: str = "default") -> None:
    """A one-context file for a daemon (mode 0600: it holds a private key)."""
    write_context(path, context_settings(server, creds, namespace), name=name)


def write_context(path: Path, settings: dict[str, Any], *, name: str = "default") -> None:
    """A one-context file of these settings (file paths allowed, as a joined node's
    kubeconfig names its certificate files), written whole or not at all."""
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": name,
           "contexts": [{"name": name, "context": settings}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    tmp.replace(path)


def load(path: Path) -> tuple[str, Credentials]:
    """(server, credentials) of a file's current context."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise ConfigError(f"--kubeconfig: {e.strerror}: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"--kubeconfig: {path} is not YAML: {e}") from None
    name = doc.get("current-context") if isinstance(doc, dict) else None
    contexts = doc.get("contexts") if isinstance(doc, dict) else None
    for ctx in contexts or []:
        if isinstance(ctx, dict) and ctx.get("name") == name:
            settings = ctx.get("context") or {}
            server = str(settings.get("server") or "")
            if not server:
                raise ConfigError(f"{path}: context {name!r} has no server")
            return server, credentials_of(settings, path.parent)
    raise ConfigError(f"{path}: no current context")


def connect_args(apiserver: str, path: Path | None) -> tuple[str, grpc.ChannelCredentials | None]:
    """A daemon's (server, channel credentials): `--kubeconfig FILE` when given (its server
    and certificate), else plaintext to `--apiserver` (the loopback development mode)."""
    if path is None:
        return apiserver, None
    try:
        server, creds = load(path)
    except ConfigError as e:  # a daemon's flag: say what is wrong and stop, no traceback
        raise SystemExit(f"error: {e}") from None
    return server, creds.channel()


def add_flags(parser: argparse.ArgumentParser) -> None:
    """A daemon's way to its apiservers: `--apiserver` (every address, the Client fails
    over between them) and `--kubeconfig`, the two `connect_args` reads."""
    parser.add_argument("--apiserver", default="127.0.0.1:6443",
                        help="apiserver address(es), comma-separated (default 127.0.0.1:6443)")
    add_flag(parser)


def add_flag(parser: argparse.ArgumentParser) -> None:
    """Every daemon's `--kubeconfig FILE` (Kubernetes components' flag), read by
    `connect_args`."""
    parser.add_argument("--kubeconfig", type=Path, default=None, metavar="FILE",
                        help="server and client certificate to reach a TLS apiserver with "
                             "(a kubeconfig-shaped file, as `jota local up` writes); "
                             "without it, plaintext to --apiserver")
