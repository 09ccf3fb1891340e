"""`jota patch KIND NAME -p PATCH [--type=strategic|merge|json]`: change fields in place."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from jota.api.meta import Obj, resource_version_of
from jota.api.patch import json_patch, merge_patch
from jota.api.registry import ResourceType
from jota.api.strategic import strategic_merge_patch
from jota.cli.commands._common import add_output_flag, add_positionals, emit, find_targets
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_dry_run_flag, add_filename_flags, add_namespace_flags

TYPES = ("strategic", "merge", "json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("patch", help="Update fields of a resource")
    add_positionals(p, "resources", "TYPE NAME | TYPE/NAME")
    add_filename_flags(p, "patch")
    p.add_argument("-p", "--patch", default=None, help="the patch, as JSON or YAML")
    p.add_argument("--patch-file", default="", help="a file holding the patch")
    p.add_argument("--type", default="strategic", choices=TYPES,
                   help="the type of patch (default strategic)")
    p.add_argument("--subresource", default="", choices=["", "status"],
                   help="patch this subresource instead of the object")
    add_namespace_flags(p, all_namespaces=False)
    add_dry_run_flag(p)
    add_output_flag(p)
    p.set_defaults(run=run)


def read_patch(text: str | None, patch_file: str) -> Any:
    """The patch from -p or --patch-file; YAML is accepted, as kubectl converts it."""
    if text is not None and patch_file:
        raise UsageError("cannot specify --patch and --patch-file together")
    if patch_file:
        try:
            text = Path(patch_file).read_text()
        except OSError as e:
            raise UsageError(f"unable to read patch file: {e}") from None
    if not text:
        raise UsageError("must specify --patch or --patch-file containing the contents of "
                         "the patch")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UsageError(f"unable to parse {text!r}: {' '.join(str(e).split())}") from None


def apply_locally(obj: Obj, patch: Any, type_: str, rt: ResourceType) -> Obj:
    """What the server would do with the patch, for --dry-run=client."""
    if type_ == "json":
        return json_patch(obj, patch)
    if type_ == "merge":
        return merge_patch(obj, patch)
    return strategic_merge_patch(obj, patch, rt)


async def run(ctx: Context, args: argparse.Namespace) -> int:
    patch = read_patch(args.patch, args.patch_file)
    targets = await find_targets(ctx, args.resources, filenames=args.filename,
                                 recursive=args.recursive, verb="patch")
    for t in targets:
        before = await ctx.client.get(t.rt.plural, t.name, t.namespace)
        if args.dry_run == "client":
            after = apply_locally(before, patch, args.type, t.rt)
        else:
            after = await ctx.client.patch(t.rt.plural, t.name, patch, t.namespace,
                                           patch_type=args.type,
                                           status=args.subresource == "status",
                                           dry_run=args.dry_run == "server")
        if args.dry_run == "none":
            changed = resource_version_of(after) != resource_version_of(before)
        else:
            changed = after != before
        verb = "patched" if changed else "patched (no change)"
        emit(ctx, t.rt, after, args.output, verb, args.dry_run)
    return 0
