"""DockerRuntime against the machine's real dockerd: pods as sandbox + joined containers.

Each test's runtime writes its own value of the managed label, so a node agent
running on the same engine neither adopts nor removes the test's containers;
every test removes what it made.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import pytest

from jota.local.docker import ensure_dockerd
from jota.local.images import build_test_image
from node.runtime.docker import DockerRuntime
from node.runtime.interface import (
    MANAGED,
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    ImageNotFound,
    Mount,
    PodRef,
    Resources,
    Runtime,
    RuntimeCallError,
    RuntimeEvent,
    SandboxConfig,
    SandboxState,
    Security,
)
from node.runtime.pause import PAUSE_IMAGE
from node.runtime.pause.image import ensure_pause_image

IMAGE = "jota/busybox:latest"


@pytest.fixture(scope="module")
def engine() -> Iterator[str]:
    ensure_dockerd()
    build_test_image(tag=IMAGE)
    yield "unix:///var/run/docker.sock"


@pytest.fixture
async def rt(engine: str) -> AsyncIterator[DockerRuntime]:
    managed = f"test-{uuid.uuid4().hex[:8]}"
    runtime = DockerRuntime(engine, managed=managed)
    await ensure_pause_image(runtime)
    try:
        yield runtime
    finally:
        await runtime.close()
        client = docker.DockerClient(base_url=engine)
        for c in client.containers.list(all=True, filters={"label": f"{MANAGED}={managed}"}):
            c.remove(force=True)
        client.close()


def sandbox_config(name: str = "web", **kw: object) -> SandboxConfig:
    pod = PodRef(uid=str(uuid.uuid4()), namespace="default", name=name)
    return SandboxConfig(pod=pod, hostname=name, **kw)  # type: ignore[arg-type]


async def run(rt: DockerRuntime, sid: str, sc: SandboxConfig, name: str, *command: str,
              **kw: object) -> str:
    cid = await rt.create_container(
        sid, ContainerConfig(name=name, image=IMAGE, command=list(command), **kw),  # type: ignore[arg-type]
        sc)
    await rt.start_container(cid)
    return cid


async def exited(rt: DockerRuntime, cid: str, timeout: float = 15) -> ContainerStatus:
    """Bounded from outside: a stuck container fails the test instead of hanging it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await rt.container_status(cid)
        if status.state == ContainerState.EXITED:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"container {cid[:12]} still running after {timeout}s")


def test_is_a_runtime() -> None:
    runtime: Runtime = DockerRuntime()
    assert runtime is not None


async def test_version_and_pause_image(rt: DockerRuntime) -> None:
    name, version = await rt.version()
    assert name == "docker" and version
    first = await ensure_pause_image(rt)
    assert await ensure_pause_image(rt) == first
    info = await rt.image_status(PAUSE_IMAGE)
    assert info is not None and info.id == first
    inspect = rt.docker_api().inspect_image(PAUSE_IMAGE)
    assert inspect["Config"]["Entrypoint"] == ["/pause"]


