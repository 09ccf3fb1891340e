"""The node agent's own gRPC service: logs, exec and port-forward, served from the runtime.

Kubelet's streaming server. Only the apiserver calls it (users reach it through
the apiserver's `PodStreams`, which resolves the pod and fills in its uid and
the container id the pod status names); everything else is refused by peer
address, until mTLS replaces that check. Containers are found by the labels the
runtime keeps (pod uid, container name, attempt), never by a local record.

Errors leave as gRPC statuses carrying `jota.api.errors` JSON, so the apiserver
passes them on unchanged and the CLI prints them in kubectl's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from jota import pki
from jota.api import errors
from jota.api.gen import streams_pb2 as pb
from jota.api.gen import streams_pb2_grpc as pb_grpc
from node.runtime.interface import (
    ContainerState,
    ContainerStatus,
    LogLine,
    NotFound,
    Runtime,
    RuntimeCallError,
    SandboxState,
    SandboxStatus,
)

logger = logging.getLogger(__name__)

DEFAULT_PORT = 10250  # kubelet's
CHUNK = 32 * 1024
MAX_MESSAGE = 16 * 1024 * 1024
F = TypeVar("F", bound=Callable[..., AsyncIterator[Any]])


# ---- pure parts ------------------------------------------------------------------------------

def peer_ip(peer: str) -> str:
    """The address in grpc's `context.peer()`: `ipv4:10.0.0.1:5000`, `ipv6:[::1]:5000`
    ("" for unix sockets and anything unrecognised)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        host = rest.rpartition(":")[0]
        return host[1:-1] if host.startswith("[") else host
    return ""


def peer_allowed(peer: str, allowed: Collection[str]) -> bool:
    """Whether a caller may stream: its address is one the apiserver connects from."""
    ip = peer_ip(peer)
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def pick_container(containers: list[ContainerStatus], target: pb.PodTarget, *,
                   previous: bool) -> ContainerStatus:
    """The runtime container a request means, found by its labels.

    The apiserver passes the id the pod status names (kubelet's
    validateContainerLogStatus); it must belong to this pod and container. With no
    id, the newest attempt is the current one and the one before it the previous.
    """
    mine = sorted((c for c in containers
                   if c.pod.uid == target.pod_uid and c.name == target.container),
                  key=lambda c: (c.attempt, c.created_at), reverse=True)
    if target.container_id:
        for c in mine:
            if c.id == target.container_id or c.id.startswith(target.container_id):
                return c
    elif previous and len(mine) > 1:
        return mine[1]
    elif not previous and mine:
        return mine[0]
    if previous:
        raise errors.BadRequest(f'previous terminated container "{target.container}" in pod '
                                f'"{target.pod}" not found')
    raise errors.BadRequest(f'container "{target.container}" in pod "{target.pod}" is not '
                            "available")


def pick_sandbox(sandboxes: list[SandboxStatus], pod_uid: str) -> SandboxStatus | None:
    """The pod's ready sandbox (the newest, should an old one linger)."""
    ready = [s for s in sandboxes if s.pod.uid == pod_uid and s.state == SandboxState.READY]
    return max(ready, key=lambda s: (s.attempt, s.created_at), default=None)


def render_line(line: LogLine, timestamps: bool) -> bytes:
    """A log line as `kubectl logs` prints it, `--timestamps` putting the RFC 3339 time first."""
    return f"{line.timestamp} ".encode() + line.data if timestamps else line.data


def runtime_error(e: RuntimeCallError) -> errors.APIError:
    if isinstance(e, NotFound):
        return errors.NotFound(e.message)
    return errors.InternalError(e.message)


# ---- the service -----------------------------------------------------------------------------

