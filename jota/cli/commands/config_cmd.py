"""`jota config view|current-context|get-contexts|use-context|set-context|delete-context`:
read and change `~/.jota/config` (or $JOTA_CONFIG), in kubectl config's words."""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from jota.cli import config
from jota.cli.commands._common import table
from jota.cli.context import Context, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="Modify config files")
    verbs = p.add_subparsers(dest="config_verb", metavar="SUBCOMMAND", required=True)
    view = verbs.add_parser("view", help="Display merged config settings")
    view.add_argument("--minify", action="store_true", help="only the current context")
    view.add_argument("-o", "--output", default="yaml", choices=["yaml", "json"])
    view.set_defaults(run=run_view)
    verbs.add_parser("current-context", help="Display the current-context"
                     ).set_defaults(run=run_current)
    get = verbs.add_parser("get-contexts", help="Describe one or many contexts")
    get.add_argument("names", nargs="*", metavar="NAME")
    get.add_argument("-o", "--output", default="", choices=["", "name"])
    get.add_argument("--no-headers", action="store_true")
    get.set_defaults(run=run_get_contexts)
    use = verbs.add_parser("use-context", aliases=["use"], help="Set the current-context")
    use.add_argument("name", metavar="CONTEXT_NAME")
    use.set_defaults(run=run_use)
    set_ = verbs.add_parser("set-context", help="Set a context entry in the config")
    set_.add_argument("name", nargs="?", default="", metavar="CONTEXT_NAME")
    set_.add_argument("--current", action="store_true", help="modify the current context")
    set_.add_argument("--server", dest="ctx_server", default=None,
                      help="the apiserver address (host:port)")
    set_.add_argument("--namespace", dest="ctx_namespace", default=None,
                      help="the default namespace")
    set_.set_defaults(run=run_set)
    delete = verbs.add_parser("delete-context", help="Delete the specified context")
    delete.add_argument("name", metavar="CONTEXT_NAME")
    delete.set_defaults(run=run_delete)


def minify(doc: dict[str, Any]) -> dict[str, Any]:
    current = doc.get("current-context") or ""
    if not current:
        raise UsageError("current-context must exist in order to minify")
    ctx = config.find_context(doc, current)
    return {**doc, "contexts": [ctx] if ctx else []}


def context_rows(doc: dict[str, Any], names: list[str], headers: bool = True
                 ) -> list[list[str]]:
    """kubectl's get-contexts table; a context's server stands in its CLUSTER column."""
    contexts = [c for c in doc.get("contexts") or [] if isinstance(c, dict)]
    for name in names:
        if config.find_context(doc, name) is None:
            raise UsageError(f"context {name} not found")
    if names:
        contexts = [c for c in contexts if c.get("name") in names]
    rows = [["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]] if headers else []
    for c in sorted(contexts, key=lambda c: str(c.get("name"))):
        settings = c.get("context") or {}
        rows.append(["*" if c.get("name") == doc.get("current-context") else "",
                     str(c.get("name", "")),
                     str(settings.get("cluster") or settings.get("server") or ""),
                     str(settings.get("user") or ""), str(settings.get("namespace") or "")])
    return rows


async def run_view(ctx: Context, args: argparse.Namespace) -> int:
    doc = config.load()
    if args.minify:
        doc = minify(doc)
    if args.output == "json":
        ctx.print(json.dumps(doc, indent=4))
    else:
        ctx.print(yaml.safe_dump(doc, sort_keys=False).rstrip("\n"))
    return 0


async def run_current(ctx: Context, args: argparse.Namespace) -> int:
    current = config.load().get("current-context")
    if not current:
        raise UsageError("current-context is not set")
    ctx.print(str(current))
    return 0


async def run_get_contexts(ctx: Context, args: argparse.Namespace) -> int:
    rows = context_rows(config.load(), args.names, headers=not args.no_headers)
    if args.output == "name":
        for row in rows[0 if args.no_headers else 1:]:
            ctx.print(row[1])
    elif rows:
        ctx.print(table(rows))
    return 0


async def run_use(ctx: Context, args: argparse.Namespace) -> int:
    doc = config.load()
    if config.find_context(doc, args.name) is None:
        raise UsageError(f'no context exists with the name: "{args.name}"')
    doc["current-context"] = args.name
    config.save(doc)
    ctx.print(f'Switched to context "{args.name}".')
    return 0


async def run_set(ctx: Context, args: argparse.Namespace) -> int:
    doc = config.load()
    name = args.name
    if args.current:
        if name:
            raise UsageError("you cannot specify a context name and --current")
        name = doc.get("current-context") or ""
        if not name:
            raise UsageError("no current context is set")
    if not name:
        raise UsageError("you must specify a non-empty context name or --current")
    existed = config.find_context(doc, name) is not None
    config.set_context(name, server=args.ctx_server, namespace=args.ctx_namespace)
    ctx.print(f'Context "{name}" {"modified" if existed else "created"}.')
    return 0


async def run_delete(ctx: Context, args: argparse.Namespace) -> int:
    doc = config.load()
    if config.find_context(doc, args.name) is None:
        raise UsageError(f"cannot delete context {args.name}, not in {config.config_path()}")
    if doc.get("current-context") == args.name:
        ctx.warn("warning: this removed your active context, use \"jota config "
                 "use-context\" to select a different one")
        doc["current-context"] = ""
    doc["contexts"] = [c for c in doc["contexts"] if c.get("name") != args.name]
    config.save(doc)
    ctx.print(f"deleted context {args.name} from {config.config_path()}")
    return 0
