"""Backing up etcd and restoring it: what was there at the snapshot comes back.

Its own etcd and apiserver (restoring rewinds the whole keyspace, which the session's
shared etcd must never see).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jota.api import errors
from jota.client.client import Client
from jota.local import backup
from jota.local.processes import free_port, start_apiserver, start_etcd


def configmap(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": name}}


async def test_a_restore_brings_back_the_state_of_the_snapshot(tmp_path: Path) -> None:
    client_port, peer_port = free_port(), free_port()
    peer = f"http://127.0.0.1:{peer_port}"
    data = tmp_path / "etcd"
    etcd = start_etcd(data, client_port=client_port, peer_port=peer_port, name="solo")
    api = start_apiserver(etcd.address, tmp_path, name="backup-apiserver")
    try:
        async with Client(api.address) as client:
            await client.create("configmaps", configmap("before"), "default")
        snap = backup.save(etcd.address, tmp_path / "snap.db")
        assert snap.keys > 0 and snap.revision > 0 and snap.size > 0
        with pytest.raises(FileExistsError, match="exists already"):
            backup.save(etcd.address, tmp_path / "snap.db")
        async with Client(api.address) as client:
            await client.delete("configmaps", "before", "default")
            await client.create("configmaps", configmap("after"), "default")
    finally:
        api.stop()
        etcd.stop()

    old = backup.restore(tmp_path / "snap.db", data, "solo", peer)
    assert old.exists() and old != data

    etcd = start_etcd(data, client_port=client_port, peer_port=peer_port, name="solo")
    api = start_apiserver(etcd.address, tmp_path, name="backup-apiserver-2")
    try:
        async with Client(api.address) as client:
            got = await client.get("configmaps", "before", "default")
            assert got["data"] == {"k": "before"}
            with pytest.raises(errors.NotFound):
                await client.get("configmaps", "after", "default")
    finally:
        api.stop()
        etcd.stop()


def test_a_bad_snapshot_moves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "etcd"
    data.mkdir()
    (data / "marker").write_text("still here")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a snapshot")
    with pytest.raises(RuntimeError, match="etcdctl snapshot status failed"):
        backup.restore(bad, data, "solo", "http://127.0.0.1:1")
    assert (data / "marker").read_text() == "still here"
