"""Encryption at rest: Kubernetes' EncryptionConfiguration and its bytes in etcd."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controlplane.storage import encryption
from controlplane.storage.codec import Codec
from jota.api import errors
from jota.local import tls

KEY = b"/registry/secrets/default/db"
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
          "data": {"password": base64.b64encode(b"hunter2").decode()}}


def key(n: int = 32, fill: bytes = b"k") -> str:
    return base64.b64encode(fill * n).decode()


def config(*providers: dict[str, Any], resources: list[str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": resources or ["secrets"],
                           "providers": list(providers)}]}


def aes(kind: str, *names: str) -> dict[str, Any]:
    return {kind: {"keys": [{"name": n, "secret": key(fill=n[-1].encode())} for n in names]}}


IDENTITY: dict[str, Any] = {"identity": {}}


@pytest.mark.parametrize("kind", ["aesgcm", "aescbc"])
def test_a_secret_is_stored_behind_kubernetes_prefix_and_reads_back(kind: str) -> None:
    codec = Codec(encryption.parse(config(aes(kind, "key1"))))
    stored = codec.encode(dict(SECRET), KEY)
    assert stored.startswith(f"k8s:enc:{kind}:v1:key1:".encode())
    assert b"hunter2" not in stored and SECRET["data"]["password"].encode() not in stored
    assert codec.decode(stored, KEY, 7)["data"] == SECRET["data"]


def test_aesgcm_bytes_are_kubernetes_own_nonce_then_sealed_with_the_key_as_aad() -> None:
    stored = encryption.parse(config(aes("aesgcm", "key1"))).to_storage(b"plain", KEY)
    body = stored[len(b"k8s:enc:aesgcm:v1:key1:"):]
    assert AESGCM(b"1" * 32).decrypt(body[:12], body[12:], KEY) == b"plain"


def test_a_value_moved_under_another_key_does_not_decrypt() -> None:
    t = encryption.parse(config(aes("aesgcm", "key1")))
    stored = t.to_storage(b"plain", KEY)
    with pytest.raises(errors.InternalError, match="cannot decrypt"):
        t.from_storage(stored, b"/registry/secrets/default/other")


def test_other_resources_stay_as_they_are() -> None:
    t = encryption.parse(config(aes("aesgcm", "key1")))
    assert t.to_storage(b"{}", b"/registry/configmaps/default/x") == b"{}"
    assert t.from_storage(b"{}", b"/registry/configmaps/default/x") == b"{}"


def test_rotation_reads_old_keys_and_writes_with_the_first() -> None:
    old = encryption.parse(config(aes("aesgcm", "key1")))
    stored_old = old.to_storage(b"v1", KEY)
    rotated = encryption.parse(config(aes("aesgcm", "key2", "key1")))
    assert rotated.from_storage(stored_old, KEY) == b"v1"
    assert rotated.to_storage(b"v2", KEY).startswith(b"k8s:enc:aesgcm:v1:key2:")
    # A key dropped from the configuration: what it wrote can no longer be read.
    without = encryption.parse(config(aes("aesgcm", "key2")))
    with pytest.raises(errors.InternalError, match="no configured provider reads it"):
        without.from_storage(stored_old, KEY)


def test_identity_reads_what_was_stored_before_encryption_was_turned_on() -> None:
    plain = json.dumps(SECRET).encode()
    t = encryption.parse(config(aes("aescbc", "key1"), IDENTITY))
    assert t.from_storage(plain, KEY) == plain
    strict = encryption.parse(config(aes("aescbc", "key1")))
    with pytest.raises(errors.InternalError, match="clear text"):
        strict.from_storage(plain, KEY)


def test_identity_first_turns_encryption_off_but_still_reads_encrypted_values() -> None:
    encrypted = encryption.parse(config(aes("aesgcm", "key1"))).to_storage(b"x", KEY)
    off = encryption.parse(config(IDENTITY, aes("aesgcm", "key1")))
    assert off.to_storage(b"y", KEY) == b"y"
    assert off.from_storage(encrypted, KEY) == b"x"


def test_an_encrypted_value_without_any_provider_is_an_error_not_garbage() -> None:
    encrypted = encryption.parse(config(aes("aesgcm", "key1"),
                                        resources=["configmaps"])).to_storage(
        b"x", b"/registry/configmaps/default/c")
    nothing = encryption.parse(config(aes("aesgcm", "key1")))  # secrets only
    with pytest.raises(errors.InternalError, match="no provider is configured"):
        nothing.from_storage(encrypted, b"/registry/configmaps/default/c")


@pytest.mark.parametrize(("doc", "message"), [
    ([], "must be a YAML or JSON object"),
    ({"kind": "Nope"}, "kind and apiVersion must be EncryptionConfiguration"),
    (config(), r"resources\[0\].providers: Required value"),
    (config({"kms": {}}), r"resources\[0\].providers\[0\].kms: unsupported provider"),
    (config({"aesgcm": {"keys": []}}), r"providers\[0\].aesgcm.keys: Required value"),
    (config({"aesgcm": {"keys": [{"name": "k", "secret": "!!"}]}}),
     r"keys\[0\].secret: Invalid value: REDACTED: secrets must be base64 encoded"),
    (config({"aescbc": {"keys": [{"name": "k", "secret": key(20)}]}}),
     r"got 20, expected one of \[16, 24, 32\]"),
    (config({"aesgcm": {"keys": [{"name": "a:b", "secret": key()}]}}),
     r"keys\[0\].name: Invalid value"),
    (config(aes("aesgcm", "k1"), resources=["*"]), "wildcards are not supported"),
    (config({"aesgcm": {}, "identity": {}}), "exactly one provider type"),
])
def test_bad_configurations_name_the_field(doc: Any, message: str) -> None:
    with pytest.raises(encryption.ConfigError, match=message):
        encryption.parse(doc)


def test_errors_never_show_a_key(tmp_path: Path) -> None:
    secret = base64.b64encode(b"s" * 20).decode()
    path = tmp_path / "enc.yaml"
    path.write_text(json.dumps(config({"aesgcm": {"keys": [{"name": "k", "secret": secret}]}})))
    with pytest.raises(encryption.ConfigError) as caught:
        encryption.load(path)
    assert secret not in str(caught.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(encryption.ConfigError, match="No such file or directory"):
        encryption.load(tmp_path / "absent.yaml")



def test_the_local_clusters_config_encrypts_secrets_with_a_fresh_key() -> None:
    doc = tls.encryption_config()
    t = encryption.parse(doc)
    assert t.to_storage(b"x", KEY).startswith(b"k8s:enc:aesgcm:v1:key1:")
    assert tls.encryption_config() != doc  # a random key each time
