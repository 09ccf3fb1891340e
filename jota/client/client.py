"""The async gRPC client of the Jota API, used by the CLI and every daemon.

Objects go in and come out as JSON documents (`dict`); a failed call raises the
same `jota.api.errors` class the server raised. Calls that do not change state
are retried on UNAVAILABLE with backoff, within a per-call deadline; writes are
retried only when the server never saw them (the channel was not connected).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from jota.api import errors
from jota.api.gen import resources_pb2 as pb
from jota.api.gen import resources_pb2_grpc as pb_grpc
from jota.api.meta import Obj

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
MAX_MESSAGE = 64 * 1024 * 1024

WatchEvent = tuple[str, Obj]
"""(type, object): type is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."""


def closed_under_call() -> bool:
    """Whether a CancelledError out of a gRPC call means its channel was closed (grpc.aio
    cancels every call on a channel being closed: another call's failover, new
    credentials) rather than this task being cancelled. Passed on as it is, it would end
    the calling task silently, as a daemon's informer or lease loop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() == 0


def _ref(resource: str, namespace: str = "", name: str = "") -> pb.ResourceRef:
    return pb.ResourceRef(resource=resource, namespace=namespace or "", name=name or "")


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _load(body: bytes) -> Obj:
    doc: Obj = json.loads(body)
    return doc


