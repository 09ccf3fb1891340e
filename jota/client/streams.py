"""Streams into pods through the apiserver: logs, exec and port-forward.

The client side of `PodStreams` (proto/jota/v1/streams.proto). These ride the
`Client`'s channel, so they reach the same apiserver with the same credentials;
the apiserver proxies each stream to the pod's node agent. Failures raise the
`jota.api.errors` class the server sent, as every other call does.

    async for chunk in logs(client, "default", "web", follow=True): ...
    session = await exec_(client, "default", "web", ["sh"], stdin=True, tty=True)
    stream = await port_forward(client, "default", "web", 80)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc

from jota.api import errors
from jota.api.gen import streams_pb2 as pb
from jota.api.gen import streams_pb2_grpc as pb_grpc
from jota.client.client import Client, _translate


def _stub(client: Client) -> pb_grpc.PodStreamsStub:
    client._connect()
    assert client._channel is not None
    return pb_grpc.PodStreamsStub(client._channel)  # type: ignore[no-untyped-call]


def _error(client: Client, e: grpc.aio.AioRpcError) -> errors.APIError:
    return _translate(e, client.server)


def _target(namespace: str, pod: str, container: str = "") -> pb.PodTarget:
    return pb.PodTarget(namespace=namespace, pod=pod, container=container)


async def logs(client: Client, namespace: str, pod: str, *, container: str = "",
               follow: bool = False, tail_lines: int = -1, since_seconds: int = 0,
               timestamps: bool = False, previous: bool = False,
               limit_bytes: int = 0) -> AsyncIterator[bytes]:
    """The container's log as it comes (kubectl logs): whole lines, in order."""
    request = pb.LogsRequest(target=_target(namespace, pod, container), follow=follow,
                             tail_lines=tail_lines, since_seconds=since_seconds,
                             timestamps=timestamps, previous=previous,
                             limit_bytes=limit_bytes)
    call = _stub(client).Logs(request)
    try:
        async for chunk in call:
            yield chunk.data
    except grpc.aio.AioRpcError as e:
        raise _error(client, e) from None
    finally:
        call.cancel()


class ExecSession:
    """A command running in a container: write its stdin, read its output, get its exit."""

    def __init__(self, client: Client, call: Any) -> None:
        self._client = client
        self._call = call
        self.exit_code: int | None = None

    async def write(self, data: bytes) -> None:
        await self._send(pb.ExecFrame(stdin=data))

    async def close_stdin(self) -> None:
        await self._send(pb.ExecFrame(stdin_closed=True))

    async def resize(self, width: int, height: int) -> None:
        await self._send(pb.ExecFrame(resize=pb.TerminalSize(width=width, height=height)))

    async def _send(self, frame: pb.ExecFrame) -> None:
        if self._call.done():
            return  # the command has ended: nothing more reaches it
        try:
            await self._call.write(frame)
        except grpc.aio.AioRpcError as e:
            raise _error(self._client, e) from None
        except grpc.aio.UsageError:
            pass  # finished meanwhile

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        """("stdout" | "stderr", data) until the command ends; then `exit_code` is set."""
        try:
            while True:
                frame = await self._call.read()
                if frame is grpc.aio.EOF:
                    break
                kind = frame.WhichOneof("frame")
                if kind == "stdout":
                    yield "stdout", frame.stdout
                elif kind == "stderr":
                    yield "stderr", frame.stderr
                elif kind == "exit":
                    self.exit_code = frame.exit.exit_code
        except grpc.aio.AioRpcError as e:
            raise _error(self._client, e) from None
        if self.exit_code is None:
            raise errors.InternalError("the exec stream ended without an exit code")

    def cancel(self) -> None:
        self._call.cancel()


async def exec_(client: Client, namespace: str, pod: str, command: list[str], *,
                container: str = "", stdin: bool = False, tty: bool = False) -> ExecSession:
    """Start `command` in the pod's container (kubectl exec); errors such as a missing
    pod surface on the session's first read."""
    call = _stub(client).Exec()
    session = ExecSession(client, call)
    await session._send(pb.ExecFrame(start=pb.ExecStart(
        target=_target(namespace, pod, container), command=command, stdin=stdin, tty=tty)))
    return session


exec = exec_  # the name kubectl users look for; `exec_` where the builtin matters


class PortForwardStream:
    """One TCP connection to a port of a pod."""

    def __init__(self, client: Client, call: Any) -> None:
        self._client = client
        self._call = call

    async def write(self, data: bytes) -> None:
        await self._send(pb.PortForwardFrame(data=data))

    async def close_write(self) -> None:
        """No more data from this side (a TCP half-close)."""
        await self._send(pb.PortForwardFrame(close=True))
        if not self._call.done():
            with contextlib.suppress(grpc.aio.UsageError, grpc.aio.AioRpcError):
                await self._call.done_writing()

    async def _send(self, frame: pb.PortForwardFrame) -> None:
        if self._call.done():
            return
        try:
            await self._call.write(frame)
        except grpc.aio.AioRpcError as e:
            raise _error(self._client, e) from None
        except grpc.aio.UsageError:
            pass

    async def read(self) -> bytes:
        """The next bytes from the pod; b"" once it will send no more."""
        try:
            while True:
                frame = await self._call.read()
                if frame is grpc.aio.EOF or frame.close:
                    return b""
                if frame.data:
                    return bytes(frame.data)
        except grpc.aio.AioRpcError as e:
            raise _error(self._client, e) from None

    def cancel(self) -> None:
        self._call.cancel()


async def port_forward(client: Client, namespace: str, pod: str, port: int
                       ) -> PortForwardStream:
    """Open a connection to `port` of the pod (kubectl port-forward, one per connection)."""
    call = _stub(client).PortForward()
    stream = PortForwardStream(client, call)
    await stream._send(pb.PortForwardFrame(target=_target(namespace, pod), port=port))
    return stream
