"""Objects in etcd with optimistic concurrency: the only code that writes them.

Every write is an etcd transaction that compares the key's mod_revision with the
resourceVersion the caller read, so two writers can never silently overwrite
each other: the loser gets `Conflict` (gRPC ABORTED), kubectl's 409.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from controlplane.storage import keys
from controlplane.storage.codec import Codec
from controlplane.storage.etcd import Etcd, prefix_end
from controlplane.storage.leases import LeaseManager
from jota.api import errors
from jota.api.meta import Obj, resource_version_of
from jota.api.registry import ResourceType

# etcd's default request limit is 1.5 MiB; refuse before etcd does, with a clear message.
MAX_OBJECT_BYTES = 1536 * 1024


@dataclass
class ListResult:
    items: list[Obj]
    revision: int
    continue_token: str
    remaining: int | None


def _int_rv(rt: ResourceType, name: str, rv: str) -> int:
    try:
        value = int(rv)
    except ValueError:
        raise errors.BadRequest(f'invalid resourceVersion "{rv}" for {rt.qualified} '
                                f'"{name}": must be an integer') from None
    if value < 0:
        raise errors.BadRequest(f'invalid resourceVersion "{rv}": must be >= 0')
    return value


class Store:
    def __init__(self, etcd: Etcd, codec: Codec | None = None, *,
                 ttls: dict[str, int] | None = None) -> None:
        self.etcd = etcd
        self.codec = codec or Codec()
        # resource -> seconds its objects live after their last write (events: --event-ttl)
        self.ttls = dict(ttls or {})
        self.leases = LeaseManager(etcd.grant)

    async def _lease(self, rt: ResourceType) -> int:
        ttl = self.ttls.get(rt.plural, 0)
        return await self.leases.lease_for(ttl) if ttl > 0 else 0

    def _encode(self, rt: ResourceType, obj: Obj, key: bytes) -> bytes:
        data = self.codec.encode(obj, key)
        if len(data) > MAX_OBJECT_BYTES:
            raise errors.TooLarge(
                f"{rt.kind} \"{obj['metadata'].get('name', '')}\" is too large: "
                f"{len(data)} bytes, the limit is {MAX_OBJECT_BYTES} bytes")
        return data

    async def create(self, rt: ResourceType, obj: Obj) -> Obj:
        md = obj["metadata"]
        key = keys.object_key(rt, md.get("namespace", ""), md["name"])
        revision = await self.etcd.create(key, self._encode(rt, obj, key),
                                          await self._lease(rt))
        if revision is None:
            raise errors.AlreadyExists.of(rt.qualified, md["name"])
        md["resourceVersion"] = str(revision)
        return obj

    async def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        key = keys.object_key(rt, namespace, name)
        kv, _ = await self.etcd.get(key)
        if kv is None:
            raise errors.NotFound.of(rt.qualified, name)
        return self.codec.decode(kv.value, key, kv.mod_revision)

    async def update(self, rt: ResourceType, obj: Obj) -> Obj:
        """Write `obj` if etcd still holds the resourceVersion it carries."""
        md = obj["metadata"]
        name = md["name"]
        key = keys.object_key(rt, md.get("namespace", ""), name)
        expected = _int_rv(rt, name, resource_version_of(obj))
        revision = await self.etcd.update(key, self._encode(rt, obj, key), expected,
                                          await self._lease(rt))
        if revision is None:
            kv, _ = await self.etcd.get(key)
            if kv is None:
                raise errors.NotFound.of(rt.qualified, name)
            raise errors.Conflict.stale(rt.qualified, name)
        md["resourceVersion"] = str(revision)
        return obj

    async def guaranteed_update(
        self, rt: ResourceType, namespace: str, name: str,
        mutate: Callable[[Obj], Awaitable[Obj | None]], *, attempts: int = 16,
    ) -> Obj:
        """Read, mutate, write; retried on conflict (for server-side changes such as
        patches, finalizer removal and status merges). `mutate` returning None means
        "no change": the current object is returned without a write."""
        for _ in range(attempts):
            current = await self.get(rt, namespace, name)
            updated = await mutate(json.loads(json.dumps(current)))
            if updated is None:
                return current
            updated["metadata"]["resourceVersion"] = resource_version_of(current)
            try:
                return await self.update(rt, updated)
            except errors.Conflict:
                continue
        raise errors.Conflict.stale(rt.qualified, name)

    async def delete(self, rt: ResourceType, obj: Obj) -> Obj:
        """Remove `obj` if unchanged since read; returns it with the deletion's revision."""
        md = obj["metadata"]
        name = md["name"]
        key = keys.object_key(rt, md.get("namespace", ""), name)
        revision = await self.etcd.delete(key, _int_rv(rt, name, resource_version_of(obj)))
        if revision is None:
            kv, _ = await self.etcd.get(key)
            if kv is None:
                raise errors.NotFound.of(rt.qualified, name)
            raise errors.Conflict.stale(rt.qualified, name)
        md["resourceVersion"] = str(revision)
        return obj

    async def list(self, rt: ResourceType, namespace: str = "", *, limit: int = 0,
                   continue_token: str = "", revision: int = 0) -> ListResult:
        """A consistent page of objects: every page of one list is read at one revision."""
        prefix = keys.namespace_prefix(rt, namespace)
        start = prefix
        if continue_token:
            revision, start = _decode_continue(continue_token, prefix)
        try:
            result = await self.etcd.range(start, prefix_end(prefix), revision=revision,
                                           limit=limit)
        except errors.Gone:
            if continue_token:
                raise errors.Gone.expired_continue() from None
            raise
        items = [self.codec.decode(kv.value, kv.key, kv.mod_revision) for kv in result.kvs]
        # etcd's header names the current revision even for a read in the past: every
        # page of one list is read at the revision of its first page.
        read_at = revision or result.revision
        token = ""
        remaining = None
        if result.more and result.kvs:
            token = _encode_continue(read_at, result.kvs[-1].key + b"\0", prefix)
            remaining = result.count - len(result.kvs)
        return ListResult(items, read_at, token, remaining)


def _encode_continue(revision: int, next_key: bytes, prefix: bytes) -> str:
    # As kube-apiserver: the revision to read at and the key to start from, opaque to clients.
    doc = {"v": "meta.k8s.io/v1", "rv": revision,
           "start": next_key[len(prefix):].decode("utf-8", "surrogateescape")}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def _decode_continue(token: str, prefix: bytes) -> tuple[int, bytes]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token.encode()))
        revision = int(doc["rv"])
        start = prefix + str(doc["start"]).encode("utf-8", "surrogateescape")
    except (ValueError, KeyError, TypeError):
        raise errors.BadRequest("continue key is not valid: incorrect encoded start "
                                "resourceVersion (version meta.k8s.io/v1)") from None
    if revision <= 0:
        raise errors.BadRequest("continue key is not valid: incorrect encoded start "
                                "resourceVersion (version meta.k8s.io/v1)")
    return revision, start