def streaming(fn: F) -> F:
    """Check the caller, and turn errors into statuses: an `APIError` keeps its code and
    kubectl's words, a runtime error becomes one, anything else is a logged bug."""
    @functools.wraps(fn)
    async def wrapper(self: NodeStreamsService, request: Any,
                      context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            if self.tls:
                caller = peer_identity(context.auth_context() or {})
                if caller.user != pki.APISERVER_KUBELET_CLIENT and \
                        pki.MASTERS not in caller.groups:
                    raise errors.Forbidden(f'User "{caller.user}" may not stream from this '
                                           f"node: only the apiserver may")
            elif not peer_allowed(context.peer(), self.allowed):
                raise errors.Forbidden(f"{context.peer()} may not stream from this node: "
                                       "only the apiserver may")
            async for item in fn(self, request, context):
                yield item
        except errors.APIError as e:
            await context.abort(e.code, e.to_details())
        except RuntimeCallError as e:
            err = runtime_error(e)
            await context.abort(err.code, err.to_details())
        except grpc.aio.AbortError:
            raise
        except Exception as e:
            logger.exception("internal error in %s", fn.__name__)
            err = errors.InternalError(f"Internal error occurred: {type(e).__name__}: {e}")
            await context.abort(err.code, err.to_details())

    return wrapper  # type: ignore[return-value]


async def _first(frames: AsyncIterator[Any], what: str) -> Any:
    try:
        return await anext(frames)
    except StopAsyncIteration:
        raise errors.BadRequest(f"{what}: the stream ended before its first frame") from None


def peer_identity(auth: Mapping[str, Any]) -> pki.Identity:
    """Who the verified client certificate says the caller is (nobody without one)."""
    pems = list(auth.get("x509_pem_cert") or [])
    return pki.identity_of(pems[0]) if pems else pki.Identity("")


@dataclass(frozen=True)
class NodeTLS:
    """kubelet's --tls-cert-file/--tls-private-key-file, and --client-ca-file: the CA whose
    certificate the apiserver (kube-apiserver-kubelet-client) presents."""

    cert: bytes
    key: bytes
    client_ca: bytes


class NodeStreamsService(pb_grpc.NodeStreamsServicer):
    tls = False  # True: callers are known by their certificate, not by their address

    def __init__(self, runtime: Runtime, allowed: Collection[str]) -> None:
        self.runtime = runtime
        self.allowed = list(allowed)

    async def _container(self, target: pb.PodTarget, *, previous: bool = False
                         ) -> ContainerStatus:
        return pick_container(await self.runtime.list_containers(), target, previous=previous)

    @streaming
    async def Logs(self, request: pb.LogsRequest, context: Any) -> AsyncIterator[pb.LogChunk]:
        container = await self._container(request.target, previous=request.previous)
        since = time.time() - request.since_seconds if request.since_seconds > 0 else None
        tail = request.tail_lines if request.tail_lines >= 0 else None
        budget = request.limit_bytes or -1
        lines = self.runtime.logs(container.id, follow=request.follow, tail=tail, since=since)
        try:
            async for line in lines:
                data = render_line(line, request.timestamps)
                if budget >= 0:
                    data = data[:budget]
                    budget -= len(data)
                if data:
                    yield pb.LogChunk(data=data)
                if budget == 0:
                    return
        finally:
            close = getattr(lines, "aclose", None)
            if close is not None:
                await close()

    @streaming
    async def Exec(self, request_iterator: AsyncIterator[pb.ExecFrame], context: Any
                   ) -> AsyncIterator[pb.ExecFrame]:
        first = await _first(request_iterator, "exec")
        if first.WhichOneof("frame") != "start" or not first.start.command:
            raise errors.BadRequest("you must specify at least one command for the container")
        start = first.start
        container = await self._container(start.target)
        if container.state != ContainerState.RUNNING:
            raise errors.BadRequest(f'unable to upgrade connection: container not found '
                                    f'("{start.target.container}")')
        session = await self.runtime.exec_stream(container.id, list(start.command),
                                                 stdin=start.stdin, tty=start.tty)
        pump = asyncio.create_task(_feed_exec(request_iterator, session))
        try:
            async for stream, data in session.output():
                yield (pb.ExecFrame(stderr=data) if stream == "stderr"
                       else pb.ExecFrame(stdout=data))
            yield pb.ExecFrame(exit=pb.ExecExit(exit_code=await session.wait()))
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
            await session.close()

    @streaming
    async def PortForward(self, request_iterator: AsyncIterator[pb.PortForwardFrame],
                          context: Any) -> AsyncIterator[pb.PortForwardFrame]:
        first = await _first(request_iterator, "port-forward")
        target, port = first.target, first.port
        if not 0 < port < 65536:
            raise errors.BadRequest(f"invalid port {port}: must be 1-65535")
        sandbox = pick_sandbox(await self.runtime.list_pod_sandboxes(), target.pod_uid)
        if sandbox is None:
            raise errors.BadRequest(f'pod "{target.pod}" has no running sandbox on this node')
        host = sandbox.ip or "127.0.0.1"  # no IP of its own: the pod is on the host network
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=10)
        except (OSError, TimeoutError) as e:
            raise errors.InternalError(
                f"error forwarding port {port} to pod {target.pod}, uid {target.pod_uid}: "
                f"failed to connect to {host}:{port}: {e}") from None
        pump = asyncio.create_task(_feed_socket(first, request_iterator, writer))
        try:
            while data := await reader.read(CHUNK):
                yield pb.PortForwardFrame(data=data)
            yield pb.PortForwardFrame(close=True)
            await pump  # the client's half, until it closes too
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _feed_exec(frames: AsyncIterator[pb.ExecFrame], session: Any) -> None:
    """Client frames into the exec: stdin, its end, terminal sizes."""
    try:
        async for frame in frames:
            kind = frame.WhichOneof("frame")
            if kind == "stdin":
                await session.write(frame.stdin)
            elif kind == "stdin_closed":
                await session.close_stdin()
            elif kind == "resize":
                await session.resize(frame.resize.width, frame.resize.height)
    except (OSError, grpc.aio.AioRpcError):
        pass  # the process has gone, or the caller: the output side ends the call
    finally:
        with contextlib.suppress(OSError):
            await session.close_stdin()


