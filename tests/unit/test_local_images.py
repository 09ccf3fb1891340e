"""The test image's root filesystem: what tests and demos rely on being inside it."""

from __future__ import annotations

import io
import tarfile

import pytest

from jota.local.images import REQUIRED_APPLETS, busybox_rootfs
from node.runtime.pause.image import single_file_tar


@pytest.fixture(scope="module")
def rootfs() -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs())) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_busybox_and_its_applets(rootfs: dict[str, tarfile.TarInfo]) -> None:
    assert rootfs["bin/busybox"].isfile() and rootfs["bin/busybox"].mode == 0o755
    for applet in REQUIRED_APPLETS:
        link = rootfs[f"bin/{applet}"]
        assert link.issym() and link.linkname == "busybox", applet


@pytest.mark.parametrize(("name", "mode"), [("tmp", 0o1777), ("www", 0o755), ("etc", 0o755)])
def test_directories(rootfs: dict[str, tarfile.TarInfo], name: str, mode: int) -> None:
    assert rootfs[name].isdir() and rootfs[name].mode == mode


def test_users_and_page() -> None:
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs())) as tar:
        def read(name: str) -> str:
            f = tar.extractfile(name)
            assert f is not None
            return f.read().decode()

        assert "nobody:x:65534:65534:" in read("etc/passwd")
        assert read("etc/passwd").startswith("root:x:0:0:")
        assert "nobody:x:65534:" in read("etc/group")
        assert "It works!" in read("www/index.html")


def test_single_file_tar() -> None:
    with tarfile.open(fileobj=io.BytesIO(single_file_tar("pause", b"\x7fELF"))) as tar:
        [member] = tar.getmembers()
        assert (member.name, member.mode, member.size) == ("pause", 0o755, 4)
