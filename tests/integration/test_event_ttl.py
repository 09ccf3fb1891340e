"""Events expire (kube-apiserver's --event-ttl): an apiserver with a 2 s TTL on the
session's etcd; an event is gone once its TTL has passed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon, start_apiserver


@pytest.fixture
async def short_ttl_client(etcd: Daemon, tmp_path_factory: pytest.TempPathFactory
                           ) -> AsyncIterator[Client]:
    daemon = start_apiserver(etcd.address, tmp_path_factory.mktemp("apiserver-ttl"),
                             name="apiserver-ttl",
                             extra_args=["--event-ttl", "2s", "--metric-resolution", "0"])
    try:
        async with Client(daemon.address) as client:
            yield client
    finally:
        daemon.stop()


def event(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Started", "message": "Started container c", "type": "Normal",
            "count": 1, "source": {"component": "test"}}


async def test_events_expire_after_the_ttl(short_ttl_client: Client, namespace: str) -> None:
    client = short_ttl_client
    await client.create("events", event("gone"), namespace)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            await client.get("events", "gone", namespace)
        except errors.NotFound:
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("the event was still there 60 s after a 2 s TTL")
