"""How a Client with several apiservers moves on when one fails (no server needed:
the channel is only made on the next call)."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.storage.etcd import Etcd
from jota.api import errors
from jota.client.client import Client


async def test_calls_failing_together_move_on_once_not_back_to_the_dead_server() -> None:
    client = Client("10.0.0.1:6443,10.0.0.2:6444")
    assert client.servers == ["10.0.0.1:6443", "10.0.0.2:6444"]
    # Every call in flight on the first server fails at once; each reports it.
    await asyncio.gather(*(client._failover(0) for _ in range(5)))
    assert client.server == "10.0.0.2:6444"
    await client._failover(1)
    assert client.server == "10.0.0.1:6443"  # and round again when the second fails


async def test_the_etcd_adapter_moves_on_once_per_failed_member() -> None:
    etcd = Etcd(["http://127.0.0.1:23790", "http://127.0.0.1:23791",
                 "http://127.0.0.1:23792"])
    await asyncio.gather(*(etcd._failover(0) for _ in range(4)))
    assert etcd.endpoints[etcd._current] == "127.0.0.1:23791"


async def test_a_call_whose_channel_another_call_closed_goes_again() -> None:
    # grpc.aio raises CancelledError in every call on a channel being closed; the task
    # itself was not cancelled, so it must not end (an agent's lease loop would stop).
    client = Client("10.0.0.1:6443,10.0.0.2:6444", retries=3)
    attempts: list[int] = []

    async def closed_once(_stub: object) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise asyncio.CancelledError
        return "answer"

    assert await client._call(closed_once, idempotent=True) == "answer"
    attempts.clear()
    with pytest.raises(errors.ServiceUnavailable, match="closed during the call"):
        await client._call(closed_once, idempotent=False)  # a write may have been applied
    await client.close()


async def test_cancelling_the_calling_task_still_cancels_it() -> None:
    client = Client("10.0.0.1:6443")
    started = asyncio.Event()

    async def forever(_stub: object) -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(client._call(forever, idempotent=True))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.close()
