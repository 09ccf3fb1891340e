"""`jota explain KIND[.field...]`: the documentation of a kind or field, from the
Kubernetes OpenAPI definitions the server validates with."""

from __future__ import annotations

import argparse

from jota.cli.context import Context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("explain", help="Get documentation for a resource")
    p.add_argument("path", metavar="TYPE[.FIELD...]")
    p.add_argument("--recursive", action="store_true", help="print the fields of fields")
    p.add_argument("--api-version", default="", help="the group/version of the kind")
    p.set_defaults(run=run)


async def run(ctx: Context, args: argparse.Namespace) -> int:
    text = await ctx.client.explain(args.path, recursive=args.recursive)
    ctx.print(text.rstrip("\n"))
    return 0
