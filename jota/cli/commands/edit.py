"""`jota edit KIND NAME`: change an object in $EDITOR, as kubectl edit does.

The object is written to a temp file under a comment header; after the editor
exits, the text (comments stripped) is compared with what was shown. A change
is sent as an update carrying the resourceVersion that was read, so an edit
racing another writer fails with a conflict instead of undoing its work. An
invalid edit re-opens the file with the reasons at the top; giving up keeps the
edited copy and names it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

import yaml

from jota.api import errors
from jota.api.meta import Obj
from jota.api.registry import ResourceType
from jota.cli import printers
from jota.cli.commands._common import emit, one_target
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_namespace_flags

HEADER = """\
# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("edit", help="Edit a resource on the server")
    p.add_argument("resources", nargs="+", metavar="TYPE NAME | TYPE/NAME")
    add_namespace_flags(p, all_namespaces=False)
    p.add_argument("-o", "--output", dest="edit_format", default="yaml",
                   choices=["yaml", "json"], help="edit the object as yaml (default) or json")
    p.set_defaults(run=run)


def editor_command() -> list[str]:
    editor = (os.environ.get("JOTA_EDITOR") or os.environ.get("KUBE_EDITOR")
              or os.environ.get("EDITOR") or "vi")
    return shlex.split(editor)


def strip_comments(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.strip().startswith("#"))


def header_with(reasons: list[tuple[str, list[str]]]) -> str:
    """The comment block on top of the file, naming why the last save failed."""
    lines = [HEADER]
    for head, others in reasons:
        lines.append(f"# {head}:\n")
        lines.extend(f"# * {o}\n" for o in others)
        lines.append("#\n")
    return "".join(lines)


def render(rt: ResourceType, obj: Obj, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(obj, indent=4) + "\n"
    return printers.format_output("yaml", rt, [obj], single=True)


def parse_edited(body: str, fmt: str) -> Obj:
    doc: Any = json.loads(body) if fmt == "json" else yaml.safe_load(body)
    if not isinstance(doc, dict):
        raise ValueError("the edited document is not an object")
    return doc


def invalid_reasons(e: errors.APIError) -> list[str]:
    causes = getattr(e, "causes", None)
    if causes:
        return [str(c) for c in causes]
    _, sep, rest = e.message.partition(" is invalid: ")
    return [rest if sep else e.message]


async def _run_editor(path: str) -> None:
    cmd = editor_command()
    try:
        proc = await asyncio.create_subprocess_exec(*cmd, path)
    except OSError as e:
        raise UsageError(f'there was a problem with the editor "{cmd[0]}": {e}') from None
    if await proc.wait() != 0:
        raise UsageError(f'there was a problem with the editor "{" ".join(cmd)}"')


async def run(ctx: Context, args: argparse.Namespace) -> int:
    rt, name = one_target(args.resources, "edit")
    ns = ctx.ns_for(rt)
    obj = await ctx.client.get(rt.plural, name, ns)
    shown = f"{rt.qualified} \"{name}\""
    original = render(rt, obj, args.edit_format)
    fd, path = tempfile.mkstemp(prefix="jota-edit-", suffix=f".{args.edit_format}")
    os.close(fd)
    file = Path(path)
    file.write_text(HEADER + original)
    previous: str | None = None  # the body saved in the last failed attempt
    while True:
        await _run_editor(path)
        body = strip_comments(file.read_text())
        if previous is not None and body == previous:
            ctx.warn(f'A copy of your changes has been stored to "{path}"')
            raise UsageError("Edit cancelled, no valid changes were saved.")
        if body == strip_comments(original):
            file.unlink(missing_ok=True)
            ctx.warn("Edit cancelled, no changes made.")
            return 0
        if not body.strip():
            file.unlink(missing_ok=True)
            ctx.warn("Edit cancelled, saved file was empty.")
            return 0
        previous = body
        try:
            edited = parse_edited(body, args.edit_format)
        except (ValueError, yaml.YAMLError) as e:
            reason = " ".join(str(e).split())
            file.write_text(header_with([(f"The edited file had a syntax error: {reason}",
                                          [])]) + body)
            continue
        try:
            result = await ctx.client.update(rt.plural, edited, ns)
        except errors.Invalid as e:
            ctx.warn(f"error: {shown} is invalid")
            file.write_text(header_with([(f"{shown} was not valid", invalid_reasons(e))])
                            + body)
            continue
        except errors.NotFound:
            ctx.warn(f"error: {shown} could not be found on the server")
            ctx.warn(f'The edits you made on deleted resources have been saved to "{path}"')
            return 1
        except errors.APIError as e:
            ctx.warn(f"error: {shown} could not be patched: {e.message}")
            ctx.warn(f'A copy of your changes has been stored to "{path}"')
            return 1
        file.unlink(missing_ok=True)
        emit(ctx, rt, result, "", "edited")
        return 0
