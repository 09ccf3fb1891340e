"""`jota diff -f FILE`: what `jota apply -f FILE` would change, as a unified diff.

For each manifest the live object (LIVE, empty when missing) is compared with
what the server would hold after the apply (MERGED), which the server itself
computes through a dry-run patch or create, so defaults and admission show.
Output and exit code follow kubectl (which runs `diff -u -N LIVE-dir MERGED-dir`):
0 no differences, 1 differences, 2 an error.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import random
from dataclasses import dataclass
from datetime import datetime

from jota.api import errors
from jota.api.apply import annotate_last_applied, last_applied_of, three_way_patch
from jota.api.meta import Obj, name_of
from jota.api.registry import ResourceType
from jota.cli import manifests, printers
from jota.cli.context import Context, UsageError, report_error, type_of
from jota.cli.flags import add_filename_flags, add_namespace_flags

NOISE = ("managedFields", "resourceVersion", "generation")
EPOCH = "1970-01-01 00:00:00.000000000 +0000"


@dataclass
class Pair:
    """One object's two sides, rendered as YAML ("" when that side does not exist)."""

    file: str
    live: str
    merged: str


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("diff", help="Diff the live version against a would-be applied version")
    add_filename_flags(p, "diff")
    add_namespace_flags(p, all_namespaces=False)
    p.set_defaults(run=run)


def file_name(rt: ResourceType, namespace: str, name: str) -> str:
    """kubectl's file per object: `apps.v1.Deployment.default.web`, `v1.Pod.default.x`."""
    group = f"{rt.group}." if rt.group else ""
    return f"{group}{rt.version}.{rt.kind}.{namespace}.{name}"


def clean(obj: Obj | None) -> Obj | None:
    """Drop fields that change on every write and say nothing about the edit."""
    if obj is None:
        return None
    result = copy.deepcopy(obj)
    md = result.get("metadata")
    if isinstance(md, dict):
        for key in NOISE:
            md.pop(key, None)
    return result


def mask_secrets(live: Obj | None, merged: Obj | None) -> tuple[Obj | None, Obj | None]:
    """Secret values never reach the terminal: `***`, or `*** (before)` / `*** (after)`
    where a value changed, as kubectl's masker writes them."""
    if (merged or live or {}).get("kind") != "Secret":
        return live, merged
    live, merged = copy.deepcopy(live), copy.deepcopy(merged)
    for field in ("data", "stringData"):
        before = dict((live or {}).get(field) or {})
        after = dict((merged or {}).get(field) or {})
        for key in set(before) | set(after):
            same = before.get(key) == after.get(key)
            if key in before and live is not None:
                live[field][key] = "***" if same else "*** (before)"
            if key in after and merged is not None:
                merged[field][key] = "***" if same else "*** (after)"
    return live, merged


def render_diff(pair: Pair, live_dir: str, merged_dir: str, stamp: str) -> str:
    """GNU `diff -u -N` output for one file, or "" when both sides are equal."""
    if pair.live == pair.merged:
        return ""
    left, right = f"{live_dir}/{pair.file}", f"{merged_dir}/{pair.file}"
    lines = difflib.unified_diff(
        pair.live.splitlines(keepends=True), pair.merged.splitlines(keepends=True),
        fromfile=left, tofile=right, fromfiledate=stamp if pair.live else EPOCH,
        tofiledate=stamp if pair.merged else EPOCH)
    body = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return f"diff -u -N {left} {right}\n{body}"


def timestamp(now: datetime) -> str:
    local = now.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond:06d}000 " \
        + local.strftime("%z")


def _yaml(rt: ResourceType, obj: Obj | None) -> str:
    return printers.format_output("yaml", rt, [obj], single=True) if obj else ""


async def _pair(ctx: Context, doc: Obj) -> Pair:
    rt = type_of(doc)
    name = name_of(doc)
    ns = ctx.ns_of_manifest(rt, doc)
    modified = annotate_last_applied(doc)
    if rt.namespaced:
        modified.setdefault("metadata", {})["namespace"] = ns
    try:
        live: Obj | None = await ctx.client.get(rt.plural, name, ns)
    except errors.NotFound:
        live = None
    if live is None:
        merged = await ctx.client.create(rt.plural, modified, ns, dry_run=True)
    else:
        patch = three_way_patch(last_applied_of(live), modified, live, rt)
        merged = (await ctx.client.patch(rt.plural, name, patch, ns, patch_type="strategic",
                                         dry_run=True) if patch else live)
    shown_live, shown_merged = mask_secrets(clean(live), clean(merged))
    return Pair(file_name(rt, ns, name), _yaml(rt, shown_live), _yaml(rt, shown_merged))


async def run(ctx: Context, args: argparse.Namespace) -> int:
    try:
        if not args.filename:
            raise UsageError("must specify one of -f and -k")
        pairs = [await _pair(ctx, m.doc)
                 for m in manifests.read(args.filename, args.recursive, verb="diff")]
    except (errors.APIError, UsageError) as e:
        report_error(e)
        return 2
    live_dir = f"/tmp/LIVE-{random.randrange(10**9, 10**10)}"
    merged_dir = f"/tmp/MERGED-{random.randrange(10**9, 10**10)}"
    stamp = timestamp(ctx.now())
    texts = [render_diff(p, live_dir, merged_dir, stamp)
             for p in sorted(pairs, key=lambda p: p.file)]
    output = "".join(texts)
    if output:
        ctx.print(output.rstrip("\n"))
    return 1 if output else 0
