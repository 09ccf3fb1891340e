"""The apiserver's etcd adapter against a real three-member etcd cluster: with the member
it talks to stopped, reads, writes and a watch go on through the others.

Ports are free ones (tests run beside a local cluster); the cluster is this test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.storage.etcd import Etcd, prefix_end
from jota.local.processes import Daemon, free_port, start_etcd

pytestmark = pytest.mark.integration


@pytest.fixture
def members(tmp_path: Path) -> Iterator[list[Daemon]]:
    ports = [(free_port(), free_port()) for _ in range(3)]
    cluster = ",".join(f"m{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
    daemons: list[Daemon] = []
    try:
        for i, (client, peer) in enumerate(ports):
            daemons.append(start_etcd(tmp_path / f"m{i}", client_port=client, peer_port=peer,
                                      name=f"m{i}", initial_cluster=cluster))
        yield daemons
    finally:
        for d in daemons:
            d.stop()


async def test_reads_writes_and_watches_go_on_when_a_member_stops(
        members: list[Daemon]) -> None:
    etcd = Etcd([m.address for m in members], timeout=5.0)
    try:
        async def first_put() -> int:
            while True:  # the members elect a leader first
                try:
                    return await etcd.put(b"/registry/x/a", b"1")
                except Exception:
                    await asyncio.sleep(0.2)
        start = await asyncio.wait_for(first_put(), 60)
        seen: list[bytes] = []

        async def follow() -> None:
            revision = start
            while True:  # as the watch cache does: resume after a broken stream
                try:
                    async for rev, events in etcd.watch(b"/registry/x/", revision + 1):
                        seen.extend(e.kv.key for e in events)
                        revision = rev
                except Exception:
                    await asyncio.sleep(0.1)
        watcher = asyncio.create_task(follow())

        members[0].stop()  # the member the adapter is connected to
        for key in (b"/registry/x/b", b"/registry/x/c"):
            await asyncio.wait_for(etcd.put(key, b"2"), 30)
        got = await etcd.range(b"/registry/x/", prefix_end(b"/registry/x/"))
        assert [kv.key for kv in got.kvs] == [b"/registry/x/a", b"/registry/x/b",
                                             b"/registry/x/c"]
        assert etcd.endpoints[etcd._current] != members[0].address.removeprefix("http://")

        async def both_seen() -> None:
            while seen.count(b"/registry/x/b") + seen.count(b"/registry/x/c") < 2:
                await asyncio.sleep(0.1)
        await asyncio.wait_for(both_seen(), 30)
        assert seen == [b"/registry/x/b", b"/registry/x/c"]  # each event once
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    finally:
        await etcd.close()
