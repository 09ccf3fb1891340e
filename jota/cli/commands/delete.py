"""`jota delete`: by name, by file, by label; waits until the objects are gone."""

from __future__ import annotations

import argparse
import asyncio

from jota.api import errors
from jota.api.meta import name_of
from jota.api.registry import ResourceType
from jota.cli import manifests
from jota.cli.context import Context, UsageError, report_error, split_targets, type_of
from jota.cli.flags import (
    add_dry_run_flag,
    add_filename_flags,
    add_namespace_flags,
    dry_run_suffix,
)

CASCADE = {"background": "Background", "true": "Background", "foreground": "Foreground",
           "orphan": "Orphan", "false": "Orphan"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("delete", help="Delete resources by file names, resources and names, "
                                      "or by resources and label selector")
    p.add_argument("resources", nargs="*", metavar="TYPE [NAME...] | TYPE/NAME...")
    add_filename_flags(p, "delete")
    add_namespace_flags(p)
    add_dry_run_flag(p)
    p.add_argument("-l", "--selector", default="", help="delete objects matching this label "
                                                        "selector")
    p.add_argument("--all", action="store_true", help="delete every object of the kinds given")
    p.add_argument("--cascade", default="background", choices=sorted(CASCADE),
                   help="background (default), foreground or orphan dependents")
    p.add_argument("--grace-period", type=int, default=-1,
                   help="seconds given to the object to stop gracefully (-1: its default)")
    p.add_argument("--now", action="store_true", help="same as --grace-period=1")
    p.add_argument("--force", action="store_true",
                   help="with --grace-period=0, delete at once without waiting for the node")
    p.add_argument("--wait", default="true", choices=["true", "false"],
                   help="wait for the objects to be gone before returning (default true)")
    p.add_argument("--timeout", type=float, default=0,
                   help="seconds to wait for the deletion (0 = a week, as kubectl)")
    p.add_argument("--ignore-not-found", action="store_true",
                   help="treat a missing object as a successful delete")
    p.set_defaults(run=run, positionals="resources")


async def _targets(ctx: Context, args: argparse.Namespace
                   ) -> list[tuple[ResourceType, str, str]]:
    if args.filename:
        found = []
        for m in manifests.read(args.filename, args.recursive, verb="delete"):
            rt = type_of(m.doc)
            found.append((rt, ctx.ns_of_manifest(rt, m.doc), name_of(m.doc)))
        return found
    result: list[tuple[ResourceType, str, str]] = []
    for rt, names in split_targets(args.resources):
        if names:
            result.extend((rt, ctx.ns_for(rt), n) for n in names)
            continue
        if not (args.selector or args.all):
            raise UsageError("resource(s) were provided, but no name was specified")
        listing = await ctx.client.list(rt.plural, ctx.ns_for(rt), label_selector=args.selector)
        result.extend((rt, (o["metadata"].get("namespace") or ""), name_of(o))
                      for o in listing["items"])
    return result


async def run(ctx: Context, args: argparse.Namespace) -> int:
    if not args.filename and not args.resources:
        raise UsageError("You must provide one or more resources by argument or filename.")
    grace = 1 if args.now else args.grace_period
    if args.force and grace < 0:
        grace = 0
    if args.force and grace == 0:
        ctx.warn("Warning: Immediate deletion does not wait for confirmation that the running "
                 "resource has been terminated. The resource may continue to run on the "
                 "cluster indefinitely.")
    targets = await _targets(ctx, args)
    if not targets:
        ns_note = "" if ctx.all_namespaces else f" in {ctx.namespace} namespace"
        ctx.warn(f"No resources found{ns_note}.")
        return 0
    failed = False
    deleted = []
    for rt, ns, name in targets:
        try:
            await ctx.client.delete(rt.plural, name, ns, propagation_policy=CASCADE[args.cascade],
                                    grace_period_seconds=grace,
                                    dry_run=args.dry_run == "server")
            ctx.print(f'{rt.display} "{name}" deleted{dry_run_suffix(args.dry_run)}')
            deleted.append((rt, ns, name))
        except errors.NotFound as e:
            if not args.ignore_not_found:
                failed = True
                report_error(e)
        except errors.APIError as e:
            failed = True
            report_error(e)
    if args.wait == "true" and args.dry_run == "none":
        timeout = args.timeout or 7 * 24 * 3600
        try:
            await asyncio.wait_for(_wait_gone(ctx, deleted), timeout)
        except TimeoutError:
            report_error(UsageError("timed out waiting for the condition"))
            failed = True
    return 1 if failed else 0


async def _wait_gone(ctx: Context, objs: list[tuple[ResourceType, str, str]]) -> None:
    for rt, ns, name in objs:
        delay = 0.05
        while True:
            try:
                await ctx.client.get(rt.plural, name, ns)
            except errors.NotFound:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
