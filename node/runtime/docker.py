"""The Runtime over a Docker engine, as dockershim was for Kubernetes.

The Docker SDK blocks, so every call runs in this runtime's own thread pool and
streams (events, followed logs) in threads of their own: the agent's event loop
never waits on Docker. Translations to and from Docker's JSON live in
`docker_convert`; this module only makes the calls and maps their errors.

Listing containers is the agent's most frequent call (each pod worker observes
its pod through it), and the list summary lacks exit codes and start times. So
each container's `inspect` is cached under its Docker state: a running or exited
container does not change until its state does.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

import docker
from docker.types.daemon import CancellableStream

from node.runtime import docker_convert as convert
from node.runtime.docker_streams import bridge, log_lines, raw_socket, read_exec_output, shut
from node.runtime.interface import (
    KIND,
    MANAGED,
    SANDBOX_ID,
    ContainerConfig,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    ExecSession,
    ImageInfo,
    ImageNotFound,
    LogLine,
    NotFound,
    RuntimeCallError,
    RuntimeEvent,
    SandboxConfig,
    SandboxStatus,
)
from node.runtime.pause import PAUSE_IMAGE
from node.runtime.pause.image import build_pause_image
from node.runtime.pullprogress import PullProgress, PullTracker

T = TypeVar("T")

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Grace for containers still running when their sandbox is stopped (kubelet stops them
# first with the pod's own grace period; this only catches stragglers).
SANDBOX_STOP_GRACE = 2
_NAME_CONFLICT = re.compile(r'already in use by container \\?"([0-9a-f]+)\\?"')
_IMAGE_MISSING = ("not found", "pull access denied", "manifest unknown",
                  "repository does not exist", "no such image")


def _daemon_message(e: docker.errors.APIError) -> str:
    return f"Error response from daemon: {e.explanation or e}"


def translate(e: BaseException, reason: str, what: str) -> BaseException:
    """Docker SDK and connection errors as the interface's errors; others unchanged."""
    if isinstance(e, RuntimeCallError):
        return e
    if isinstance(e, docker.errors.NotFound):
        return NotFound(what) if what else RuntimeCallError(reason, _daemon_message(e))
    if isinstance(e, docker.errors.APIError):
        return RuntimeCallError(reason, _daemon_message(e))
    if isinstance(e, docker.errors.DockerException | OSError):  # requests' errors are OSErrors
        return RuntimeCallError(reason, f"cannot talk to the Docker engine: {e}")
    return e


def reraise(e: Exception, reason: str, what: str) -> NoReturn:
    mapped = translate(e, reason, what)
    if mapped is e:
        raise e
    raise mapped from e


def pull_error(image: str, message: str) -> RuntimeCallError:
    if any(m in message.lower() for m in _IMAGE_MISSING):
        return ImageNotFound(image, message)
    return RuntimeCallError("ErrImagePull", message)


