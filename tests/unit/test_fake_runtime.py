"""The in-memory runtime keeps the contract the agent codes against, cheaply."""

from __future__ import annotations

import asyncio
import time

import pytest

from node.runtime.fake import FakeRuntime
from node.runtime.interface import (
    ATTEMPT,
    CONTAINER_NAME,
    KIND,
    MANAGED,
    POD_UID,
    SANDBOX_ID,
    ContainerConfig,
    ContainerState,
    ExecResult,
    ImageNotFound,
    NotFound,
    PodRef,
    Runtime,
    RuntimeCallError,
    RuntimeEvent,
    SandboxConfig,
    SandboxState,
)
from node.runtime.pause import PAUSE_IMAGE

POD = PodRef(uid="uid-1", namespace="default", name="web")
IMAGE = "jota/busybox:latest"


def sandbox_config(pod: PodRef = POD, **kw: object) -> SandboxConfig:
    return SandboxConfig(pod=pod, **kw)  # type: ignore[arg-type]


async def running_pod(rt: FakeRuntime, *names: str) -> tuple[str, list[str]]:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    ids = []
    for name in names:
        cid = await rt.create_container(sid, ContainerConfig(name=name, image=IMAGE), sc)
        await rt.start_container(cid)
        ids.append(cid)
    return sid, ids


def test_is_a_runtime() -> None:
    rt: Runtime = FakeRuntime()
    assert rt is not None


async def test_version() -> None:
    assert await FakeRuntime().version() == ("fake", "1.0.0")


async def test_sandbox_gets_ip_and_labels() -> None:
    rt = FakeRuntime()
    sid = await rt.run_pod_sandbox(sandbox_config(labels={"app": "web"}, attempt=2))
    status = await rt.pod_sandbox_status(sid)
    assert status.state == SandboxState.READY
    assert status.ip.startswith("10.88.")
    assert status.attempt == 2
    assert status.labels[KIND] == "podsandbox"
    assert status.labels[MANAGED] == "true"
    assert status.labels[POD_UID] == "uid-1"
    assert status.labels["app"] == "web"
    assert [s.id for s in await rt.list_pod_sandboxes()] == [sid]


async def test_ips_are_unique_and_reused_after_removal() -> None:
    rt = FakeRuntime()
    ids = [await rt.run_pod_sandbox(sandbox_config(PodRef(f"u{i}", "ns", f"p{i}")))
           for i in range(600)]
    ips = [(await rt.pod_sandbox_status(s)).ip for s in ids]
    assert len(set(ips)) == 600
    freed = ips[5]
    await rt.remove_pod_sandbox(ids[5])
    again = await rt.run_pod_sandbox(sandbox_config(PodRef("new", "ns", "new")))
    assert (await rt.pod_sandbox_status(again)).ip == freed


async def test_host_network_sandbox_has_no_pod_ip() -> None:
    rt = FakeRuntime()
    sid = await rt.run_pod_sandbox(sandbox_config(host_network=True))
    assert (await rt.pod_sandbox_status(sid)).ip == ""


async def test_container_lifecycle() -> None:
    rt = FakeRuntime()
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await rt.create_container(sid, ContainerConfig(name="app", image=IMAGE, attempt=3), sc)
    created = await rt.container_status(cid)
    assert created.state == ContainerState.CREATED
    assert (created.sandbox_id, created.name, created.attempt, created.pod) == (sid, "app", 3,
                                                                                 POD)
    assert created.labels[SANDBOX_ID] == sid
    assert created.labels[CONTAINER_NAME] == "app"
    assert created.labels[ATTEMPT] == "3"
    assert created.image_ref.startswith("sha256:")

    await rt.start_container(cid)
    running = await rt.container_status(cid)
    assert running.state == ContainerState.RUNNING and running.started_at > 0
    assert created.state == ContainerState.CREATED  # an earlier snapshot stays as it was

    await rt.stop_container(cid, 10)
    stopped = await rt.container_status(cid)
    assert (stopped.state, stopped.exit_code, stopped.reason) == (ContainerState.EXITED, 143,
                                                                  "Error")
    assert stopped.finished_at >= stopped.started_at

    await rt.remove_container(cid)
    await rt.remove_container(cid)  # removing what is gone is no error
    assert await rt.list_containers() == []
    with pytest.raises(NotFound):
        await rt.container_status(cid)


@pytest.mark.parametrize(("exit_code", "reason"), [(0, "Completed"), (1, "Error"),
                                                   (2, "Error")])
async def test_crash(exit_code: int, reason: str) -> None:
    rt = FakeRuntime()
    _, [cid] = await running_pod(rt, "app")
    rt.crash(cid, exit_code)
    status = await rt.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED,
                                                               exit_code, reason)


async def test_oom() -> None:
    rt = FakeRuntime()
    _, [cid] = await running_pod(rt, "hog")
    rt.oom(cid)
    status = await rt.container_status(cid)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_exit_on_start() -> None:
    rt = FakeRuntime()
    rt.exit_on_start["bad"] = 1
    _, [good, bad] = await running_pod(rt, "good", "bad")
    assert (await rt.container_status(good)).state == ContainerState.RUNNING
    status = await rt.container_status(bad)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 1,
                                                               "Error")


async def test_stopping_the_sandbox_stops_its_containers_and_removal_removes_them() -> None:
    rt = FakeRuntime()
    sid, _ = await running_pod(rt, "a", "b")
    await rt.stop_pod_sandbox(sid)
    assert (await rt.pod_sandbox_status(sid)).state == SandboxState.NOTREADY
    assert (await rt.pod_sandbox_status(sid)).ip == ""
    assert {c.state for c in await rt.list_containers()} == {ContainerState.EXITED}
    await rt.remove_pod_sandbox(sid)
    assert await rt.list_containers() == []
    assert await rt.list_pod_sandboxes() == []
    with pytest.raises(NotFound):
        await rt.pod_sandbox_status(sid)


