"""The node agent's streaming service over the fake runtime, and its pure parts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
import pytest

from jota.api.gen import streams_pb2 as pb
from jota.api.gen import streams_pb2_grpc as pb_grpc
from jota.local.processes import free_port
from node.agent.server import (
    peer_allowed,
    peer_ip,
    pick_container,
    render_line,
    start_node_server,
)
from node.runtime.fake import FakeRuntime
from node.runtime.interface import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    ExecResult,
    LogLine,
    PodRef,
    SandboxConfig,
)

POD = PodRef(uid="u1", namespace="default", name="web")


@pytest.mark.parametrize(("peer", "ip"), [
    ("ipv4:10.0.0.1:5000", "10.0.0.1"),
    ("ipv6:[::1]:5000", "::1"),
    ("unix:/run/x.sock", ""),
    ("", ""),
])
def test_peer_ip(peer: str, ip: str) -> None:
    assert peer_ip(peer) == ip


@pytest.mark.parametrize(("peer", "allowed", "ok"), [
    ("ipv4:10.0.0.1:5000", ["10.0.0.1"], True),
    ("ipv4:10.0.0.2:5000", ["10.0.0.1"], False),
    ("ipv4:10.0.0.2:5000", ["10.0.0.0/24"], True),
    ("ipv6:[::ffff:10.0.0.1]:5000", ["10.0.0.1"], True),
    ("ipv6:[::1]:5000", ["127.0.0.1"], False),
    ("unix:/run/x.sock", ["127.0.0.1"], False),
    ("ipv4:10.0.0.1:5000", [], False),
])
def test_only_the_apiserver_may_call(peer: str, allowed: list[str], ok: bool) -> None:
    assert peer_allowed(peer, allowed) is ok


def _status(cid: str, attempt: int, state: ContainerState, uid: str = "u1",
            name: str = "main") -> ContainerStatus:
    return ContainerStatus(id=cid, sandbox_id="s", pod=replace(POD, uid=uid), name=name,
                           attempt=attempt, state=state, image="busybox")


CONTAINERS = [_status("aaa0", 0, ContainerState.EXITED), _status("bbb1", 1,
                                                                 ContainerState.RUNNING),
              _status("ccc0", 0, ContainerState.RUNNING, uid="u2"),
              _status("ddd0", 0, ContainerState.RUNNING, name="side")]


@pytest.mark.parametrize(("container_id", "previous", "expected"), [
    ("", False, "bbb1"),
    ("", True, "aaa0"),
    ("aaa0", True, "aaa0"),
    ("aaa", False, "aaa0"),  # an id prefix is enough
])
def test_pick_container_by_labels(container_id: str, previous: bool, expected: str) -> None:
    target = pb.PodTarget(pod="web", container="main", pod_uid="u1", container_id=container_id)
    assert pick_container(CONTAINERS, target, previous=previous).id == expected


@pytest.mark.parametrize(("target", "previous", "message"), [
    (pb.PodTarget(pod="web", container="main", pod_uid="u1", container_id="ccc0"), False,
     'container "main" in pod "web" is not available'),  # another pod's container
    (pb.PodTarget(pod="web", container="side", pod_uid="u1"), True,
     'previous terminated container "side" in pod "web" not found'),
    (pb.PodTarget(pod="web", container="gone", pod_uid="u1"), False,
     'container "gone" in pod "web" is not available'),
])
def test_pick_container_errors(target: pb.PodTarget, previous: bool, message: str) -> None:
    with pytest.raises(Exception) as e:
        pick_container(CONTAINERS, target, previous=previous)
    assert getattr(e.value, "message", "") == message


def test_render_line() -> None:
    line = LogLine(timestamp="2024-01-02T03:04:05.123456789Z", stream="stdout", data=b"hi\n")
    assert render_line(line, False) == b"hi\n"
    assert render_line(line, True) == b"2024-01-02T03:04:05.123456789Z hi\n"


# ---- the service, in process -----------------------------------------------------------------

@pytest.fixture
async def runtime() -> FakeRuntime:
    return FakeRuntime()


async def _container(runtime: FakeRuntime, attempt: int = 0) -> str:
    sandbox = SandboxConfig(pod=POD)
    sid = next((s.id for s in runtime.sandboxes.values()), "") or \
        await runtime.run_pod_sandbox(sandbox)
    cid = await runtime.create_container(sid, ContainerConfig(
        name="main", image="jota/busybox:latest", attempt=attempt), sandbox)
    await runtime.start_container(cid)
    return cid


@pytest.fixture
async def stub(runtime: FakeRuntime) -> AsyncIterator[pb_grpc.NodeStreamsStub]:
    port = free_port()
    server = await start_node_server(runtime, "127.0.0.1", port, allowed=["127.0.0.1"])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.NodeStreamsStub(channel)  # type: ignore[no-untyped-call]
    await server.stop(None)


TARGET = pb.PodTarget(namespace="default", pod="web", container="main", pod_uid="u1")


async def test_logs_with_tail_timestamps_limit_and_previous(runtime: FakeRuntime,
                                                            stub: pb_grpc.NodeStreamsStub
                                                            ) -> None:
    old = await _container(runtime)
    runtime.write_log(old, b"old run\n")
    runtime.crash(old)
    cid = await _container(runtime, attempt=1)
    for i in range(3):
        runtime.write_log(cid, f"line {i}\n".encode())

    async def read(**options: object) -> bytes:
        request = pb.LogsRequest(target=TARGET, **{"tail_lines": -1, **options})  # type: ignore[arg-type]
        return b"".join([c.data async for c in stub.Logs(request)])

    assert await read() == b"line 0\nline 1\nline 2\n"
    assert await read(tail_lines=1) == b"line 2\n"
    assert await read(limit_bytes=9) == b"line 0\nli"
    assert await read(previous=True) == b"old run\n"
    stamped = (await read(timestamps=True, tail_lines=1)).decode()
    assert stamped.endswith("Z line 2\n") and stamped[:4].isdigit()


async def test_logs_follow_sees_new_lines(runtime: FakeRuntime,
                                          stub: pb_grpc.NodeStreamsStub) -> None:
    cid = await _container(runtime)
    runtime.write_log(cid, b"first\n")
    call = stub.Logs(pb.LogsRequest(target=TARGET, tail_lines=-1, follow=True))
    assert (await call.read()).data == b"first\n"
    runtime.write_log(cid, b"second\n")
    assert (await asyncio.wait_for(call.read(), 5)).data == b"second\n"
    call.cancel()


async def test_exec_streams_stdin_and_exit_code(runtime: FakeRuntime,
                                                stub: pb_grpc.NodeStreamsStub) -> None:
    await _container(runtime)
    runtime.exec_results[("cat",)] = ExecResult(5, b"", b"warn\n")
    call = stub.Exec()
    await call.write(pb.ExecFrame(start=pb.ExecStart(target=TARGET, command=["cat"],
                                                     stdin=True)))
    await call.write(pb.ExecFrame(stdin=b"hello\n"))
    await call.write(pb.ExecFrame(stdin_closed=True))
    frames = []
    while (frame := await call.read()) is not grpc.aio.EOF:
        frames.append(frame)
    assert [f.WhichOneof("frame") for f in frames] == ["stdout", "stderr", "exit"]
    assert (frames[0].stdout, frames[1].stderr, frames[2].exit.exit_code) == \
        (b"hello\n", b"warn\n", 5)


async def test_exec_in_a_stopped_container_is_refused(runtime: FakeRuntime,
                                                      stub: pb_grpc.NodeStreamsStub) -> None:
    runtime.crash(await _container(runtime))
    call = stub.Exec()
    await call.write(pb.ExecFrame(start=pb.ExecStart(target=TARGET, command=["sh"])))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call.read()
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert json.loads(e.value.details() or "")["message"] == \
        'unable to upgrade connection: container not found ("main")'


async def test_port_forward_pipes_bytes_to_the_pod(runtime: FakeRuntime,
                                                   stub: pb_grpc.NodeStreamsStub) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.read())  # until the client half-closes
        await writer.drain()
        writer.close()

    pod_server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = pod_server.sockets[0].getsockname()[1]
    await _container(runtime)
    sid = next(iter(runtime.sandboxes))
    runtime.sandboxes[sid] = replace(runtime.sandboxes[sid], ip="127.0.0.1")
    call = stub.PortForward()
    await call.write(pb.PortForwardFrame(target=TARGET, port=port, data=b"ab"))
    await call.write(pb.PortForwardFrame(data=b"cd", close=True))
    received = b""
    while (frame := await call.read()) is not grpc.aio.EOF and not frame.close:
        received += frame.data
    await call.done_writing()
    assert received == b"echo:abcd"
    pod_server.close()
    await pod_server.wait_closed()


async def test_callers_other_than_the_apiserver_are_refused(runtime: FakeRuntime) -> None:
    port = free_port()
    server = await start_node_server(runtime, "127.0.0.1", port, allowed=["10.9.9.9"])
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.NodeStreamsStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.aio.AioRpcError) as e:
                [c async for c in stub.Logs(pb.LogsRequest(target=TARGET))]
    finally:
        await server.stop(None)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only the apiserver may" in json.loads(e.value.details() or "")["message"]
