"""`jota api-resources`: the kinds the server serves, from its discovery call."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from jota.api.gen.resources_pb2 import APIResource
from jota.cli.commands._common import table
from jota.cli.context import Context, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("api-resources", help="Print the supported API resources on the server")
    p.add_argument("--namespaced", default=None, choices=["true", "false"],
                   help="only namespaced (true) or cluster-scoped (false) resources")
    p.add_argument("--api-group", default=None, help="only resources of this API group")
    p.add_argument("--verbs", default="", help="only resources supporting these verbs (a,b)")
    p.add_argument("-o", "--output", default="", choices=["", "wide", "name"],
                   help="output format: wide or name")
    p.add_argument("--sort-by", default="", choices=["", "name", "kind"],
                   help="sort by name or kind (default: by group, then name)")
    p.add_argument("--no-headers", action="store_true", help="do not print headers")
    p.set_defaults(run=run)


def select(resources: Iterable[APIResource], *, namespaced: str | None = None,
           api_group: str | None = None, verbs: str = "",
           sort_by: str = "") -> list[APIResource]:
    wanted = [v for v in verbs.split(",") if v]
    chosen = [r for r in resources
              if (namespaced is None or r.namespaced == (namespaced == "true"))
              and (api_group is None or r.group == api_group)
              and all(v in r.verbs for v in wanted)]

    def key(r: APIResource) -> tuple[str, str]:
        first = {"name": r.name, "kind": r.kind}.get(sort_by, r.group)
        return first, r.name
    return sorted(chosen, key=key)


def render(resources: list[APIResource], output: str = "", no_headers: bool = False) -> str:
    if output == "name":
        return "\n".join(f"{r.name}.{r.group}" if r.group else r.name for r in resources)
    header = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    if output == "wide":
        header += ["VERBS", "CATEGORIES"]
    rows = [] if no_headers else [header]
    for r in resources:
        row = [r.name, ",".join(r.short_names),
               f"{r.group}/{r.version}" if r.group else r.version,
               "true" if r.namespaced else "false", r.kind]
        if output == "wide":
            row += ["[" + " ".join(r.verbs) + "]", ",".join(r.categories)]
        rows.append(row)
    return table(rows)


async def run(ctx: Context, args: argparse.Namespace) -> int:
    if args.output not in ("", "wide", "name"):
        raise UsageError(f"--output {args.output} is not available")
    found = await ctx.client.discovery()
    chosen = select(found.resources, namespaced=args.namespaced, api_group=args.api_group,
                    verbs=args.verbs, sort_by=args.sort_by)
    text = render(chosen, args.output, args.no_headers)
    if text:
        ctx.print(text)
    return 0
