"""An in-memory Runtime: unit tests of the agent, and hollow nodes as kubemark's.

Sandboxes and containers are records; a started container "runs" until it is
stopped or a test makes it crash (`crash`, `oom`, `exit_on_start`). Pod IPs
come from 10.88.0.0/16 and are only strings: nothing is routed. It must stay
cheap (a thousand hollow nodes of 30 pods in one process), so statuses are
never copied: every change replaces a record's status with a new object, and
what a caller got from a list stays as it was, as a snapshot from Docker would.

Hooks for tests:
    images / fail_pull   what is present; what pulls fail with ImageNotFound
    exec_results         command tuple -> ExecResult (default: exit 0, no output)
    exit_on_start        container name -> exit code it exits with right after start
    fail_next            method name -> error its next call raises
    crash(), oom(), write_log(), set_memory()
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from node.runtime.interface import (
    ATTEMPT,
    CONTAINER_NAME,
    KIND,
    SANDBOX_ID,
    ContainerConfig,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    ImageInfo,
    ImageNotFound,
    LogLine,
    NotFound,
    RuntimeCallError,
    RuntimeEvent,
    SandboxConfig,
    SandboxState,
    SandboxStatus,
)
from node.runtime.pause import PAUSE_IMAGE
from node.runtime.pullprogress import PullProgress

DEFAULT_IMAGES = (PAUSE_IMAGE, "jota/busybox:latest")
DEFAULT_MEMORY = 4 << 20
CPU_FRACTION = 0.01  # a hollow container "uses" 1% of a CPU while it runs


@dataclass
class _Container:
    status: ContainerStatus
    config: ContainerConfig
    logs: list[LogLine] = field(default_factory=list)
    followers: set[asyncio.Event] = field(default_factory=set)
    memory: int = DEFAULT_MEMORY

    def wake(self) -> None:
        for event in self.followers:
            event.set()


def normalize(image: str) -> str:
    """"busybox" and "busybox:latest" are one image, as for Docker."""
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return f"{image}:latest"


def image_id(image: str) -> str:
    return "sha256:" + hashlib.sha256(normalize(image).encode()).hexdigest()


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class FakeRuntime:
    """`Runtime` in memory; see the module docstring for the test hooks."""

    def __init__(self, images: Iterable[str] = DEFAULT_IMAGES, *, ip_prefix: str = "10.88",
                 stop_exit_code: int = 143) -> None:
        self.images: set[str] = {normalize(i) for i in images}
        self.fail_pull: set[str] = set()
        self.exec_results: dict[tuple[str, ...], ExecResult] = {}
        self.exit_on_start: dict[str, int] = {}
        self.fail_next: dict[str, RuntimeCallError] = {}
        self.stop_exit_code = stop_exit_code
        self.calls: Counter[str] = Counter()
        self.sandboxes: dict[str, SandboxStatus] = {}
        self.containers: dict[str, _Container] = {}
        self._ip_prefix = ip_prefix
        self._next_ip = 0
        self._free_ips: list[str] = []
        self._subscribers: set[asyncio.Queue[RuntimeEvent | None]] = set()

    # ---- plumbing ----------------------------------------------------------------------------

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        error = self.fail_next.pop(name, None)
        if error is not None:
            raise error

    def _emit(self, container_id: str, pod_uid: str, kind: str) -> None:
        event = RuntimeEvent(container_id=container_id, pod_uid=pod_uid, kind=kind)
        for queue in self._subscribers:
            queue.put_nowait(event)

    def _allocate_ip(self) -> str:
        if self._free_ips:
            return self._free_ips.pop()
        n = self._next_ip
        self._next_ip += 1
        return f"{self._ip_prefix}.{n // 254 % 256}.{n % 254 + 1}"

    def _container(self, container_id: str) -> _Container:
        record = self.containers.get(container_id)
        if record is None:
            raise NotFound(f'container "{container_id}"')
        return record

    def _set(self, record: _Container, **changes: object) -> None:
        record.status = replace(record.status, **changes)  # type: ignore[arg-type]
        record.wake()

    def _exit(self, record: _Container, exit_code: int, reason: str = "") -> None:
        if record.status.state != ContainerState.RUNNING:
            return
        self._set(record, state=ContainerState.EXITED, exit_code=exit_code,
                  finished_at=time.time(),
                  reason=reason or ("Completed" if exit_code == 0 else "Error"))
        self._emit(record.status.id, record.status.pod.uid, "died")

    async def version(self) -> tuple[str, str]:
        self._call("version")
        return "fake", "1.0.0"

    async def close(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)

    # ---- test hooks ----------------------------------------------------------------------------

    def crash(self, container_id: str, exit_code: int = 1) -> None:
        """The container's process exits by itself with `exit_code`."""
        self._exit(self._container(container_id), exit_code)

    def oom(self, container_id: str) -> None:
        """The kernel kills the container for going over its memory limit."""
        record = self._container(container_id)
        if record.status.state == ContainerState.RUNNING:
            self._emit(container_id, record.status.pod.uid, "oom")
            self._exit(record, 137, "OOMKilled")

    def write_log(self, container_id: str, data: bytes, stream: str = "stdout") -> None:
        record = self._container(container_id)
        record.logs.append(LogLine(timestamp=rfc3339(time.time()), stream=stream, data=data))
        record.wake()

    def set_memory(self, container_id: str, working_set: int) -> None:
        self._container(container_id).memory = working_set

    # ---- sandboxes -----------------------------------------------------------------------------

    async def run_pod_sandbox(self, config: SandboxConfig) -> str:
        self._call("run_pod_sandbox")
        if PAUSE_IMAGE not in self.images:
            raise ImageNotFound(PAUSE_IMAGE)
        sid = os.urandom(32).hex()
        labels = {**config.labels, **config.pod.labels(), KIND: "podsandbox",
                  CONTAINER_NAME: "POD", ATTEMPT: str(config.attempt)}
        self.sandboxes[sid] = SandboxStatus(
            id=sid, pod=config.pod, attempt=config.attempt, state=SandboxState.READY,
            created_at=time.time(), ip="" if config.host_network else self._allocate_ip(),
            labels=labels)
        return sid

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self._call("stop_pod_sandbox")
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        for record in list(self.containers.values()):
            if record.status.sandbox_id == sandbox_id:
                self._exit(record, self.stop_exit_code)
        if sandbox.state == SandboxState.READY:
            if sandbox.ip:
                self._free_ips.append(sandbox.ip)
            self.sandboxes[sandbox_id] = replace(sandbox, state=SandboxState.NOTREADY, ip="")

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._call("remove_pod_sandbox")
        for cid in [c for c, r in self.containers.items() if r.status.sandbox_id == sandbox_id]:
            self._remove(cid)
        sandbox = self.sandboxes.pop(sandbox_id, None)
        if sandbox is not None and sandbox.ip:
            self._free_ips.append(sandbox.ip)

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        self._call("pod_sandbox_status")
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            raise NotFound(f'pod sandbox "{sandbox_id}"')
        return sandbox

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        self._call("list_pod_sandboxes")
        return list(self.sandboxes.values())

    # ---- containers ----------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox: SandboxConfig) -> str:
        self._call("create_container")
        if sandbox_id not in self.sandboxes:
            raise NotFound(f'pod sandbox "{sandbox_id}"')
        if normalize(config.image) not in self.images:
            raise ImageNotFound(config.image, "Error response from daemon: No such image: "
                                f"{normalize(config.image)}")
        for cid, record in list(self.containers.items()):  # a name Docker would refuse twice
            s = record.status
            if (s.pod.uid, s.name, s.attempt) == (sandbox.pod.uid, config.name, config.attempt):
                self._remove(cid)
        cid = os.urandom(32).hex()
        labels = {**config.labels, **sandbox.pod.labels(), KIND: "container",
                  SANDBOX_ID: sandbox_id, CONTAINER_NAME: config.name,
                  ATTEMPT: str(config.attempt)}
        self.containers[cid] = _Container(
            status=ContainerStatus(id=cid, sandbox_id=sandbox_id, pod=sandbox.pod,
                                   name=config.name, attempt=config.attempt,
                                   state=ContainerState.CREATED, image=config.image,
                                   image_ref=image_id(config.image), created_at=time.time(),
                                   labels=labels),
            config=config)
        return cid

    async def start_container(self, container_id: str) -> None:
        self._call("start_container")
        record = self._container(container_id)
        if record.status.state == ContainerState.RUNNING:
            return
        self._set(record, state=ContainerState.RUNNING, started_at=time.time(),
                  finished_at=0.0, exit_code=0, reason="")
        self._emit(container_id, record.status.pod.uid, "started")
        code = self.exit_on_start.get(record.config.name)
        if code is not None:
            self._exit(record, code)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        self._call("stop_container")
        record = self.containers.get(container_id)
        if record is not None:
            self._exit(record, self.stop_exit_code)

    def _remove(self, container_id: str) -> None:
        record = self.containers.pop(container_id, None)
        if record is not None:
            self._set(record, state=ContainerState.UNKNOWN)  # ends followers
            self._emit(container_id, record.status.pod.uid, "destroyed")

    async def remove_container(self, container_id: str) -> None:
        self._call("remove_container")
        self._remove(container_id)

    async def list_containers(self) -> list[ContainerStatus]:
        self._call("list_containers")
        return [r.status for r in self.containers.values()]

    async def container_status(self, container_id: str) -> ContainerStatus:
        self._call("container_status")
        return self._container(container_id).status

    async def exec_sync(self, container_id: str, cmd: list[str],
                        timeout: float) -> ExecResult:
        self._call("exec_sync")
        record = self._container(container_id)
        if record.status.state != ContainerState.RUNNING:
            raise RuntimeCallError("ExecSyncError", "Error response from daemon: Container "
                                   f"{container_id} is not running")
        return self.exec_results.get(tuple(cmd), ExecResult(0, b"", b""))

    async def exec_stream(self, container_id: str, cmd: list[str], *, stdin: bool,
                          tty: bool) -> FakeExecSession:
        """`exec_results` answers as in exec_sync; `cat` echoes its stdin."""
        self._call("exec_stream")
        record = self._container(container_id)
        if record.status.state != ContainerState.RUNNING:
            raise RuntimeCallError("ExecError", "Error response from daemon: Container "
                                   f"{container_id} is not running")
        result = self.exec_results.get(tuple(cmd), ExecResult(0, b"", b""))
        return FakeExecSession(result, echo=cmd[:1] == ["cat"], stdin=stdin, tty=tty)

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   since: float | None = None) -> AsyncIterator[LogLine]:
        self._call("logs")
        record = self._container(container_id)
        lines = record.logs
        start = 0 if tail is None else max(len(lines) - max(tail, 0), 0)
        wakeup = asyncio.Event()
        record.followers.add(wakeup)
        try:
            i = start
            while True:
                while i < len(lines):
                    line = lines[i]
                    i += 1
                    if since is None or _parse_stamp(line.timestamp) >= since:
                        yield line
                if not follow or record.status.state in (ContainerState.EXITED,
                                                         ContainerState.UNKNOWN):
                    return
                await wakeup.wait()
                wakeup.clear()
        finally:
            record.followers.discard(wakeup)

    async def container_stats(self, container_id: str) -> ContainerStats:
        self._call("container_stats")
        record = self._container(container_id)
        s, now = record.status, time.time()
        end = s.finished_at if s.state == ContainerState.EXITED else now
        ran = max(end - s.started_at, 0.0) if s.started_at else 0.0
        running = s.state == ContainerState.RUNNING
        return ContainerStats(cpu_usage_ns=int(ran * CPU_FRACTION * 1e9),
                              memory_working_set=record.memory if running else 0,
                              timestamp=now)

    # ---- images --------------------------------------------------------------------------------

    async def pull_image(self, image: str, auth: dict[str, str] | None = None,
                         on_progress: Callable[[PullProgress], None] | None = None) -> str:
        self._call("pull_image")
        name = normalize(image)
        if name in {normalize(i) for i in self.fail_pull}:
            repo = name.rsplit(":", 1)[0] if "@" not in name else name.split("@")[0]
            raise ImageNotFound(image, f"Error response from daemon: pull access denied for "
                                f"{repo}, repository does not exist or may require "
                                f"'docker login': denied: requested access to the resource "
                                f"is denied")
        self.images.add(name)
        return image_id(name)

    async def image_status(self, image: str) -> ImageInfo | None:
        self._call("image_status")
        name = normalize(image)
        if name not in self.images:
            return None
        return ImageInfo(id=image_id(name), tags=[name], size=1 << 20)

    async def list_images(self) -> list[ImageInfo]:
        self._call("list_images")
        return [ImageInfo(id=image_id(i), tags=[i], size=1 << 20) for i in sorted(self.images)]

    async def remove_image(self, image: str) -> None:
        self._call("remove_image")
        self.images.discard(normalize(image))

    # ---- events --------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        queue: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.discard(queue)


class FakeExecSession:
    """An exec that answers once its stdin is closed (at once without stdin)."""

    def __init__(self, result: ExecResult, *, echo: bool, stdin: bool, tty: bool) -> None:
        self.result = result
        self.echo = echo
        self.tty = tty
        self.stdin = bytearray()
        self.sizes: list[tuple[int, int]] = []
        self.closed = False
        self._stdin_done = asyncio.Event()
        if not stdin:
            self._stdin_done.set()

    async def write(self, data: bytes) -> None:
        self.stdin += data

    async def close_stdin(self) -> None:
        self._stdin_done.set()

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        await self._stdin_done.wait()
        if self.echo and self.stdin:
            yield "stdout", bytes(self.stdin)
        if self.result.stdout:
            yield "stdout", self.result.stdout
        if self.result.stderr:
            yield ("stdout" if self.tty else "stderr"), self.result.stderr

    async def resize(self, width: int, height: int) -> None:
        self.sizes.append((width, height))

    async def wait(self) -> int:
        return self.result.exit_code

    async def close(self) -> None:
        self.closed = True


def _parse_stamp(stamp: str) -> float:
    return datetime.strptime(stamp[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=UTC).timestamp()