class Client:
    """A connection to one or more apiservers (tried in order on UNAVAILABLE).

    Use as `async with Client("127.0.0.1:6443") as c: await c.get("pods", "web", "default")`.
    """

    def __init__(
        self,
        servers: str | list[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 5,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        if isinstance(servers, str):
            servers = [s.strip() for s in servers.split(",") if s.strip()]
        if not servers:
            raise ValueError("no apiserver address given")
        self.servers = [_strip_scheme(s) for s in servers]
        self.timeout = timeout
        self.retries = retries
        self._credentials = credentials
        self._current = 0
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.ResourcesStub | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None

    @property
    def server(self) -> str:
        return self.servers[self._current]

    def _connect(self) -> pb_grpc.ResourcesStub:
        if self._stub is None:
            options = [
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.keepalive_time_ms", 30_000),
            ]
            if self._credentials is not None:
                self._channel = grpc.aio.secure_channel(self.server, self._credentials, options)
            else:
                self._channel = grpc.aio.insecure_channel(self.server, options)
            self._stub = pb_grpc.ResourcesStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    async def use_credentials(self, credentials: grpc.ChannelCredentials | None, *,
                              grace: float = 30.0) -> None:
        """Connect with new credentials from the next call on (a node's rotated client
        certificate). Calls under way, watches included, finish on the old connection for
        up to `grace` seconds, then it is closed and they reconnect as after a failover."""
        old, self._channel, self._stub = self._channel, None, None
        self._credentials = credentials
        if old is not None:
            await old.close(grace)

    async def _failover(self, failed: int) -> None:
        """Move on to the next apiserver after one failed on server `failed`, unless
        another call has moved on already: when a server dies every call on it fails at
        once, and each turning the wheel again would send some back to the dead one."""
        if failed != self._current:
            return
        channel, self._channel, self._stub = self._channel, None, None
        self._current = (failed + 1) % len(self.servers)
        if channel is not None:
            await channel.close()

    async def _call(
        self, fn: Callable[[pb_grpc.ResourcesStub], Awaitable[T]], *, idempotent: bool
    ) -> T:
        delay = 0.1
        for attempt in range(self.retries + 1):
            current = self._current
            try:
                return await fn(self._connect())
            except asyncio.CancelledError:
                if not closed_under_call():
                    raise
                # Another call's failover closed the channel under this one; a write may
                # or may not have been applied, so only reads go again.
                if not idempotent or attempt == self.retries:
                    raise errors.ServiceUnavailable(
                        f"the connection to the server {self.servers[current]} was closed "
                        f"during the call") from None
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
            except grpc.aio.AioRpcError as e:
                code = e.code()
                retry = code == grpc.StatusCode.UNAVAILABLE and (
                    idempotent or "failed to connect" in (e.details() or "").lower()
                )
                if not retry or attempt == self.retries:
                    raise _translate(e, self.server) from None
                await self._failover(current)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    # ---- the generic verbs -------------------------------------------------------------

    async def create(self, resource: str, obj: Obj, namespace: str = "",
                     *, dry_run: bool = False) -> Obj:
        req = pb.CreateRequest(ref=_ref(resource, namespace), body=_dump(obj),
                               options=_write_options(dry_run))
        resp = await self._call(lambda s: s.Create(req, timeout=self.timeout),
                                idempotent=False)
        return _load(resp.body)

    async def get(self, resource: str, name: str, namespace: str = "") -> Obj:
        req = pb.GetRequest(ref=_ref(resource, namespace, name))
        resp = await self._call(lambda s: s.Get(req, timeout=self.timeout), idempotent=True)
        return _load(resp.body)

    async def list(
        self,
        resource: str,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
    ) -> Obj:
        """A `<Kind>List` document; `metadata.resourceVersion` is where a watch resumes."""
        req = pb.ListRequest(
            ref=_ref(resource, namespace), label_selector=label_selector,
            field_selector=field_selector, limit=limit, resource_version=resource_version,
            **{"continue": continue_},
        )
        resp = await self._call(lambda s: s.List(req, timeout=self.timeout), idempotent=True)
        return _load(resp.body)

    async def list_all(self, resource: str, namespace: str = "", *, label_selector: str = "",
                       field_selector: str = "", page: int = 500) -> Obj:
        """List in pages of `page` items, stitched into one List (as kubectl's chunking)."""
        result: Obj | None = None
        token = ""
        while True:
            chunk = await self.list(resource, namespace, label_selector=label_selector,
                                    field_selector=field_selector, limit=page,
                                    continue_=token)
            if result is None:
                result = chunk
            else:
                result["items"].extend(chunk["items"])
            token = chunk.get("metadata", {}).get("continue", "")
            if not token:
                result.setdefault("metadata", {}).pop("continue", None)
                return result

    async def update(self, resource: str, obj: Obj, namespace: str = "",
                     *, dry_run: bool = False) -> Obj:
        name = obj.get("metadata", {}).get("name", "")
        req = pb.UpdateRequest(ref=_ref(resource, namespace, name), body=_dump(obj),
                               options=_write_options(dry_run))
        resp = await self._call(lambda s: s.Update(req, timeout=self.timeout),
                                idempotent=True)
        return _load(resp.body)

    async def update_status(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        name = obj.get("metadata", {}).get("name", "")
        req = pb.UpdateRequest(ref=_ref(resource, namespace, name), body=_dump(obj))
        resp = await self._call(lambda s: s.UpdateStatus(req, timeout=self.timeout),
                                idempotent=True)
        return _load(resp.body)

    async def update_approval(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        """A CertificateSigningRequest's approval subresource (its conditions only)."""
        name = obj.get("metadata", {}).get("name", "")
        req = pb.UpdateRequest(ref=_ref(resource, namespace, name), body=_dump(obj))
        resp = await self._call(lambda s: s.UpdateApproval(req, timeout=self.timeout),
                                idempotent=True)
        return _load(resp.body)

    async def patch(self, resource: str, name: str, patch: Any, namespace: str = "",
                    *, patch_type: str = "strategic", status: bool = False,
                    dry_run: bool = False) -> Obj:
        """Patch with "merge", "json" or "strategic"; `patch` is a dict/list or JSON text."""
        raw = patch.encode() if isinstance(patch, str) else _dump(patch)
        req = pb.PatchRequest(ref=_ref(resource, namespace, name), patch_type=patch_type,
                              patch=raw, status=status, options=_write_options(dry_run))
        resp = await self._call(lambda s: s.Patch(req, timeout=self.timeout),
                                idempotent=patch_type != "json")
        return _load(resp.body)

    async def delete(self, resource: str, name: str, namespace: str = "", *,
                     propagation_policy: str = "", grace_period_seconds: int = -1,
                     precondition_resource_version: str = "",
                     dry_run: bool = False) -> Obj:
        """Returns the object as it was deleted (or marked for deletion)."""
        req = pb.DeleteRequest(
            ref=_ref(resource, namespace, name), propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            precondition_resource_version=precondition_resource_version,
            options=_write_options(dry_run),
        )
        resp = await self._call(lambda s: s.Delete(req, timeout=self.timeout),
                                idempotent=True)
        return _load(resp.body)

    async def watch(
        self,
        resource: str,
        namespace: str = "",
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        allow_bookmarks: bool = True,
        send_initial_events: bool = False,
    ) -> AsyncIterator[WatchEvent]:
        """Events after `resource_version`, until the stream breaks or the caller stops.

        A compacted `resource_version` raises `errors.Gone`: relist and watch again.
        """
        req = pb.WatchRequest(
            ref=_ref(resource, namespace), resource_version=resource_version,
            label_selector=label_selector, field_selector=field_selector,
            allow_bookmarks=allow_bookmarks, send_initial_events=send_initial_events,
        )
        current = self._current
        call = self._connect().Watch(req)
        try:
            async for event in call:
                yield event.type, _load(event.object)
        except asyncio.CancelledError:
            if not closed_under_call():
                raise
            raise errors.ServiceUnavailable(  # the caller watches again, as after a break
                f"the connection to the server {self.servers[current]} was closed during "
                f"the watch") from None
        except grpc.aio.AioRpcError as e:
            server = self.servers[current]
            if e.code() == grpc.StatusCode.UNAVAILABLE:
                await self._failover(current)
            raise _translate(e, server) from None
        finally:
            call.cancel()

    # ---- subresources ------------------------------------------------------------------

    async def bind(self, name: str, namespace: str, node: str) -> Obj:
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": name, "namespace": namespace},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        req = pb.BindRequest(ref=_ref("pods", namespace, name), body=_dump(binding))
        resp = await self._call(lambda s: s.Bind(req, timeout=self.timeout), idempotent=True)
        return _load(resp.body)

    async def get_scale(self, resource: str, name: str, namespace: str) -> Obj:
        req = pb.ScaleRequest(ref=_ref(resource, namespace, name))
        resp = await self._call(lambda s: s.GetScale(req, timeout=self.timeout),
                                idempotent=True)
        return _load(resp.body)

    async def update_scale(self, resource: str, name: str, namespace: str,
                           replicas: int) -> Obj:
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                 "metadata": {"name": name, "namespace": namespace},
                 "spec": {"replicas": replicas}}
        req = pb.ScaleRequest(ref=_ref(resource, namespace, name), body=_dump(scale))
        resp = await self._call(lambda s: s.UpdateScale(req, timeout=self.timeout),
                                idempotent=True)
        return _load(resp.body)

    async def evict(self, name: str, namespace: str, *, grace_period_seconds: int | None = None,
                    dry_run: bool = False) -> Obj:
        """pods/eviction: delete the pod unless its PodDisruptionBudget forbids it now
        (`errors.TooManyRequests`, Kubernetes' 429: try again later)."""
        options: Obj = {}
        if grace_period_seconds is not None and grace_period_seconds >= 0:
            options["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            options["dryRun"] = ["All"]
        eviction: Obj = {"apiVersion": "policy/v1", "kind": "Eviction",
                         "metadata": {"name": name, "namespace": namespace}}
        if options:
            eviction["deleteOptions"] = options
        req = pb.EvictRequest(ref=_ref("pods", namespace, name), body=_dump(eviction))
        resp = await self._call(lambda s: s.Evict(req, timeout=self.timeout),
                                idempotent=False)
        return _load(resp.body)

    async def discovery(self) -> pb.DiscoveryResponse:
        resp: pb.DiscoveryResponse = await self._call(
            lambda s: s.Discovery(pb.DiscoveryRequest(), timeout=self.timeout),
            idempotent=True)
        return resp

    async def explain(self, path: str, recursive: bool = False) -> str:
        resp = await self._call(
            lambda s: s.Explain(pb.ExplainRequest(path=path, recursive=recursive),
                                timeout=self.timeout), idempotent=True)
        return str(resp.text)


def _write_options(dry_run: bool) -> pb.WriteOptions:
    return pb.WriteOptions(dry_run="All" if dry_run else "")


def _strip_scheme(server: str) -> str:
    for prefix in ("grpc://", "http://", "https://"):
        if server.startswith(prefix):
            return server[len(prefix):]
    return server


def _translate(e: grpc.aio.AioRpcError, server: str) -> errors.APIError:
    if e.code() == grpc.StatusCode.UNAVAILABLE and not (e.details() or "").startswith("{"):
        return errors.ServiceUnavailable(
            f"The connection to the server {server} was refused - did you specify the right "
            f"host or port?")
    return errors.from_grpc(e.code(), e.details())