async def test_two_containers_of_a_pod_share_localhost(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    sandbox = await rt.pod_sandbox_status(sid)
    assert sandbox.state == SandboxState.READY
    assert sandbox.ip.count(".") == 3
    assert sandbox.pod == sc.pod

    web = await run(rt, sid, sc, "web", "httpd", "-f", "-p", "8080", "-h", "/www")
    client = await run(rt, sid, sc, "client", "sh", "-c",
                       "for i in 1 2 3 4 5 6 7 8 9 10; do "
                       "wget -O- http://127.0.0.1:8080/ && exit 0; sleep 0.2; done; exit 1")
    done = await exited(rt, client)
    assert (done.exit_code, done.reason) == (0, "Completed")
    # Docker stamps start and exit in different processes: a fast exit can read a hair early.
    assert done.finished_at >= done.started_at - 0.05 and done.started_at > 0

    lines = [line async for line in rt.logs(client)]
    assert b"<body><h1>It works!</h1></body></html>\n" in [ln.data for ln in lines if
                                                      ln.stream == "stdout"]
    assert any(ln.stream == "stderr" and b"Connecting to 127.0.0.1:8080" in ln.data
               for ln in lines)
    assert all(ln.timestamp.endswith("Z") for ln in lines)
    assert [ln.data async for ln in rt.logs(client, tail=1)] == [lines[-1].data]

    listed = {c.name: c for c in await rt.list_containers()}
    assert set(listed) == {"web", "client"}
    assert listed["web"].state == ContainerState.RUNNING
    assert listed["web"].sandbox_id == sid and listed["web"].pod == sc.pod
    assert listed["web"].image == IMAGE and listed["web"].image_ref.startswith("sha256:")
    assert [s.id for s in await rt.list_pod_sandboxes()] == [sid]

    result = await rt.exec_sync(web, ["sh", "-c", "cat /www/index.html; echo oops >&2; exit 3"],
                                5)
    assert result.exit_code == 3
    assert b"It works!" in result.stdout and result.stderr == b"oops\n"
    hostname = await rt.exec_sync(web, ["hostname"], 5)
    assert hostname.stdout == b"web\n"

    stats = await rt.container_stats(web)
    assert stats.cpu_usage_ns > 0 and stats.memory_working_set > 0 and stats.timestamp > 0

    await rt.stop_pod_sandbox(sid)
    assert (await rt.pod_sandbox_status(sid)).state == SandboxState.NOTREADY
    await rt.remove_pod_sandbox(sid)
    assert await rt.list_containers() == []
    assert await rt.list_pod_sandboxes() == []


async def test_exec_timeout_is_bounded(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await run(rt, sid, sc, "app", "sleep", "3600")
    started = time.monotonic()
    result = await rt.exec_sync(cid, ["sleep", "30"], 0.5)
    assert result.exit_code == -1
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(("script", "exit_code", "reason"), [
    ("echo bye; exit 3", 3, "Error"),
    ("true", 0, "Completed"),
])
async def test_exit_code_and_reason(rt: DockerRuntime, script: str, exit_code: int,
                                    reason: str) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    status = await exited(rt, await run(rt, sid, sc, "app", "sh", "-c", script))
    assert (status.exit_code, status.reason) == (exit_code, reason)


async def test_memory_hog_is_oom_killed(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await run(rt, sid, sc, "hog", "sh", "-c", "x=$(yes | head -c 50000000); echo done",
                    resources=Resources(memory_limit=8 << 20))
    status = await exited(rt, cid)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_unknown_image(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    with pytest.raises(ImageNotFound) as err:
        await rt.create_container(sid, ContainerConfig(name="a", image="jota/nosuch:1"), sc)
    assert err.value.reason == "ErrImagePull"
    assert "No such image: jota/nosuch:1" in err.value.message
    with pytest.raises(RuntimeCallError) as pulled:  # no registry answers here
        await rt.pull_image("127.0.0.1:1/jota/nosuch:1")
    assert pulled.value.reason == "ErrImagePull"
    assert pulled.value.message.startswith("Error response from daemon:")
    assert await rt.image_status("jota/nosuch:1") is None
    assert IMAGE in [t for i in await rt.list_images() for t in i.tags]


async def test_stop_sends_sigterm_then_sigkill_after_the_timeout(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    polite = await run(rt, sid, sc, "polite", "sh", "-c",
                       'trap "exit 0" TERM; while true; do sleep 0.1; done')
    deaf = await run(rt, sid, sc, "deaf", "sleep", "3600")  # PID 1 ignores SIGTERM
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await rt.stop_container(polite, 10)
    assert time.monotonic() - started < 5
    assert (await rt.container_status(polite)).exit_code == 0
    started = time.monotonic()
    await rt.stop_container(deaf, 1)
    assert 0.9 < time.monotonic() - started < 5
    assert (await rt.container_status(deaf)).exit_code == 137
    await rt.stop_container(deaf, 1)  # stopped already: no error
    await rt.remove_container(deaf)
    await rt.remove_container(deaf)  # gone already: no error
    await rt.stop_container(deaf, 1)


async def test_security_and_env(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await run(rt, sid, sc, "app", "sleep", "3600", env={"GREETING": "hello world"},
                    security=Security(run_as_user=65534, run_as_group=65534,
                                      readonly_rootfs=True, cap_drop=["ALL"],
                                      no_new_privileges=True))
    ident = await rt.exec_sync(cid, ["id", "-u"], 5)
    assert ident.stdout == b"65534\n"
    env = await rt.exec_sync(cid, ["sh", "-c", 'echo "$GREETING"'], 5)
    assert env.stdout == b"hello world\n"
    assert (await rt.exec_sync(cid, ["touch", "/tmp/x"], 5)).exit_code != 0


async def test_mounts(rt: DockerRuntime, tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "config.txt").write_text("from the host\n")
    (tmp_path / "rw").mkdir()
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await run(rt, sid, sc, "app", "sleep", "3600",
                    mounts=[Mount(str(tmp_path / "ro"), "/config", readonly=True),
                            Mount(str(tmp_path / "rw"), "/data")])
    config = await rt.exec_sync(cid, ["cat", "/config/config.txt"], 5)
    assert config.stdout == b"from the host\n"
    assert (await rt.exec_sync(cid, ["touch", "/config/x"], 5)).exit_code != 0
    assert (await rt.exec_sync(cid, ["touch", "/data/x"], 5)).exit_code == 0
    assert (tmp_path / "rw" / "x").exists()


async def test_args_replace_cmd_and_command_replaces_entrypoint(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await rt.create_container(sid, ContainerConfig(name="a", image=IMAGE,
                                                         args=["echo", "from args"]), sc)
    await rt.start_container(cid)
    await exited(rt, cid)
    assert [ln.data async for ln in rt.logs(cid)] == [b"from args\n"]


async def test_follow_logs_until_the_container_exits(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await run(rt, sid, sc, "app", "sh", "-c",
                    "for i in 1 2 3; do echo line $i; sleep 0.2; done")
    got = [ln.data async for ln in rt.logs(cid, follow=True)]
    assert got == [b"line 1\n", b"line 2\n", b"line 3\n"]


async def test_stopping_a_follow_early_closes_the_stream(rt: DockerRuntime) -> None:
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await run(rt, sid, sc, "app", "sh", "-c", "while true; do echo tick; sleep 0.1; done")
    stream = rt.logs(cid, follow=True)
    first = await asyncio.wait_for(anext(stream), 5)
    assert first.data == b"tick\n"
    await asyncio.wait_for(stream.aclose(), 5)  # type: ignore[attr-defined]


async def test_events_and_adoption_by_a_new_runtime(rt: DockerRuntime) -> None:
    got: list[RuntimeEvent] = []

    async def watch() -> None:
        async for event in rt.events():
            got.append(event)

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.3)
    sc = sandbox_config()
    sid = await rt.run_pod_sandbox(sc)
    cid = await run(rt, sid, sc, "app", "sh", "-c", "exit 0")
    await exited(rt, cid)

    again = DockerRuntime(rt.docker_host, managed=rt.managed)  # an agent that restarted
    try:
        assert [c.id for c in await again.list_containers()] == [cid]
        assert [s.id for s in await again.list_pod_sandboxes()] == [sid]
    finally:
        await again.close()

    await rt.remove_container(cid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(
            e.kind == "destroyed" and e.container_id == cid for e in got):
        await asyncio.sleep(0.05)
    task.cancel()
    kinds = [(e.kind, e.pod_uid) for e in got if e.container_id == cid]
    assert kinds == [("started", sc.pod.uid), ("died", sc.pod.uid),
                     ("destroyed", sc.pod.uid)]
    assert ("started", sc.pod.uid) in [(e.kind, e.pod_uid) for e in got
                                       if e.container_id == sid]