async def test_create_needs_sandbox_and_image() -> None:
    rt = FakeRuntime()
    sc = sandbox_config()
    with pytest.raises(NotFound):
        await rt.create_container("nope", ContainerConfig(name="a", image=IMAGE), sc)
    sid = await rt.run_pod_sandbox(sc)
    with pytest.raises(ImageNotFound) as err:
        await rt.create_container(sid, ContainerConfig(name="a", image="nginx"), sc)
    assert err.value.reason == "ErrImagePull"
    assert "No such image: nginx:latest" in err.value.message


async def test_same_name_and_attempt_replaces_the_leftover() -> None:
    rt = FakeRuntime()
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    first = await rt.create_container(sid, ContainerConfig(name="a", image=IMAGE), sc)
    second = await rt.create_container(sid, ContainerConfig(name="a", image=IMAGE), sc)
    assert [c.id for c in await rt.list_containers()] == [second]
    assert first != second


async def test_images_pull_and_fail_pull() -> None:
    rt = FakeRuntime()
    assert await rt.image_status(PAUSE_IMAGE) is not None
    assert await rt.image_status("nginx") is None
    image_id = await rt.pull_image("nginx")
    info = await rt.image_status("nginx:latest")
    assert info is not None and info.id == image_id and info.tags == ["nginx:latest"]
    rt.fail_pull.add("nosuch/app")
    with pytest.raises(ImageNotFound) as err:
        await rt.pull_image("nosuch/app:latest")
    assert err.value.reason == "ErrImagePull"
    assert "pull access denied for nosuch/app" in err.value.message
    assert "nginx:latest" in [t for i in await rt.list_images() for t in i.tags]
    await rt.remove_image("nginx")
    assert await rt.image_status("nginx") is None


async def test_exec_results_table() -> None:
    rt = FakeRuntime()
    rt.exec_results[("cat", "/tmp/healthy")] = ExecResult(1, b"", b"No such file\n")
    _, [cid] = await running_pod(rt, "app")
    assert await rt.exec_sync(cid, ["true"], 1) == ExecResult(0, b"", b"")
    assert (await rt.exec_sync(cid, ["cat", "/tmp/healthy"], 1)).exit_code == 1
    rt.crash(cid)
    with pytest.raises(RuntimeCallError, match="is not running"):
        await rt.exec_sync(cid, ["true"], 1)


async def test_fail_next_injects_one_error() -> None:
    rt = FakeRuntime()
    rt.fail_next["run_pod_sandbox"] = RuntimeCallError("CreatePodSandboxError", "boom")
    with pytest.raises(RuntimeCallError, match="boom"):
        await rt.run_pod_sandbox(sandbox_config())
    assert await rt.run_pod_sandbox(sandbox_config())
    assert rt.calls["run_pod_sandbox"] == 2


async def test_logs_tail_since_and_follow() -> None:
    rt = FakeRuntime()
    _, [cid] = await running_pod(rt, "app")
    for i in range(5):
        rt.write_log(cid, f"line {i}\n".encode(), "stderr" if i == 4 else "stdout")
    lines = [line async for line in rt.logs(cid)]
    assert [line.data for line in lines] == [f"line {i}\n".encode() for i in range(5)]
    assert lines[4].stream == "stderr"
    assert lines[0].timestamp.endswith("Z") and len(lines[0].timestamp) == 30
    assert [line.data async for line in rt.logs(cid, tail=2)] == [b"line 3\n", b"line 4\n"]
    assert [line.data async for line in rt.logs(cid, since=time.time() + 60)] == []

    got: list[bytes] = []

    async def follow() -> None:
        async for line in rt.logs(cid, follow=True, tail=0):
            got.append(line.data)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    rt.write_log(cid, b"later\n")
    await asyncio.sleep(0)
    rt.crash(cid, 0)  # the stream ends with the container
    await asyncio.wait_for(task, 1)
    assert got == [b"later\n"]


async def test_stats() -> None:
    rt = FakeRuntime()
    _, [cid] = await running_pod(rt, "app")
    rt.set_memory(cid, 64 << 20)
    stats = await rt.container_stats(cid)
    assert stats.memory_working_set == 64 << 20
    assert stats.cpu_usage_ns >= 0 and stats.timestamp > 0


async def test_events() -> None:
    rt = FakeRuntime()
    got: list[RuntimeEvent] = []

    async def watch() -> None:
        async for event in rt.events():
            got.append(event)

    task = asyncio.create_task(watch())
    await asyncio.sleep(0)
    _, [cid] = await running_pod(rt, "app")
    rt.oom(cid)
    await rt.remove_container(cid)
    await asyncio.sleep(0)
    await rt.close()
    await asyncio.wait_for(task, 1)
    assert [(e.container_id, e.pod_uid, e.kind) for e in got] == [
        (cid, "uid-1", "started"), (cid, "uid-1", "oom"), (cid, "uid-1", "died"),
        (cid, "uid-1", "destroyed")]


async def test_a_thousand_hollow_nodes_of_thirty_pods_are_cheap() -> None:
    started = time.perf_counter()
    nodes = [FakeRuntime() for _ in range(1000)]
    for n, rt in enumerate(nodes):
        for p in range(30):
            sc = sandbox_config(PodRef(f"{n}-{p}", "ns", f"pod-{p}"))
            sid = await rt.run_pod_sandbox(sc)
            cid = await rt.create_container(sid, ContainerConfig(name="app", image=IMAGE), sc)
            await rt.start_container(cid)
    assert len(await nodes[-1].list_containers()) == 30
    assert time.perf_counter() - started < 5
