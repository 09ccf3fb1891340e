"""`jota cp SRC DEST [-c C]`: copy files and directories to and from containers.

As kubectl cp, it is tar over exec: to a pod, a tar archive is streamed into
`tar -xmf - -C DIR` in the container; from a pod, `tar cf - PATH` is read back and
unpacked here. So the container needs a `tar` binary (busybox has one), and
nothing but the exec stream crosses the apiserver. One side is local, the other
`[NAMESPACE/]POD:PATH`.

Unpacking never writes outside DEST: members with absolute paths, `..`, or links
leading out are skipped with a warning, as kubectl does since CVE-2019-1002101.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from jota.cli.commands._common import add_positionals
from jota.cli.commands._pods import default_container
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_namespace_flags
from jota.client import streams

USAGE = "source and destination are required"
CHUNK = 64 * 1024


@dataclass(frozen=True)
class FileSpec:
    """`[NAMESPACE/]POD:PATH` (remote) or a local path."""

    path: str
    pod: str = ""
    namespace: str = ""

    @property
    def remote(self) -> bool:
        return bool(self.pod)


def parse_spec(arg: str) -> FileSpec:
    """kubectl's extractFileSpec: the first colon splits pod from path; a path alone is
    local (so a local file with a colon in its name needs a ./ in front)."""
    if ":" not in arg or arg.startswith(("/", ".")):
        return FileSpec(arg)
    pod, path = arg.split(":", 1)
    if not path:
        raise UsageError("filepath can not be empty")
    parts = pod.split("/")
    if len(parts) == 1:
        return FileSpec(path, pod)
    if len(parts) == 2 and all(parts):
        return FileSpec(path, parts[1], parts[0])
    raise UsageError("filespec must match the canonical format: [[namespace/]pod:]file/path")


def tar_prefix(remote_path: str) -> str:
    """The member-name prefix `tar cf - PATH` gives PATH: tar drops the leading slash."""
    return posixpath.normpath(remote_path).lstrip("/")


def local_target(member: str, prefix: str, dest: Path) -> Path | None:
    """Where a member of the archive of `prefix` lands under `dest`, or None when it
    would land outside it (or is not under the prefix at all)."""
    name = posixpath.normpath(member)
    if name == prefix:
        rest = ""
    elif name.startswith(prefix.rstrip("/") + "/") or prefix in ("", "."):
        rest = name[len(prefix):].lstrip("/") if prefix not in ("", ".") else name
    else:
        return None
    if posixpath.isabs(rest) or rest == ".." or rest.startswith("../"):
        return None
    target = (dest / rest) if rest else dest
    root = dest.resolve()
    resolved = target.resolve()
    if resolved != root and root not in resolved.parents:
        return None
    return target


def link_escapes(member: tarfile.TarInfo, target: Path, dest: Path) -> bool:
    if not (member.issym() or member.islnk()):
        return False
    base = dest if member.islnk() else target.parent
    pointed = (base / member.linkname).resolve()
    root = dest.resolve()
    return posixpath.isabs(member.linkname) or (pointed != root and root not in pointed.parents)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cp", help="Copy files and directories to and from containers")
    add_positionals(p, "specs", "SRC DEST")
    add_namespace_flags(p, all_namespaces=False)
    p.add_argument("-c", "--container", default="", help="the container to copy to or from")
    p.add_argument("--no-preserve", action="store_true",
                   help="do not keep ownership and permissions in the container")
    p.set_defaults(run=run)


async def run(ctx: Context, args: argparse.Namespace) -> int:
    if len(args.specs) != 2:
        raise UsageError(USAGE)
    src, dest = parse_spec(args.specs[0]), parse_spec(args.specs[1])
    if src.remote and dest.remote:
        raise UsageError("one of src or dest must be a local file specification")
    if not src.remote and not dest.remote:
        raise UsageError("one of src or dest must be a remote file specification")
    if src.remote:
        return await copy_from_pod(ctx, src, Path(dest.path), args.container)
    return await copy_to_pod(ctx, Path(src.path), dest, args.container, args.no_preserve)


async def _session(ctx: Context, spec: FileSpec, container: str, command: list[str],
                   stdin: bool) -> streams.ExecSession:
    namespace = spec.namespace or ctx.namespace
    pod = await ctx.client.get("pods", spec.pod, namespace)
    return await streams.exec_(ctx.client, namespace, spec.pod, command,
                               container=default_container(pod, container), stdin=stdin)


async def _run(ctx: Context, session: streams.ExecSession, out: IO[bytes] | None) -> int:
    """Drain the command's output (stdout into `out`, stderr to ours); its exit code."""
    try:
        async for stream, data in session.output():
            if stream == "stdout" and out is not None:
                out.write(data)
            elif stream == "stderr":
                ctx.err.write(data.decode("utf-8", "replace"))
    finally:
        session.cancel()
    return session.exit_code or 0


async def copy_to_pod(ctx: Context, src: Path, dest: FileSpec, container: str,
                      no_preserve: bool) -> int:
    if not src.exists():
        raise UsageError(f"{src} doesn't exist in local filesystem")
    remote = dest.path
    # Into an existing directory, a copy keeps its own name (as cp does).
    probe = await _session(ctx, dest, container, ["test", "-d", remote], stdin=False)
    if await _run(ctx, probe, None) == 0:
        remote = posixpath.join(remote, src.name)
    remote_dir, remote_name = posixpath.split(posixpath.normpath(remote))
    command = (["tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-"] if no_preserve
               else ["tar", "-xmf", "-"])
    if remote_dir:
        command += ["-C", remote_dir]
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            tar.add(str(src), arcname=remote_name)
        archive.seek(0)
        session = await _session(ctx, dest, container, command, stdin=True)
        while chunk := archive.read(CHUNK):
            await session.write(chunk)
        await session.close_stdin()
        code = await _run(ctx, session, None)
    if code:
        ctx.warn(f"command terminated with exit code {code}")
    return code


async def copy_from_pod(ctx: Context, src: FileSpec, dest: Path, container: str) -> int:
    prefix = tar_prefix(src.path)
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as archive:
        session = await _session(ctx, src, container, ["tar", "cf", "-", src.path], stdin=False)
        code = await _run(ctx, session, archive)  # type: ignore[arg-type]
        if code:
            ctx.warn(f"command terminated with exit code {code}")
            return code
        archive.seek(0)
        if src.path.startswith("/"):
            ctx.warn("tar: Removing leading `/' from member names")
        with tarfile.open(fileobj=archive, mode="r:") as tar:
            members = tar.getmembers()
            # A file copied into an existing local directory keeps its own name.
            if dest.is_dir() and len(members) == 1 and members[0].isfile():
                dest = dest / posixpath.basename(prefix)
            for member in members:
                _unpack(ctx, tar, member, prefix, dest)
    return 0


def _unpack(ctx: Context, tar: tarfile.TarFile, member: tarfile.TarInfo, prefix: str,
            dest: Path) -> None:
    target = local_target(member.name, prefix, dest)
    if target is None or link_escapes(member, target, dest):
        ctx.warn(f"warning: skipping {member.name!r}: it would land outside {str(dest)!r}")
        return
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if member.issym():
        if target.is_symlink() or target.exists():
            target.unlink()
        os.symlink(member.linkname, target)
        return
    source = tar.extractfile(member)
    if source is None:  # devices, fifos, hard links: kubectl skips them as well
        return
    with source, open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            out.write(chunk)
    os.chmod(target, member.mode & 0o777)
