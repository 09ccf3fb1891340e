"""`jota apply -f`: make the cluster match manifests, as kubectl's client-side apply.

The manifest last applied is kept in the object's
`kubectl.kubernetes.io/last-applied-configuration` annotation; a re-apply sends
the three-way strategic patch (last applied, new manifest, live object), so a
field removed from the manifest is removed from the object while fields others
set (status, a label added with `jota label`) stay.
"""

from __future__ import annotations

import argparse

from jota.api import errors
from jota.api.apply import annotate_last_applied, last_applied_of, three_way_patch
from jota.api.meta import name_of
from jota.api.registry import ResourceType
from jota.cli import manifests, printers
from jota.cli.context import Context, UsageError, report_error, type_of
from jota.cli.flags import (
    add_dry_run_flag,
    add_filename_flags,
    add_namespace_flags,
    dry_run_suffix,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("apply", help="Apply a configuration to a resource by file or stdin")
    add_filename_flags(p, "apply")
    add_namespace_flags(p, all_namespaces=False)
    add_dry_run_flag(p)
    p.add_argument("-o", "--output", default="", help="output format: name|yaml|json")
    p.set_defaults(run=run)


async def run(ctx: Context, args: argparse.Namespace) -> int:
    if not args.filename:
        raise UsageError("must specify one of -f and -k")
    failed = False
    suffix = dry_run_suffix(args.dry_run)
    for m in manifests.read(args.filename, args.recursive, verb="apply"):
        try:
            rt = _mapping(m)
            name = name_of(m.doc)
            if not name:
                raise UsageError(f'error when retrieving current configuration of: '
                                 f'from "{m.source}": resource name may not be empty')
            ns = ctx.ns_of_manifest(rt, m.doc)
            modified = annotate_last_applied(m.doc)
            if rt.namespaced:
                modified.setdefault("metadata", {})["namespace"] = ns
            try:
                live = await ctx.client.get(rt.plural, name, ns)
            except errors.NotFound:
                live = None
            if live is None:
                if args.dry_run == "client":
                    result, verb = modified, "created"
                else:
                    result = await ctx.client.create(rt.plural, modified, ns,
                                                     dry_run=args.dry_run == "server")
                    verb = "created"
            else:
                patch = three_way_patch(last_applied_of(live), modified, live, rt)
                if not patch:
                    result, verb = live, "unchanged"
                elif args.dry_run == "client":
                    result, verb = live, "configured"
                else:
                    result = await ctx.client.patch(rt.plural, name, patch, ns,
                                                    patch_type="strategic",
                                                    dry_run=args.dry_run == "server")
                    verb = "configured"
            if args.output and args.output != "name":
                ctx.print(printers.format_output(args.output, rt, [result], single=True)
                          .rstrip("\n"))
            elif args.output == "name":
                ctx.print(f"{rt.display}/{name}")
            else:
                ctx.print(f"{rt.display}/{name} {verb}{suffix}")
        except (errors.APIError, UsageError) as e:
            failed = True
            report_error(e)
    return 1 if failed else 0


def _mapping(m: manifests.Manifest) -> ResourceType:
    """The manifest's kind, or kubectl's message naming the object and its file."""
    try:
        return type_of(m.doc)
    except errors.BadRequest as e:
        md = m.doc.get("metadata")
        md = md if isinstance(md, dict) else {}
        raise UsageError(f'resource mapping not found for name: "{md.get("name") or ""}" '
                         f'namespace: "{md.get("namespace") or ""}" from "{m.source}": '
                         f"{e.message}") from None