class DockerRuntime:
    """`Runtime` over the Docker Engine API at `docker_host`."""

    def __init__(self, docker_host: str = DEFAULT_HOST, *, managed: str = "true",
                 max_workers: int = 64, timeout: int = 60) -> None:
        self.docker_host = docker_host
        # The MANAGED label's value this runtime writes and lists: another value keeps two
        # users of one engine (a test beside a running agent) out of each other's way.
        self.managed = managed
        self._timeout = timeout
        self._max_workers = max_workers
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="docker")
        self._api: Any = None
        self._api_lock = threading.Lock()
        # container id -> (Docker state it was inspected in, its status then)
        self._inspected: dict[str, tuple[str, ContainerStatus]] = {}

    # ---- plumbing ----------------------------------------------------------------------------

    def docker_api(self) -> Any:
        """The SDK's APIClient, made on first use (it asks the engine for its API version)."""
        with self._api_lock:
            if self._api is None:
                self._api = docker.APIClient(base_url=self.docker_host, version="auto",
                                             timeout=self._timeout,
                                             max_pool_size=self._max_workers)
            return self._api

    async def _run(self, fn: Callable[[Any], T], *, reason: str, what: str = "") -> T:
        def call() -> T:
            return fn(self.docker_api())

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except Exception as e:
            reraise(e, reason, what)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._api_lock:
            if self._api is not None:
                self._api.close()
                self._api = None

    async def version(self) -> tuple[str, str]:
        info = await self._run(lambda api: api.version(), reason="RuntimeError")
        return "docker", str(info.get("Version", ""))

    # ---- sandboxes -----------------------------------------------------------------------------

    async def run_pod_sandbox(self, config: SandboxConfig) -> str:
        def run(api: Any) -> str:
            create, host = convert.sandbox_create(config, PAUSE_IMAGE, self.managed)
            try:
                cid = _create(api, create, host)
            except docker.errors.ImageNotFound:
                build_pause_image(api)  # removed since the agent started: make it again
                cid = _create(api, create, host)
            try:
                api.start(cid)
                if config.dns is not None and not config.host_network:
                    _rewrite_resolv_conf(api, cid, convert.resolv_conf(config.dns))
            except (docker.errors.APIError, OSError):
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_container(cid, force=True, v=True)
                raise
            return cid

        return await self._run(run, reason="CreatePodSandboxError")

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        def stop(api: Any) -> None:
            for c in api.containers(filters={"label": [f"{SANDBOX_ID}={sandbox_id}"]}):
                with contextlib.suppress(docker.errors.NotFound):
                    api.stop(c["Id"], timeout=SANDBOX_STOP_GRACE)
            with contextlib.suppress(docker.errors.NotFound):
                api.stop(sandbox_id, timeout=SANDBOX_STOP_GRACE)

        await self._run(stop, reason="KillPodSandboxError")

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        def remove(api: Any) -> None:
            for c in api.containers(all=True, filters={"label": [f"{SANDBOX_ID}={sandbox_id}"]}):
                _remove(api, c["Id"])
                self._inspected.pop(c["Id"], None)
            _remove(api, sandbox_id)

        await self._run(remove, reason="RemovePodSandboxError")

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        inspect = await self._run(lambda api: api.inspect_container(sandbox_id),
                                  reason="PodSandboxStatusError",
                                  what=f'pod sandbox "{sandbox_id}"')
        return convert.sandbox_status_from_inspect(inspect)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        summaries = await self._run(lambda api: api.containers(all=True, filters={
            "label": [f"{MANAGED}={self.managed}", f"{KIND}={convert.KIND_SANDBOX}"]}),
            reason="ListPodSandboxError")
        return [convert.sandbox_status_from_summary(s) for s in summaries]

    # ---- containers ----------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox: SandboxConfig) -> str:
        def create(api: Any) -> str:
            image_user = ""
            sec = config.security
            if sec.run_as_user is None and sec.run_as_group is not None:
                image_user = _image_user(api, config.image)
            create, host = convert.container_create(sandbox_id, config, sandbox, image_user,
                                                    self.managed)
            try:
                return _create(api, create, host)
            except docker.errors.ImageNotFound as e:
                raise ImageNotFound(config.image, _daemon_message(e)) from e

        return await self._run(create, reason="CreateContainerError")

    async def start_container(self, container_id: str) -> None:
        def start(api: Any) -> None:
            try:
                api.start(container_id)
            finally:
                self._inspected.pop(container_id, None)

        await self._run(start, reason="RunContainerError", what=f'container "{container_id}"')

    async def stop_container(self, container_id: str, timeout: float) -> None:
        def stop(api: Any) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                api.stop(container_id, timeout=max(0, math.ceil(timeout)))

        await self._run(stop, reason="KillContainerError")

    async def remove_container(self, container_id: str) -> None:
        def remove(api: Any) -> None:
            _remove(api, container_id)
            self._inspected.pop(container_id, None)

        await self._run(remove, reason="RemoveContainerError")

    async def list_containers(self) -> list[ContainerStatus]:
        return await self._run(self._list_containers, reason="ListContainersError")

    def _list_containers(self, api: Any) -> list[ContainerStatus]:
        summaries = api.containers(all=True, filters={
            "label": [f"{MANAGED}={self.managed}", f"{KIND}={convert.KIND_CONTAINER}"]})
        statuses: list[ContainerStatus] = []
        seen: set[str] = set()
        for s in summaries:
            cid, state = s["Id"], str(s.get("State", ""))
            seen.add(cid)
            cached = self._inspected.get(cid)
            if cached is not None and cached[0] == state:
                statuses.append(cached[1])
                continue
            try:
                status = self._inspect(api, cid)
            except docker.errors.NotFound:  # removed since the listing
                continue
            statuses.append(status)
        for cid in list(self._inspected):
            if cid not in seen:
                self._inspected.pop(cid, None)
        return statuses

    def _inspect(self, api: Any, container_id: str) -> ContainerStatus:
        inspect = api.inspect_container(container_id)
        status = convert.container_status(inspect)
        self._inspected[status.id] = (str((inspect.get("State") or {}).get("Status", "")),
                                      status)
        return status

    async def container_status(self, container_id: str) -> ContainerStatus:
        return await self._run(lambda api: self._inspect(api, container_id),
                               reason="ContainerStatusError",
                               what=f'container "{container_id}"')

    async def exec_sync(self, container_id: str, cmd: list[str],
                        timeout: float) -> ExecResult:
        def run(api: Any) -> ExecResult:
            exec_id = api.exec_create(container_id, cmd, stdout=True, stderr=True)["Id"]
            sock = raw_socket(api.exec_start(exec_id, socket=True))
            try:
                out, err, finished = read_exec_output(sock, time.monotonic() + timeout)
            finally:
                shut(sock)
            if not finished:
                # Docker cannot kill an exec'd process: report the timeout and let it be.
                return ExecResult(-1, out, err)
            return ExecResult(_exit_code(api, exec_id), out, err)

        return await self._run(run, reason="ExecSyncError", what=f'container "{container_id}"')

    async def exec_stream(self, container_id: str, cmd: list[str], *, stdin: bool,
                          tty: bool) -> ExecSession:
        def start(api: Any) -> tuple[str, Any]:
            exec_id = str(api.exec_create(container_id, cmd, stdin=stdin, tty=tty,
                                          stdout=True, stderr=True)["Id"])
            return exec_id, api.exec_start(exec_id, socket=True, tty=tty)

        exec_id, handle = await self._run(start, reason="ExecError",
                                          what=f'container "{container_id}"')
        try:
            reader, writer = await asyncio.open_connection(sock=raw_socket(handle))
        except BaseException:
            shut(raw_socket(handle))
            raise
        return DockerExecSession(self, exec_id, handle, reader, writer, tty)

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             since: float | None = None) -> AsyncIterator[LogLine]:
        def open_logs() -> tuple[Iterator[LogLine], Callable[[], None]]:
            try:
                api = self.docker_api()
                tty = bool(api.inspect_container(container_id)["Config"].get("Tty"))
                params: dict[str, Any] = {"stdout": 1, "stderr": 1, "timestamps": 1,
                                          "follow": int(follow),
                                          "tail": "all" if tail is None else max(tail, 0)}
                if since:
                    params["since"] = f"{since:.9f}"
                res = api._get(api._url("/containers/{0}/logs", container_id), params=params,
                               stream=True, timeout=None if follow else self._timeout)
                api._raise_for_status(res)
            except Exception as e:
                reraise(e, "LogsError", f'container "{container_id}"')
            return log_lines(res.raw, tty), CancellableStream(iter(()), res).close

        return bridge(open_logs, name=f"docker-logs-{container_id[:12]}")

    async def container_stats(self, container_id: str) -> ContainerStats:
        stats = await self._run(
            lambda api: api.stats(container_id, stream=False, one_shot=True),
            reason="ContainerStatsError", what=f'container "{container_id}"')
        return convert.container_stats(stats)

    # ---- images --------------------------------------------------------------------------------

    async def pull_image(self, image: str, auth: dict[str, str] | None = None,
                         on_progress: Callable[[PullProgress], None] | None = None) -> str:
        loop = asyncio.get_running_loop()
        tracker = PullTracker()
        told = time.monotonic()

        def tell(force: bool) -> None:
            nonlocal told
            if on_progress is not None and (force or time.monotonic() - told >= 1.0):
                told = time.monotonic()
                loop.call_soon_threadsafe(on_progress, tracker.progress())

        def pull(api: Any) -> str:
            repo, tag = docker.utils.parse_repository_tag(image)
            try:
                for item in api.pull(repo, tag=tag or "latest", stream=True, decode=True,
                                     auth_config=auth or None):
                    if isinstance(item, dict) and item.get("error"):
                        raise pull_error(image, str(item["error"]))
                    if isinstance(item, dict):
                        tell(force=tracker.update(item))
                return str(api.inspect_image(image if tag else f"{image}:latest")["Id"])
            except docker.errors.APIError as e:
                raise pull_error(image, _daemon_message(e)) from e

        return await self._run(pull, reason="ErrImagePull")

    async def image_status(self, image: str) -> ImageInfo | None:
        def status(api: Any) -> ImageInfo | None:
            try:
                return convert.image_info(api.inspect_image(image))
            except docker.errors.NotFound:
                return None

        return await self._run(status, reason="ImageStatusError")

    async def list_images(self) -> list[ImageInfo]:
        images = await self._run(lambda api: api.images(), reason="ListImagesError")
        return [convert.image_info(i) for i in images]

    async def remove_image(self, image: str) -> None:
        def remove(api: Any) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_image(image)

        await self._run(remove, reason="RemoveImageError")

    # ---- events --------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[RuntimeEvent]:
        def open_events() -> tuple[Iterator[RuntimeEvent], Callable[[], None]]:
            try:
                stream = self.docker_api().events(decode=True, filters={
                    "type": ["container"], "label": [f"{MANAGED}={self.managed}"]})
            except Exception as e:
                reraise(e, "EventsError", "")

            def items() -> Iterator[RuntimeEvent]:
                for raw in stream:
                    event = convert.runtime_event(raw)
                    if event is not None:
                        self._inspected.pop(event.container_id, None)
                        yield event

            return items(), stream.close

        return bridge(open_events, name="docker-events")


