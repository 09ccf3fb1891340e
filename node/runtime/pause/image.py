"""The sandbox image, made on the node itself: no registry is needed to run a pod.

Kubernetes pulls `registry.k8s.io/pause`; Jota compiles the same tiny program
(`pause.c`) statically and `docker import`s it as a one-file image, once per
engine. Without a C toolchain it falls back to Debian's static busybox sleeping,
which holds the namespaces just as well but only stops on SIGKILL.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from node.runtime.interface import Runtime
from node.runtime.pause import PAUSE_IMAGE

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("pause.c")
BUSYBOX = Path("/bin/busybox")

_build_lock = threading.Lock()


async def ensure_pause_image(target: object) -> str:
    """Make sure the engine behind `target` has PAUSE_IMAGE; return its image id.

    `target` is a Docker runtime (anything with a `docker_api` APIClient), a
    `docker.DockerClient`, a `docker.APIClient`, or any other Runtime, which is
    simply asked to pull the image (the in-memory runtime has it already).
    """
    get_api = _docker_api(target)
    if get_api is not None:
        # Even making the client is blocking: it asks the engine for its API version.
        return await asyncio.to_thread(lambda: build_pause_image(get_api()))
    runtime: Runtime = target  # type: ignore[assignment]
    info = await runtime.image_status(PAUSE_IMAGE)
    if info is not None:
        return info.id
    return await runtime.pull_image(PAUSE_IMAGE)


def _docker_api(target: object) -> Callable[[], Any] | None:
    if isinstance(target, docker.APIClient):
        return lambda: target
    if isinstance(target, docker.DockerClient):
        return lambda: target.api
    get = getattr(target, "docker_api", None)
    return get if callable(get) else None


def build_pause_image(api: Any, tag: str = PAUSE_IMAGE) -> str:
    """Blocking: import the pause image into the engine unless it is there already."""
    with _build_lock:
        try:
            return str(api.inspect_image(tag)["Id"])
        except docker.errors.ImageNotFound:
            pass
        repository, _, version = tag.rpartition(":")
        binary = compile_pause()
        if binary is not None:
            data = single_file_tar("pause", binary)
            changes = ['ENTRYPOINT ["/pause"]']
        else:
            logger.warning("no static C toolchain (Debian: gcc, libc6-dev): the pause image "
                           "falls back to busybox sleep")
            data = single_file_tar("busybox", BUSYBOX.read_bytes())
            changes = ['ENTRYPOINT ["/busybox", "sleep", "2147483647"]']
        api.import_image_from_data(data, repository=repository, tag=version, changes=changes)
        image_id = str(api.inspect_image(tag)["Id"])
        logger.info("built the pause image", extra={"image": tag, "id": image_id})
        return image_id


def compile_pause() -> bytes | None:
    """The statically linked pause binary, or None when no toolchain can make one."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    with tempfile.TemporaryDirectory(prefix="jota-pause-") as tmp:
        out = Path(tmp) / "pause"
        proc = subprocess.run([gcc, "-static", "-Os", "-s", "-o", str(out), str(SOURCE)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            logger.warning("cannot compile pause.c: %s", proc.stderr.strip())
            return None
        return out.read_bytes()


def single_file_tar(name: str, content: bytes, mode: int = 0o755) -> bytes:
    """A rootfs holding one executable at /NAME, owned by root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = mode
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()
