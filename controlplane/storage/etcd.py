"""The thin adapter between Jota's storage and etcd v3.

It speaks etcd's gRPC API through the stubs that `aetcd` ships (`aetcd.rpc`),
rather than aetcd's high-level client, because the apiserver needs what that
client leaves out: ranges at a revision with a limit (pagination), the response
header's revision on every call, watch progress notifications, and failing over
between etcd members. Everything here maps etcd's answers to plain values;
errors become `jota.api.errors` (an unreachable etcd is ServiceUnavailable, a
compacted revision is Gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from aetcd import rpc
from prometheus_client import Histogram

from jota.api import errors
from jota.client.client import closed_under_call

logger = logging.getLogger(__name__)

PUT = "PUT"
DELETE = "DELETE"

# kube-apiserver's etcd_request_duration_seconds, with its buckets (1.27+); `type` is
# the resource the key belongs to, as kube-apiserver's group-resource label.
ETCD_DURATION = Histogram(
    "etcd_request_duration_seconds", "Etcd request latency in seconds for each operation and "
    "object type.", ["operation", "type"],
    buckets=(0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0,
             6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0))
_KEY_DIRS = {"minions": "nodes"}


def key_type(key: bytes) -> str:
    """`/registry/pods/ns/x` -> `pods` (the label of etcd_request_duration_seconds)."""
    parts = key.split(b"/", 3)
    if len(parts) < 3 or parts[1] != b"registry":
        return ""
    name = parts[2].decode(errors="replace")
    return _KEY_DIRS.get(name, name)


@dataclass(frozen=True, slots=True)
class KV:
    key: bytes
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # PUT or DELETE
    kv: KV  # for DELETE: key and mod_revision of the deletion, value empty
    prev: KV | None


@dataclass(frozen=True, slots=True)
class Range:
    kvs: list[KV]
    revision: int  # the store revision the range was read at
    more: bool
    count: int


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key with this prefix."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


def _kv(kv: rpc.KeyValue) -> KV:
    return KV(kv.key, kv.value, kv.mod_revision, kv.create_revision)


class Etcd:
    """One connection to an etcd cluster, failing over between `endpoints`."""

    def __init__(self, endpoints: list[str], *, timeout: float = 10.0) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoints given")
        self.endpoints = [_host_port(e) for e in endpoints]
        self.timeout = timeout
        self._current = 0
        self._channel: grpc.aio.Channel | None = None
        self._kv: rpc.KVStub | None = None
        self._watch: rpc.WatchStub | None = None
        self._maintenance: rpc.MaintenanceStub | None = None
        self._lease: rpc.LeaseStub | None = None

    def _connect(self) -> None:
        if self._channel is None:
            target = self.endpoints[self._current]
            self._channel = grpc.aio.insecure_channel(
                target, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
            self._kv = rpc.KVStub(self._channel)
            self._watch = rpc.WatchStub(self._channel)
            self._maintenance = rpc.MaintenanceStub(self._channel)
            self._lease = rpc.LeaseStub(self._channel)

    async def _failover(self, failed: int) -> None:
        """Move on to the next member after one failed on member `failed`, unless another
        call has moved on already (all calls on a stopped member fail at once)."""
        if failed != self._current:
            return
        channel, self._channel = self._channel, None
        self._current = (failed + 1) % len(self.endpoints)
        if channel is not None:
            await channel.close()

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    async def _unary(self, method: str, request: object, operation: str = "",
                     key: bytes = b"") -> object:
        """Call a KV or Maintenance method, trying every member once on UNAVAILABLE;
        timed as `operation` on `key`'s resource when an operation is named."""
        if not operation:
            return await self._call(method, request)
        start = time.perf_counter()
        try:
            return await self._call(method, request)
        finally:
            ETCD_DURATION.labels(operation, key_type(key)).observe(time.perf_counter() - start)

    async def _call(self, method: str, request: object) -> object:
        last: grpc.aio.AioRpcError | None = None
        for _ in range(len(self.endpoints) * 2):
            current = self._current
            self._connect()
            stub = self._maintenance if method == "Status" else \
                self._lease if method == "LeaseGrant" else self._kv
            try:
                return await getattr(stub, method)(request, timeout=self.timeout)
            except asyncio.CancelledError:
                if not closed_under_call():
                    raise
                # Another call's failover closed the channel under this one: a write may
                # have been applied, so say so rather than apply it twice.
                if method not in ("Range", "Status"):
                    raise errors.ServiceUnavailable(
                        "etcd is unavailable: the connection closed during the call") from None
                await asyncio.sleep(0.05)
                continue
            except grpc.aio.AioRpcError as e:
                last = e
                if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    await self._failover(current)
                    await asyncio.sleep(0.05)
                    continue
                raise _translate(e) from None
        if last is None:
            raise errors.ServiceUnavailable("etcd is unavailable: connections kept closing")
        raise _translate(last)

    async def get(self, key: bytes, *, revision: int = 0) -> tuple[KV | None, int]:
        """The key's current value (or at `revision`) and the store revision."""
        resp = await self._unary("Range", rpc.RangeRequest(key=key, revision=revision),
                                 "get", key)
        kvs = resp.kvs  # type: ignore[attr-defined]
        return (_kv(kvs[0]) if kvs else None), resp.header.revision  # type: ignore[attr-defined]

    async def range(self, start: bytes, end: bytes, *, revision: int = 0, limit: int = 0,
                    keys_only: bool = False, count_only: bool = False) -> Range:
        req = rpc.RangeRequest(key=start, range_end=end, revision=revision, limit=limit,
                               keys_only=keys_only, count_only=count_only)
        resp = await self._unary("Range", req, "listWithCount" if count_only else "list", start)
        return Range([_kv(kv) for kv in resp.kvs],  # type: ignore[attr-defined]
                     resp.header.revision, resp.more, resp.count)  # type: ignore[attr-defined]

    async def create(self, key: bytes, value: bytes, lease: int = 0) -> int | None:
        """Put `key` only if it does not exist. Returns the new revision, None if it exists."""
        req = rpc.TxnRequest(
            compare=[rpc.Compare(key=key, result=rpc.Compare.EQUAL,
                                 target=rpc.Compare.CREATE, create_revision=0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value,
                                                              lease=lease))],
        )
        resp = await self._unary("Txn", req, "create", key)
        return resp.header.revision if resp.succeeded else None  # type: ignore[attr-defined]

    async def update(self, key: bytes, value: bytes, expected_mod_revision: int,
                     lease: int = 0) -> int | None:
        """Put `key` only if its mod_revision is unchanged. None on conflict (or gone)."""
        req = rpc.TxnRequest(
            compare=[rpc.Compare(key=key, result=rpc.Compare.EQUAL,
                                 target=rpc.Compare.MOD, mod_revision=expected_mod_revision)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value,
                                                              lease=lease))],
        )
        resp = await self._unary("Txn", req, "update", key)
        return resp.header.revision if resp.succeeded else None  # type: ignore[attr-defined]

    async def delete(self, key: bytes, expected_mod_revision: int) -> int | None:
        """Delete `key` only if its mod_revision is unchanged. None on conflict (or gone)."""
        req = rpc.TxnRequest(
            compare=[rpc.Compare(key=key, result=rpc.Compare.EQUAL,
                                 target=rpc.Compare.MOD, mod_revision=expected_mod_revision)],
            success=[rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))],
        )
        resp = await self._unary("Txn", req, "delete", key)
        return resp.header.revision if resp.succeeded else None  # type: ignore[attr-defined]

    async def put(self, key: bytes, value: bytes) -> int:
        resp = await self._unary("Put", rpc.PutRequest(key=key, value=value), "put", key)
        return int(resp.header.revision)  # type: ignore[attr-defined]

    async def grant(self, ttl: int) -> int:
        """A new lease of `ttl` seconds; keys put with it go when it expires."""
        grant = await self._unary("LeaseGrant", rpc.LeaseGrantRequest(TTL=ttl))
        return int(grant.ID)  # type: ignore[attr-defined]

    async def put_with_ttl(self, key: bytes, value: bytes, ttl: int) -> int:
        """Put `key` on a fresh lease of `ttl` seconds: etcd deletes it unless it is put
        again in time (how each apiserver keeps its master lease)."""
        grant = await self._unary("LeaseGrant", rpc.LeaseGrantRequest(TTL=ttl))
        req = rpc.PutRequest(key=key, value=value, lease=grant.ID)  # type: ignore[attr-defined]
        resp = await self._unary("Put", req, "put", key)
        return int(resp.header.revision)  # type: ignore[attr-defined]

    async def revision(self) -> int:
        """The current store revision (a cheap read: one key, keys only)."""
        resp = await self._unary("Range", rpc.RangeRequest(key=b"\0", keys_only=True,
                                                           count_only=True))
        return int(resp.header.revision)  # type: ignore[attr-defined]

    async def compact(self, revision: int) -> None:
        with contextlib.suppress(errors.Gone):  # someone compacted further already
            await self._unary("Compact", rpc.CompactionRequest(revision=revision))

    async def watch(self, prefix: bytes, start_revision: int,
                    *, progress_notify: bool = True) -> AsyncIterator[tuple[int, list[Event]]]:
        """Yields (revision, events) per etcd watch response, from `start_revision` on.

        A response with no events is a progress notification: everything up to
        `revision` has been delivered. Raises Gone when `start_revision` is compacted
        and ServiceUnavailable when the stream breaks (the caller resumes).
        """
        current = self._current
        self._connect()
        assert self._watch is not None
        create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=prefix, range_end=prefix_end(prefix), start_revision=start_revision,
            prev_kv=True, progress_notify=progress_notify))
        requests: asyncio.Queue[rpc.WatchRequest | None] = asyncio.Queue()
        await requests.put(create)

        async def outgoing() -> AsyncIterator[rpc.WatchRequest]:
            while (req := await requests.get()) is not None:
                yield req

        call = self._watch.Watch(outgoing())
        try:
            async for resp in call:
                if resp.compact_revision:
                    raise errors.Gone.too_old(start_revision)
                if resp.canceled:
                    raise errors.ServiceUnavailable(
                        f"etcd canceled the watch: {resp.cancel_reason}")
                if resp.created and not resp.events:
                    continue
                events = [
                    Event(PUT if ev.type == rpc.Event.PUT else DELETE, _kv(ev.kv),
                          _kv(ev.prev_kv) if ev.HasField("prev_kv") else None)
                    for ev in resp.events
                ]
                yield resp.header.revision, events
        except asyncio.CancelledError:
            if not closed_under_call():
                raise
            raise errors.ServiceUnavailable(  # the caller resumes, as after a break
                "etcd is unavailable: the connection closed during the watch") from None
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.CANCELLED:
                return
            await self._failover(current)
            raise _translate(e) from None
        finally:
            await requests.put(None)
            call.cancel()


def _host_port(endpoint: str) -> str:
    for prefix in ("http://", "https://"):
        if endpoint.startswith(prefix):
            endpoint = endpoint[len(prefix):]
    return endpoint.rstrip("/")


def _translate(e: grpc.aio.AioRpcError) -> errors.APIError:
    details = e.details() or ""
    if e.code() == grpc.StatusCode.OUT_OF_RANGE or "compacted" in details:
        return errors.Gone(f"too old resource version: {details}")
    if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return errors.ServiceUnavailable(f"etcd is unavailable: {details}")
    if e.code() == grpc.StatusCode.INVALID_ARGUMENT and "too large" in details:
        return errors.TooLarge(f"etcdserver: request is too large: {details}")
    return errors.InternalError(f"etcd: {e.code().name}: {details}")
