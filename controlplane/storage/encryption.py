"""Encryption at rest, as kube-apiserver's `--encryption-provider-config`.

The file is Kubernetes' EncryptionConfiguration (apiserver.config.k8s.io/v1): for each
group of resources, an ordered list of providers. The first provider encrypts every
write; all of them are tried, by prefix, on reads, so keys can be rotated without
downtime (see docs/operations.md):

    apiVersion: apiserver.config.k8s.io/v1
    kind: EncryptionConfiguration
    resources:
      - resources: [secrets]
        providers:
          - aesgcm: {keys: [{name: key1, secret: <32 random bytes, base64>}]}
          - identity: {}        # reads what was stored before encryption was on

The bytes in etcd are Kubernetes' own: `k8s:enc:aesgcm:v1:key1:` + nonce + ciphertext
and tag (the etcd key is the authenticated data, so a value copied under another key
does not decrypt), or `k8s:enc:aescbc:v1:key1:` + IV + PKCS#7-padded ciphertext, so
`etcdctl get` shows the prefix and never the Secret.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jota.api import errors

PREFIX = b"k8s:enc:"
API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
KEY_SIZES = (16, 24, 32)


class ConfigError(ValueError):
    """The encryption configuration is unusable; the message names the field."""


@dataclass(frozen=True)
class Provider:
    """One key of one provider: how it writes, and the prefix its writes carry."""

    prefix: bytes
    seal: Callable[[bytes, bytes], bytes]   # (plaintext, etcd key) -> stored bytes
    open: Callable[[bytes, bytes], bytes]   # (stored bytes after prefix, etcd key) -> plain


def _aesgcm(key: bytes) -> tuple[Callable[[bytes, bytes], bytes], Callable[[bytes, bytes], bytes]]:
    aead = AESGCM(key)

    def seal(data: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + aead.encrypt(nonce, data, aad)

    def open_(data: bytes, aad: bytes) -> bytes:
        return aead.decrypt(data[:12], data[12:], aad)

    return seal, open_


def _aescbc(key: bytes) -> tuple[Callable[[bytes, bytes], bytes], Callable[[bytes, bytes], bytes]]:
    def seal(data: bytes, aad: bytes) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return iv + encryptor.update(padded) + encryptor.finalize()

    def open_(data: bytes, aad: bytes) -> bytes:
        if len(data) < 32 or len(data) % 16:
            raise ValueError("the data is not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(key), modes.CBC(data[:16])).decryptor()
        padded = decryptor.update(data[16:]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()

    return seal, open_


_CIPHERS = {"aesgcm": _aesgcm, "aescbc": _aescbc}


def _providers(entry: Any, where: str) -> list[Provider | None]:
    """The keys of one `providers[i]` entry in order; None stands for identity."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(f"{where}: exactly one provider type must be set "
                          f"(aesgcm, aescbc or identity)")
    kind, body = next(iter(entry.items()))
    if kind == "identity":
        return [None]
    if kind not in _CIPHERS:
        raise ConfigError(f"{where}.{kind}: unsupported provider (supported: aesgcm, aescbc, "
                          f"identity)")
    keys = (body or {}).get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{where}.{kind}.keys: Required value: at least one key")
    result: list[Provider | None] = []
    for j, key in enumerate(keys):
        at = f"{where}.{kind}.keys[{j}]"
        name = str((key or {}).get("name") or "")
        if not name or ":" in name:
            raise ConfigError(f"{at}.name: Invalid value: {name!r}: a key needs a name "
                              f"without ':'")
        try:
            secret = base64.b64decode(str(key.get("secret") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{at}.secret: Invalid value: REDACTED: secrets must be "
                              f"base64 encoded") from None
        if len(secret) not in KEY_SIZES:
            raise ConfigError(f"{at}.secret: Invalid value: REDACTED: secret is not of the "
                              f"expected length, got {len(secret)}, expected one of "
                              f"{list(KEY_SIZES)}")
        seal, open_ = _CIPHERS[kind](secret)
        result.append(Provider(PREFIX + f"{kind}:v1:{name}:".encode(), seal, open_))
    return result


class ResourceTransformer:
    """The providers of one group of resources, as the codec's `Transformer`."""

    def __init__(self, providers: Iterable[Provider | None]) -> None:
        self.providers = list(providers)

    def to_storage(self, data: bytes, key: bytes) -> bytes:
        first = self.providers[0]
        return data if first is None else first.prefix + first.seal(data, key)

    def from_storage(self, data: bytes, key: bytes) -> bytes:
        for provider in self.providers:
            if provider is None:
                if not data.startswith(PREFIX):
                    return data
            elif data.startswith(provider.prefix):
                try:
                    return provider.open(data[len(provider.prefix):], key)
                except (InvalidTag, ValueError):
                    raise errors.InternalError(
                        f"{key.decode(errors='replace')}: cannot decrypt with "
                        f"{provider.prefix.decode()!r}: wrong key, or a value copied "
                        f"from another key") from None
        shown = data[:data.find(b":", len(PREFIX) + 10) + 1] if data.startswith(PREFIX) else b""
        raise errors.InternalError(
            f"{key.decode(errors='replace')}: no configured provider reads it"
            + (f" (stored with {shown.decode(errors='replace')!r})" if shown else
               " (stored in clear text, and identity is not among the providers)"))


class Transformers:
    """Dispatches on the etcd key: `/registry/<resource>/...` to that resource's
    providers; resources not named in the configuration are stored as they are."""

    def __init__(self, by_resource: dict[str, ResourceTransformer]) -> None:
        self.by_resource = by_resource

    @staticmethod
    def _resource(key: bytes) -> str:
        parts = key.split(b"/", 3)
        return parts[2].decode() if len(parts) > 2 else ""

    def to_storage(self, data: bytes, key: bytes) -> bytes:
        t = self.by_resource.get(self._resource(key))
        return data if t is None else t.to_storage(data, key)

    def from_storage(self, data: bytes, key: bytes) -> bytes:
        t = self.by_resource.get(self._resource(key))
        if t is None:
            if data.startswith(PREFIX):
                raise errors.InternalError(f"{key.decode(errors='replace')} is encrypted but "
                                           f"no provider is configured for it")
            return data
        return t.from_storage(data, key)


def parse(doc: Any) -> Transformers:
    """An EncryptionConfiguration document (already loaded) -> Transformers."""
    if not isinstance(doc, dict):
        raise ConfigError("the encryption configuration must be a YAML or JSON object")
    if doc.get("kind") != KIND or doc.get("apiVersion") not in (API_VERSION,
                                                                "apiserver.config.k8s.io/v1beta1"):
        raise ConfigError(f"kind and apiVersion must be {KIND} and {API_VERSION}")
    groups = doc.get("resources")
    if not isinstance(groups, list) or not groups:
        raise ConfigError("resources: Required value: at least one group of resources")
    by_resource: dict[str, ResourceTransformer] = {}
    for i, group in enumerate(groups):
        names = (group or {}).get("resources")
        if not isinstance(names, list) or not names:
            raise ConfigError(f"resources[{i}].resources: Required value")
        entries = (group or {}).get("providers")
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"resources[{i}].providers: Required value")
        providers = [p for j, entry in enumerate(entries)
                     for p in _providers(entry, f"resources[{i}].providers[{j}]")]
        for name in names:
            resource = str(name).split(".", 1)[0]  # "secrets" or "secrets." (core group)
            if resource in ("*", ""):
                raise ConfigError(f"resources[{i}].resources: wildcards are not supported; "
                                  f"name each resource")
            by_resource.setdefault(resource, ResourceTransformer(providers))
    return Transformers(by_resource)


def load(path: Path) -> Transformers:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"--encryption-provider-config: {e.strerror}: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"--encryption-provider-config: {path} is not YAML: {e}") from None
    return parse(doc)