async def _feed_socket(first: pb.PortForwardFrame, frames: AsyncIterator[pb.PortForwardFrame],
                       writer: asyncio.StreamWriter) -> None:
    """Client frames into the pod's socket, half-closing it when the client is done."""
    try:
        if first.data:
            writer.write(first.data)
            await writer.drain()
        if not first.close:
            async for frame in frames:
                if frame.data:
                    writer.write(frame.data)
                    await writer.drain()
                if frame.close:
                    break
    except (OSError, grpc.aio.AioRpcError):
        return
    if writer.can_write_eof() and not writer.is_closing():
        with contextlib.suppress(OSError):
            writer.write_eof()


async def start_node_server(runtime: Runtime, host: str, port: int, *,
                            allowed: Collection[str] = (),
                            tls: NodeTLS | None = None) -> grpc.aio.Server:
    """Serve `NodeStreams` (with health and reflection) on host:port: with TLS, to the
    apiserver's client certificate only; without, to the peers in `allowed` (IP
    addresses or CIDRs) only."""
    from grpc_reflection.v1alpha import reflection

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                      ("grpc.max_send_message_length", MAX_MESSAGE),
                                      ("grpc.so_reuseport", 0)])
    service = NodeStreamsService(runtime, allowed)
    service.tls = tls is not None
    pb_grpc.add_NodeStreamsServicer_to_server(  # type: ignore[no-untyped-call]
        service, server)
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    names = (pb.DESCRIPTOR.services_by_name["NodeStreams"].full_name, health.SERVICE_NAME,
             reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address) if tls is None else server.add_secure_port(
        address, grpc.ssl_server_credentials([(tls.key, tls.cert)],
                                             root_certificates=tls.client_ca,
                                             require_client_auth=True))
    if not bound:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    await checks.set("", health_pb2.HealthCheckResponse.SERVING)
    logger.info("serving streams", extra={"listen": address})
    return server