class DockerExecSession:
    """An exec's hijacked Docker connection, driven by asyncio (no thread per stream).

    Without a TTY Docker multiplexes stdout and stderr in 8-byte-headed frames;
    with one the output is raw. Half-closing the socket closes the process's stdin
    (Docker attaches execs with CloseStdin).
    """

    def __init__(self, runtime: DockerRuntime, exec_id: str, handle: Any,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tty: bool) -> None:
        self._runtime = runtime
        self.exec_id = exec_id
        self._handle = handle  # holds the HTTP response, whose collection would close the socket
        self._reader = reader
        self._writer = writer
        self._tty = tty

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close_stdin(self) -> None:
        if not self._writer.is_closing() and self._writer.can_write_eof():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        if self._tty:
            while chunk := await self._reader.read(65536):
                yield "stdout", chunk
            return
        while True:
            try:
                header = await self._reader.readexactly(8)
                kind, length = struct.unpack(">BxxxL", header)
                data = await self._reader.readexactly(length) if length else b""
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if data:
                yield ("stderr" if kind == 2 else "stdout"), data

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(RuntimeCallError):  # not started yet, or already gone
            await self._runtime._run(
                lambda api: api.exec_resize(self.exec_id, height=height, width=width),
                reason="ExecError")

    async def wait(self) -> int:
        return await self._runtime._run(lambda api: _exit_code(api, self.exec_id),
                                        reason="ExecError")

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


