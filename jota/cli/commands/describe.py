"""`jota describe`: one object in detail, with the events about it."""

from __future__ import annotations

import argparse

from jota.api import errors
from jota.api.meta import Obj
from jota.cli import printers
from jota.cli.context import Context, report_error, split_targets
from jota.cli.flags import add_namespace_flags


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("describe", help="Show details of a specific resource or group of "
                                        "resources")
    p.add_argument("resources", nargs="+", metavar="TYPE [NAME_PREFIX] | TYPE/NAME")
    add_namespace_flags(p)
    p.add_argument("-l", "--selector", default="", help="label selector")
    p.add_argument("--show-events", default="true", choices=["true", "false"])
    p.set_defaults(run=run, positionals="resources")


async def _events(ctx: Context, obj: Obj) -> list[Obj]:
    uid = obj["metadata"].get("uid")
    if not uid:
        return []
    ns = obj["metadata"].get("namespace", "")
    try:
        found = await ctx.client.list("events", ns,
                                      field_selector=f"involvedObject.uid={uid}")
    except errors.APIError:
        return []
    return list(found.get("items") or [])


# What each describer needs besides the object: (resource, namespace of the object?,
# field selector built from the object).
RELATED: dict[str, list[tuple[str, bool, str]]] = {
    "deployments": [("replicasets", True, "")],
    "services": [("endpoints", True, "metadata.name={name}"),
                 ("endpointslices", True, "")],
    "nodes": [("pods", False, "spec.nodeName={name}"),
              ("leases", False, "metadata.name={name}")],
    "namespaces": [("resourcequotas", False, ""), ("limitranges", False, "")],
}


async def _related(ctx: Context, plural: str, obj: Obj) -> list[Obj]:
    name = obj["metadata"]["name"]
    found: list[Obj] = []
    for resource, same_namespace, selector in RELATED.get(plural, []):
        if same_namespace:
            ns = obj["metadata"].get("namespace", "")
        elif plural == "namespaces":
            ns = name
        elif resource == "leases":
            ns = "kube-node-lease"
        else:
            ns = ""
        try:
            listing = await ctx.client.list(resource, ns,
                                            field_selector=selector.format(name=name))
        except errors.APIError:
            continue
        kind = listing.get("kind", "").removesuffix("List")
        for item in listing.get("items") or []:
            item.setdefault("kind", kind)
            found.append(item)
    return found


async def run(ctx: Context, args: argparse.Namespace) -> int:
    failed = False
    blocks = []
    for rt, names in split_targets(args.resources):
        ns = ctx.ns_for(rt)
        if names:
            objs = []
            for name in names:
                try:
                    objs.append(await ctx.client.get(rt.plural, name, ns))
                except errors.NotFound:
                    # kubectl describe treats the name as a prefix when no exact match exists.
                    listing = await ctx.client.list(rt.plural, ns)
                    matches = [o for o in listing["items"]
                               if o["metadata"]["name"].startswith(name)]
                    if not matches:
                        failed = True
                        report_error(errors.NotFound.of(rt.qualified, name))
                    objs.extend(matches)
        else:
            listing = await ctx.client.list(rt.plural, ns, label_selector=args.selector)
            objs = list(listing["items"])
        for obj in objs:
            events = await _events(ctx, obj) if args.show_events == "true" else None
            related = await _related(ctx, rt.plural, obj)
            now = ctx.now().astimezone()  # describe prints local times, as kubectl
            blocks.append(printers.describe(rt, obj, events, now=now, related=related)
                          .rstrip("\n"))
    if blocks:
        ctx.print("\n\n\n".join(blocks))
    elif not failed:
        ctx.warn(f"No resources found in {ctx.namespace} namespace.")
    return 1 if failed else 0
