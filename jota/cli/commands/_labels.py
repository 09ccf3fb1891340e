"""The logic `jota label` and `jota annotate` share: parse `k=v` / `k-` arguments,
refuse to overwrite without --overwrite, and send a JSON merge patch of
`metadata.labels` (or `.annotations`), as kubectl does.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from jota.api.meta import name_of
from jota.api.names import is_valid_label_value
from jota.api.patch import merge_patch
from jota.cli.commands._common import add_output_flag, add_positionals, emit, find_targets
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_dry_run_flag, add_filename_flags, add_namespace_flags


@dataclass(frozen=True)
class Field:
    """Which metadata map a verb edits, and the words kubectl uses for it."""

    verb: str  # "label" or "annotate"
    key: str  # "labels" or "annotations"
    noun: str  # "label" or "annotation"
    done: str  # "labeled" or "annotated"


LABELS = Field("label", "labels", "label", "labeled")
ANNOTATIONS = Field("annotate", "annotations", "annotation", "annotated")


def split_args(args: list[str], noun: str) -> tuple[list[str], list[str]]:
    """kubectl's GetResourcesAndPairs: resources first, then `k=v` / `k-` changes."""
    resources: list[str] = []
    pairs: list[str] = []
    for s in args:
        is_pair = ("=" in s and not s.startswith("=")) or (s.endswith("-") and s != "-")
        if is_pair:
            pairs.append(s)
        elif pairs:
            raise UsageError(f"all resources must be specified before {noun} changes: {s}")
        else:
            resources.append(s)
    return resources, pairs


def parse_labels(specs: list[str]) -> tuple[dict[str, str], list[str]]:
    new: dict[str, str] = {}
    remove: list[str] = []
    for spec in specs:
        if "=" in spec:
            parts = spec.split("=")
            if len(parts) != 2:
                raise UsageError(f"invalid label spec: {spec}")
            errs = is_valid_label_value(parts[1])
            if errs:
                raise UsageError(f'invalid label value: "{spec}": {";".join(errs)}')
            new[parts[0]] = parts[1]
        elif spec.endswith("-"):
            remove.append(spec[:-1])
        else:
            raise UsageError(f"unknown label spec: {spec}")
    if any(k in new for k in remove):
        raise UsageError("can not both modify and remove a label in the same command")
    return new, remove


def parse_annotations(specs: list[str]) -> tuple[dict[str, str], list[str]]:
    new: dict[str, str] = {}
    remove: list[str] = []
    for spec in specs:
        if "=" in spec and not spec.startswith("="):
            key, _, value = spec.partition("=")
            new[key] = value
        elif spec.endswith("-") and spec != "-":
            remove.append(spec[:-1])
        else:
            raise UsageError(f"invalid annotation format: {spec}")
    both = [k for k in remove if k in new]
    if both:
        raise UsageError("can not both modify and remove the following annotation(s) in the "
                         f"same command: {', '.join(both)}")
    return new, remove


def overwrite_error(field: Field, current: dict[str, str], new: dict[str, str]) -> str:
    """kubectl's refusal to change a value without --overwrite; "" when none changes."""
    clashes = [f"'{k}' already has a value ({current[k]})"
               for k in sorted(new) if k in current and current[k] != new[k]]
    if not clashes:
        return ""
    if field is ANNOTATIONS:
        return ("--overwrite is false but found the following declared annotation(s): "
                + "; ".join(clashes))
    texts = [f"{c}, and --overwrite is false" for c in clashes]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def change_patch(field: Field, current: dict[str, str], new: dict[str, str],
                 remove: list[str], resource_version: str = "") -> dict[str, Any]:
    """The merge patch kubectl sends; `{}` when nothing would change."""
    changes: dict[str, Any] = {k: v for k, v in new.items() if current.get(k) != v}
    changes.update({k: None for k in remove if k in current})
    if not changes:
        return {}
    meta: dict[str, Any] = {field.key: changes}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"metadata": meta}


def result_word(field: Field, before: dict[str, str], after: dict[str, str],
                overwrite: bool) -> str:
    """`labeled`, `unlabeled` (only removals) or `not labeled`; annotate always says
    `annotated`."""
    if field is ANNOTATIONS:
        return field.done
    if before == after:
        return "not labeled"
    if not overwrite and len(json.dumps(after)) < len(json.dumps(before)):
        return "unlabeled"
    return "labeled"


def register_verb(sub: argparse._SubParsersAction[argparse.ArgumentParser], field: Field,
                  help_: str) -> None:
    p = sub.add_parser(field.verb, help=help_)
    add_positionals(p, "args", "TYPE NAME | TYPE/NAME KEY_1=VAL_1 ... KEY_N=VAL_N")
    add_filename_flags(p, f"update the {field.key} of")
    add_namespace_flags(p)
    add_dry_run_flag(p)
    add_output_flag(p)
    p.add_argument("--overwrite", action="store_true",
                   help=f"allow {field.key} to be overwritten")
    p.add_argument("--all", action="store_true", help="select all objects of the kinds given")
    p.add_argument("-l", "--selector", default="", help="label selector")
    p.add_argument("--list", action="store_true", help=f"print the {field.key} of the objects")
    p.add_argument("--resource-version", default="",
                   help="only update if the object is at this resourceVersion")
    p.set_defaults(run=lambda ctx, args: run(ctx, args, field))


async def run(ctx: Context, args: argparse.Namespace, field: Field) -> int:
    resources, specs = split_args(args.args, field.noun)
    if not specs and not args.list:
        raise UsageError(f"at least one {field.noun} update is required")
    parse = parse_labels if field is LABELS else parse_annotations
    new, remove = parse(specs)
    targets = await find_targets(ctx, resources, selector=args.selector, all_=args.all,
                                 filenames=args.filename, recursive=args.recursive,
                                 verb=field.noun)
    for t in targets:
        obj = t.obj or await ctx.client.get(t.rt.plural, t.name, t.namespace)
        current: dict[str, str] = dict((obj.get("metadata") or {}).get(field.key) or {})
        if args.list:
            if len(targets) > 1:
                ctx.warn(f"Listing {field.key} for {t.rt.kind}.{t.rt.group}/{t.name}:")
            for k in sorted(current):
                ctx.print(f"{' ' if len(targets) > 1 else ''}{k}={current[k]}")
            continue
        if not args.overwrite:
            message = overwrite_error(field, current, new)
            if message:
                raise UsageError(message)
        if field is LABELS:
            for k in remove:
                if k not in current:
                    ctx.print(f'label "{k}" not found.')
        patch = change_patch(field, current, new, remove, args.resource_version)
        if not patch:
            result = obj
        elif args.dry_run == "client":
            result = merge_patch(obj, patch)
        else:
            result = await ctx.client.patch(t.rt.plural, name_of(obj), patch, t.namespace,
                                            patch_type="merge",
                                            dry_run=args.dry_run == "server")
        after = dict((result.get("metadata") or {}).get(field.key) or {})
        emit(ctx, t.rt, result, args.output, result_word(field, current, after,
                                                         args.overwrite), args.dry_run)
    return 0