# ---- blocking helpers (run in the pool) ------------------------------------------------------

def _create(api: Any, create: dict[str, Any], host: dict[str, Any]) -> str:
    """Create; a leftover container holding the name (an agent that died between create
    and record, as dockershim feared) is removed and the create retried once."""
    def attempt() -> str:
        return str(api.create_container(host_config=api.create_host_config(**host),
                                        **create)["Id"])

    try:
        return attempt()
    except docker.errors.APIError as e:
        m = _NAME_CONFLICT.search(str(e.explanation or ""))
        if e.status_code != 409 or m is None:
            raise
        _remove(api, m[1])
        return attempt()


def _remove(api: Any, container_id: str) -> None:
    try:
        api.remove_container(container_id, force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if "already in progress" not in str(e.explanation or ""):
            raise


def _image_user(api: Any, image: str) -> str:
    try:
        return str((api.inspect_image(image).get("Config") or {}).get("User") or "")
    except docker.errors.NotFound:
        return ""


def _exit_code(api: Any, exec_id: str) -> int:
    """The exec's exit code; Docker records it a moment after the output ends."""
    for _ in range(100):
        info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        time.sleep(0.01)
    return -1


def _rewrite_resolv_conf(api: Any, cid: str, text: str) -> None:
    """Write the sandbox's resolv.conf in place (dockershim's rewriteResolvFile); the
    pod's containers join its network and so share the file. In place, not by rename:
    Docker bind-mounts this very inode into the container."""
    path = api.inspect_container(cid).get("ResolvConfPath") or ""
    if path:
        with open(path, "w") as f:
            f.write(text)
