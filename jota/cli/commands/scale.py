"""`jota scale KIND NAME --replicas=N`: resize through the scale subresource, so only
`spec.replicas` is written and nothing else of the object can be clobbered."""

from __future__ import annotations

import argparse

from jota.api.meta import name_of
from jota.cli.commands._common import add_output_flag, add_positionals, emit, find_targets
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_dry_run_flag, add_filename_flags, add_namespace_flags


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("scale", help="Set a new size for a deployment, replica set, or "
                                     "stateful set")
    add_positionals(p, "resources", "TYPE NAME | TYPE/NAME")
    add_filename_flags(p, "scale")
    add_namespace_flags(p)
    add_dry_run_flag(p)
    add_output_flag(p)
    p.add_argument("--replicas", type=int, default=-1, help="the new number of replicas")
    p.add_argument("--current-replicas", type=int, default=-1,
                   help="only scale if the current size is this (-1: any)")
    p.add_argument("--resource-version", default="",
                   help="only scale if the object is at this resourceVersion")
    p.add_argument("--all", action="store_true", help="select all objects of the kinds given")
    p.add_argument("-l", "--selector", default="", help="label selector")
    p.set_defaults(run=run)


def check_preconditions(scale: dict[str, object], current: int, rv: str) -> None:
    """kubectl's ScalePrecondition: --current-replicas and --resource-version."""
    spec = scale.get("spec") or {}
    replicas = spec.get("replicas", 0) if isinstance(spec, dict) else 0
    if current >= 0 and replicas != current:
        raise UsageError(f"Expected replicas to be {current}, was {replicas}")
    meta = scale.get("metadata") or {}
    actual_rv = meta.get("resourceVersion", "") if isinstance(meta, dict) else ""
    if rv and actual_rv != rv:
        raise UsageError(f"Expected resource version to be {rv}, was {actual_rv}")


async def run(ctx: Context, args: argparse.Namespace) -> int:
    if args.replicas < 0:
        raise UsageError("The --replicas=COUNT flag is required, and COUNT must be greater "
                         "than or equal to 0")
    targets = await find_targets(ctx, args.resources, selector=args.selector, all_=args.all,
                                 filenames=args.filename, recursive=args.recursive,
                                 verb="scale")
    for t in targets:
        if args.current_replicas >= 0 or args.resource_version or args.dry_run == "client":
            check_preconditions(await ctx.client.get_scale(t.rt.plural, t.name, t.namespace),
                                args.current_replicas, args.resource_version)
        if args.dry_run == "none":
            await ctx.client.update_scale(t.rt.plural, t.name, t.namespace, args.replicas)
        obj = t.obj or {"metadata": {"name": t.name}}
        if args.output and args.output != "name":
            obj = await ctx.client.get(t.rt.plural, name_of(obj), t.namespace)
        emit(ctx, t.rt, obj, args.output, "scaled", args.dry_run)
    return 0
