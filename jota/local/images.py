"""Images for tests and the demo, made on this machine: no registry is reachable.

`jota/busybox:latest` is Debian's static busybox with every applet linked into
/bin, users root and nobody, a writable /tmp and a page in /www for `httpd`.
The rootfs is written as a tar in memory and handed to `docker import`, as
`docker import rootfs.tar` would; `load_image` copies an image between engines
(the `docker save | docker load` of `jota local load-image`).
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import docker

from jota.local.docker import DEFAULT_SOCKET

TEST_IMAGE = "jota/busybox:latest"
BUSYBOX_PATHS = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
# The applets tests rely on: the build fails loudly if this busybox lacks one.
REQUIRED_APPLETS = (
    "sh", "httpd", "nc", "wget", "sleep", "cat", "echo", "ls", "env", "id", "ps", "mkdir",
    "touch", "kill", "true", "false", "hostname", "grep", "head", "tail", "dd", "yes", "top",
    "date", "printf",
)
PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\nnobody:x:65534:\n"
INDEX_HTML = ("<!DOCTYPE html>\n<html><head><title>Welcome to jota</title></head>\n"
              "<body><h1>It works!</h1></body></html>\n")
CHANGES = ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
           'CMD ["sh"]']


def _api(docker_host: str | None) -> Any:
    host = docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    return docker.APIClient(base_url=host, version="auto", timeout=120)


def build_test_image(docker_host: str | None = None, tag: str = TEST_IMAGE) -> str:
    """Import `tag` into the engine at `docker_host` unless it is there; return `tag`."""
    api = _api(docker_host)
    try:
        try:
            api.inspect_image(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        repository, _, version = tag.rpartition(":")
        api.import_image_from_data(busybox_rootfs(), repository=repository,
                                   tag=version or "latest", changes=CHANGES)
        api.inspect_image(tag)
        return tag
    finally:
        api.close()


def find_busybox() -> Path:
    for path in BUSYBOX_PATHS:
        if path.is_file():
            return path
    raise FileNotFoundError("no static busybox: install Debian's busybox-static (make deps)")


def busybox_rootfs(busybox: Path | None = None) -> bytes:
    """The image's root filesystem as an uncompressed tar."""
    busybox = busybox or find_busybox()
    applets = _applets(busybox)
    missing = [a for a in REQUIRED_APPLETS if a not in applets]
    if missing:
        raise RuntimeError(f"{busybox} lacks applets: {', '.join(missing)}")
    now = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777),
                           ("var", 0o755), ("var/tmp", 0o1777), ("www", 0o755),
                           ("proc", 0o755), ("sys", 0o755), ("dev", 0o755)):
            tar.addfile(_entry(name, tarfile.DIRTYPE, mode, now))
        _add_file(tar, "bin/busybox", busybox.read_bytes(), 0o755, now)
        for applet in sorted(applets - {"busybox"}):
            link = _entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777, now)
            link.linkname = "busybox"
            tar.addfile(link)
        _add_file(tar, "etc/passwd", PASSWD.encode(), 0o644, now)
        _add_file(tar, "etc/group", GROUP.encode(), 0o644, now)
        _add_file(tar, "www/index.html", INDEX_HTML.encode(), 0o644, now)
    return buf.getvalue()


def _applets(busybox: Path) -> set[str]:
    """Every applet this busybox has, each linked into /bin as `busybox --install` would
    (all in /bin: one directory keeps the image simple)."""
    out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    return {line.strip() for line in out.stdout.splitlines()
            if line.strip() and "/" not in line}


def _entry(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    return info


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int, mtime: int) -> None:
    info = _entry(name, tarfile.REGTYPE, mode, mtime)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def load_image(image: str, src_docker_host: str, dst_docker_host: str) -> None:
    """Copy `image` from one engine to another, streaming (`docker save | docker load`)."""
    src, dst = _api(src_docker_host), _api(dst_docker_host)
    try:
        try:
            src.inspect_image(image)  # get_image is lazy: it would fail mid-upload
        except docker.errors.NotFound as e:
            raise FileNotFoundError(f"image {image!r} is not in {src_docker_host}") from e
        for message in dst.load_image(src.get_image(image)) or []:
            if isinstance(message, dict) and message.get("error"):
                raise RuntimeError(f"cannot load {image!r}: {message['error']}")
    finally:
        src.close()
        dst.close()
