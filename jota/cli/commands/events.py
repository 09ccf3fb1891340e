"""`jota events [--for pod/web] [-w] [-A] [--types Warning]`: a namespace's events,
oldest first, as kubectl events prints them."""

from __future__ import annotations

import argparse

from jota.api.registry import resolve
from jota.cli import printers
from jota.cli.context import Context, UsageError, resource_type
from jota.cli.flags import add_namespace_flags
from jota.cli.printers.events import events_table, row
from jota.cli.printers.table import TABLE_MINWIDTH, TABLE_PADDING, TabWriter

TYPES = ("Normal", "Warning")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("events", help="List events")
    add_namespace_flags(p)
    p.add_argument("--for", dest="for_object", default="", metavar="KIND/NAME",
                   help="only events about this object, e.g. pod/web-1")
    p.add_argument("--types", action="append", default=[],
                   help="only events of these types (Normal, Warning; comma-separated)")
    p.add_argument("-w", "--watch", action="store_true", help="after listing, watch for more")
    p.add_argument("--no-headers", action="store_true", help="do not print headers")
    p.add_argument("-o", "--output", default="", help="output format: json|yaml")
    p.set_defaults(run=run)


def field_selector(for_object: str) -> str:
    """`pod/web` -> `involvedObject.kind=Pod,involvedObject.name=web`."""
    if not for_object:
        return ""
    kind, sep, name = for_object.partition("/")
    if not sep or not kind or not name:
        raise UsageError(f"--for must be in resource/name form, got {for_object!r}")
    return f"involvedObject.kind={resource_type(kind).kind},involvedObject.name={name}"


def types_of(values: list[str]) -> set[str]:
    chosen = {t.strip() for v in values for t in v.split(",") if t.strip()}
    for t in chosen:
        if t.lower() not in (x.lower() for x in TYPES):
            raise UsageError(f"valid --types are Normal and Warning, got {t!r}")
    return {t.lower() for t in chosen}


async def run(ctx: Context, args: argparse.Namespace) -> int:
    selector = field_selector(args.for_object)
    types = types_of(args.types)
    ns = "" if ctx.all_namespaces else ctx.namespace
    listing = await ctx.client.list("events", ns, field_selector=selector)
    items = [e for e in listing.get("items") or []
             if not types or str(e.get("type", "")).lower() in types]
    rt = resolve("events")
    if args.output:
        ctx.print(printers.format_output(args.output, rt, items, single=False,
                                         no_headers=args.no_headers).rstrip("\n"))
    elif items:
        writer = TabWriter(TABLE_MINWIDTH, TABLE_PADDING, remember_widths=True)
        ctx.print(events_table(items, ctx.now(), all_namespaces=ctx.all_namespaces,
                               headers=not args.no_headers, writer=writer).rstrip("\n"))
    elif not args.watch:
        ctx.warn("No events found." if ctx.all_namespaces
                 else f"No events found in {ctx.namespace} namespace.")
    if not args.watch:
        return 0
    writer = TabWriter(TABLE_MINWIDTH, TABLE_PADDING, remember_widths=True)
    if not items and not args.no_headers:
        header = (["NAMESPACE"] if ctx.all_namespaces else []) + [
            "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        ctx.print(writer.format("\t".join(header) + "\n").rstrip("\n"))
    rv = str((listing.get("metadata") or {}).get("resourceVersion", ""))
    async for kind, ev in ctx.client.watch("events", ns, resource_version=rv,
                                           field_selector=selector, allow_bookmarks=False):
        if kind not in ("ADDED", "MODIFIED"):
            continue
        if types and str(ev.get("type", "")).lower() not in types:
            continue
        ctx.print(writer.format("\t".join(row(ev, ctx.now(), ctx.all_namespaces)) + "\n")
                  .rstrip("\n"))
    return 0
