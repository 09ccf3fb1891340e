"""`jota get`: list or fetch objects, printed as kubectl prints them."""

from __future__ import annotations

import argparse

from jota.api import errors
from jota.api.meta import Obj
from jota.api.registry import ResourceType
from jota.cli import printers
from jota.cli.context import Context, UsageError, report_error, split_targets
from jota.cli.flags import add_namespace_flags
from jota.cli.printers.jsonpath import JSONPathError
from jota.cli.printers.sort import sort_objects


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("get", help="Display one or many resources")
    p.add_argument("resources", nargs="*", metavar="TYPE[.VERSION][.GROUP] [NAME...]")
    add_namespace_flags(p)
    add_output_flags(p)
    p.add_argument("-l", "--selector", default="", help="label selector (e.g. app=web)")
    p.add_argument("--field-selector", default="",
                   help="field selector (e.g. status.phase=Running)")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after listing, watch for changes")
    p.add_argument("--watch-only", action="store_true",
                   help="watch for changes without listing first")
    p.add_argument("--sort-by", default="", metavar="JSONPATH",
                   help="sort the list by this field, e.g. .lastTimestamp or "
                        "'{.metadata.creationTimestamp}'")
    p.add_argument("--chunk-size", type=int, default=500,
                   help="return large lists in chunks of this size (0 = no chunking)")
    p.set_defaults(run=run, positionals="resources")


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="",
                   help="output format: json|yaml|name|wide|jsonpath=...|custom-columns=...")
    p.add_argument("--show-labels", action="store_true", help="show all labels as a column")
    p.add_argument("-L", "--label-columns", action="append", default=[],
                   help="labels to show as columns (repeatable or comma-separated)")
    p.add_argument("--no-headers", action="store_true", help="do not print headers")
    p.add_argument("--show-kind", action="store_true", help="show the kind with each name")


async def fetch(ctx: Context, rt: ResourceType, names: list[str], args: argparse.Namespace,
                failures: list[errors.APIError]) -> tuple[list[Obj], str]:
    """The objects named (or all of the kind), and the resourceVersion of the list."""
    ns = ctx.ns_for(rt)
    if names:
        found = []
        for name in names:
            try:
                found.append(await ctx.client.get(rt.plural, name, ns if rt.namespaced
                                                  else ""))
            except errors.NotFound as e:
                failures.append(e)
        return found, ""
    if args.chunk_size and args.chunk_size > 0:
        result = await ctx.client.list_all(rt.plural, ns, label_selector=args.selector,
                                           field_selector=args.field_selector,
                                           page=args.chunk_size)
    else:
        result = await ctx.client.list(rt.plural, ns, label_selector=args.selector,
                                       field_selector=args.field_selector)
    return list(result.get("items") or []), str(result["metadata"].get("resourceVersion", ""))


def render(ctx: Context, rt: ResourceType, objs: list[Obj], args: argparse.Namespace, *,
           show_kind: bool, single: bool, headers: bool = True) -> str:
    fmt = args.output
    if not printers.is_table_format(fmt):
        return printers.format_output(fmt, rt, objs, single=single,
                                      no_headers=args.no_headers or not headers)
    labels = [c for col in args.label_columns for c in col.split(",") if c]
    return printers.print_table(
        rt, objs, now=ctx.now(), wide=fmt == "wide", show_kind=show_kind or args.show_kind,
        show_labels=args.show_labels, label_columns=labels,
        all_namespaces=ctx.all_namespaces and rt.namespaced,
        no_headers=args.no_headers or not headers)


def _nothing_found(ctx: Context, kinds: list[ResourceType]) -> str:
    if ctx.all_namespaces or not any(rt.namespaced for rt in kinds):
        return "No resources found"
    return f"No resources found in {ctx.namespace} namespace."


async def run(ctx: Context, args: argparse.Namespace) -> int:
    targets = split_targets(args.resources)
    failures: list[errors.APIError] = []
    structured = not printers.is_table_format(args.output)
    show_kind = len(targets) > 1
    single = len(targets) == 1 and len(targets[0][1]) == 1
    collected: list[tuple[ResourceType, list[Obj], str]] = []
    if not args.watch_only:
        for rt, names in targets:
            objs, rv = await fetch(ctx, rt, names, args, failures)
            if args.sort_by:
                try:
                    objs = sort_objects(objs, args.sort_by)
                except JSONPathError as bad:
                    raise UsageError(f"couldn't parse --sort-by {args.sort_by!r}: {bad}") \
                        from None
            collected.append((rt, objs, rv))
        every = [o for _, objs, _ in collected for o in objs]
        lists_even_empty = structured and args.output.split("=")[0] in ("json", "yaml")
        if structured and (every or (lists_even_empty and not single)):
            kind = targets[0][0] if len(targets) == 1 else None
            text = printers.format_output(args.output, kind, every, single=single,
                                          no_headers=args.no_headers)
            ctx.print(text.rstrip("\n"))
        elif not structured:
            blocks = [render(ctx, rt, objs, args, show_kind=show_kind, single=single)
                      for rt, objs, _ in collected if objs]
            if blocks:
                ctx.print("\n\n".join(b.rstrip("\n") for b in blocks))
        if not every and not failures and not lists_even_empty:
            ctx.warn(_nothing_found(ctx, [rt for rt, _ in targets]))
    for e in failures:
        report_error(e)
    if args.watch or args.watch_only:
        if len(targets) != 1:
            raise errors.BadRequest("watch is only supported on individual resources and "
                                    "resource collections, but 2 resources were found")
        rt, names = targets[0]
        rv = collected[0][2] if collected else ""
        await watch(ctx, rt, names, rv, args)
    return 1 if failures else 0


async def watch(ctx: Context, rt: ResourceType, names: list[str], rv: str,
                args: argparse.Namespace) -> None:
    """Print each change as kubectl's `get -w` does: rows aligned with the table above."""
    field_selector = args.field_selector
    if names:
        field_selector = ",".join(filter(None, [field_selector,
                                                f"metadata.name={names[0]}"]))
    table = None
    if printers.is_table_format(args.output):
        labels = [c for col in args.label_columns for c in col.split(",") if c]
        table = printers.TablePrinter(
            rt, wide=args.output == "wide", show_kind=args.show_kind,
            show_labels=args.show_labels, label_columns=labels,
            all_namespaces=ctx.all_namespaces and rt.namespaced,
            no_headers=args.no_headers or not args.watch_only)
    async for kind, obj in ctx.client.watch(rt.plural, ctx.ns_for(rt), resource_version=rv,
                                            label_selector=args.selector,
                                            field_selector=field_selector,
                                            allow_bookmarks=False):
        if kind in ("BOOKMARK", "ERROR"):
            continue
        if table is not None:
            ctx.print(printers.print_watch_row(table, obj, now=ctx.now()).rstrip("\n"))
        else:
            ctx.print(render(ctx, rt, [obj], args, show_kind=False, single=True)
                      .rstrip("\n"))
