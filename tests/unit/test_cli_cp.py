"""`jota cp`'s pure parts: reading file specs, and where archive members may land."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from jota.cli.commands.cp import FileSpec, link_escapes, local_target, parse_spec, tar_prefix
from jota.cli.context import UsageError


@pytest.mark.parametrize(("arg", "spec"), [
    ("web:/etc/hosts", FileSpec("/etc/hosts", "web")),
    ("prod/web:/data", FileSpec("/data", "web", "prod")),
    ("web:rel/path", FileSpec("rel/path", "web")),
    ("./odd:name", FileSpec("./odd:name")),
    ("/tmp/a:b", FileSpec("/tmp/a:b")),
    ("plain.txt", FileSpec("plain.txt")),
])
def test_file_specs_read_as_kubectl_reads_them(arg: str, spec: FileSpec) -> None:
    assert parse_spec(arg) == spec


@pytest.mark.parametrize(("arg", "message"), [
    ("web:", "filepath can not be empty"),
    ("a/b/c:/x", "filespec must match the canonical format: [[namespace/]pod:]file/path"),
    ("/web:x", None),  # a local absolute path, not an error
])
def test_bad_file_specs_say_what_is_wrong(arg: str, message: str | None) -> None:
    if message is None:
        assert not parse_spec(arg).remote
        return
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_spec(arg)


def test_tar_drops_the_leading_slash() -> None:
    assert tar_prefix("/var/log/") == "var/log"
    assert tar_prefix("data/./x") == "data/x"


def test_members_land_under_dest(tmp_path: Path) -> None:
    assert local_target("var/log", "var/log", tmp_path) == tmp_path
    assert local_target("var/log/a/b.txt", "var/log", tmp_path) == tmp_path / "a" / "b.txt"
    # Not under the prefix asked for, or climbing out: skipped.
    assert local_target("var/logger", "var/log", tmp_path) is None
    assert local_target("var/log/../../etc/passwd", "var/log", tmp_path) is None
    assert local_target("/etc/passwd", "var/log", tmp_path) is None


def test_links_that_lead_out_are_refused(tmp_path: Path) -> None:
    def link(name: str, to: str, hard: bool = False) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
        info.linkname = to
        return info

    inside = tmp_path / "sub" / "l"
    assert not link_escapes(link("sub/l", "../f"), inside, tmp_path)
    assert link_escapes(link("sub/l", "../../etc/passwd"), inside, tmp_path)
    assert link_escapes(link("sub/l", "/etc/passwd"), inside, tmp_path)
    regular = tarfile.TarInfo("f")
    assert not link_escapes(regular, tmp_path / "f", tmp_path)
