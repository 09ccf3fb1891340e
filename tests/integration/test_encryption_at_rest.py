"""Secrets encrypted in etcd, as an operator checks it: `etcdctl get` of the raw key.

This test has an etcd and apiservers of its own (the session's apiserver runs without
encryption, and must not meet encrypted values it cannot read).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.storage import encryption
from jota.client.client import Client
from jota.local.processes import Daemon, start_apiserver, start_etcd

PASSWORD = "correct-horse-battery-staple"


def secret(name: str, value: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {"password": base64.b64encode(value.encode()).decode()}}


@pytest.fixture
def etcd_alone(tmp_path: Path) -> Iterator[Daemon]:
    daemon = start_etcd(tmp_path / "etcd")
    yield daemon
    daemon.stop()


def raw(etcd: Daemon, key: str) -> bytes:
    etcdctl = shutil.which("etcdctl")
    assert etcdctl, "etcdctl is not installed (hack/install-deps.sh installs etcd-client)"
    out = subprocess.run([etcdctl, "--endpoints", etcd.address, "get", key, "--print-value-only"],
                         capture_output=True, check=True, env={**os.environ, "ETCDCTL_API": "3"},
                         timeout=30).stdout
    return out


def write_config(path: Path, *keys: tuple[str, bytes], identity: bool = True) -> Path:
    providers: list[dict[str, object]] = [{"aesgcm": {"keys": [
        {"name": name, "secret": base64.b64encode(k).decode()} for name, k in keys]}}]
    if identity:
        providers.append({"identity": {}})
    path.write_text(json.dumps({"apiVersion": "apiserver.config.k8s.io/v1",
                                "kind": "EncryptionConfiguration",
                                "resources": [{"resources": ["secrets"],
                                               "providers": providers}]}))
    return path


async def test_secrets_are_ciphertext_in_etcd_and_keys_rotate(etcd_alone: Daemon,
                                                              tmp_path: Path) -> None:
    key1, key2 = os.urandom(32), os.urandom(32)
    first = write_config(tmp_path / "enc1.yaml", ("key1", key1))
    api = start_apiserver(etcd_alone.address, tmp_path, name="enc-apiserver",
                          extra_args=["--encryption-provider-config", str(first)])
    try:
        async with Client(api.address) as client:
            await client.create("secrets", secret("db", PASSWORD), "default")
            await client.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                               "metadata": {"name": "plain"},
                                               "data": {"k": "visible"}}, "default")
            stored = raw(etcd_alone, "/registry/secrets/default/db")
            assert stored.startswith(b"k8s:enc:aesgcm:v1:key1:")
            assert PASSWORD.encode() not in stored
            assert base64.b64encode(PASSWORD.encode()) not in stored
            # Only the resources named are encrypted.
            assert b"visible" in raw(etcd_alone, "/registry/configmaps/default/plain")
            got = await client.get("secrets", "db", "default")
            assert base64.b64decode(got["data"]["password"]).decode() == PASSWORD
    finally:
        api.stop()
    assert PASSWORD not in api.log.read_text()

    # Rotation, step 1: the new key first, the old one still listed for reading.
    rotated = write_config(tmp_path / "enc2.yaml", ("key2", key2), ("key1", key1))
    api = start_apiserver(etcd_alone.address, tmp_path, name="enc-apiserver-2",
                          extra_args=["--encryption-provider-config", str(rotated)])
    try:
        async with Client(api.address) as client:
            got = await client.get("secrets", "db", "default")
            assert base64.b64decode(got["data"]["password"]).decode() == PASSWORD
            # Step 2: rewrite every Secret (`jota get secrets -A -o json | jota replace
            # -f -` in docs/operations.md); it is then stored under the new key.
            got["metadata"].setdefault("labels", {})["rotated"] = "yes"
            await client.update("secrets", got, "default")
            assert raw(etcd_alone, "/registry/secrets/default/db").startswith(
                b"k8s:enc:aesgcm:v1:key2:")
            listed = await client.list("secrets", "default")
            assert [s["metadata"]["name"] for s in listed["items"]] == ["db"]
    finally:
        api.stop()


def test_a_bad_configuration_stops_the_apiserver_with_the_field_named(
        etcd_alone: Daemon, tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.yaml", ("key1", b"short"))
    proc = subprocess.run([sys.executable, "-m", "controlplane.apiserver.main",
                           "--etcd-servers", etcd_alone.address, "--listen", "127.0.0.1:0",
                           "--encryption-provider-config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: REDACTED" in \
        proc.stderr
    assert "Traceback" not in proc.stderr
    assert encryption.PREFIX.decode() not in proc.stderr
