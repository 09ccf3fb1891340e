"""What the smaller verbs share: finding the objects a command line names, and
printing the one-line result (`deployment.apps/web labeled`) or the object (`-o`).

kubectl names objects four ways (`KIND NAME`, `KIND/NAME`, `-l SELECTOR`, `--all`,
plus `-f FILE`); every verb here accepts the same ways with the same errors, so
they are resolved once in `find_targets`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from jota.api.meta import Obj, name_of, namespace_of
from jota.api.registry import ResourceType
from jota.cli import manifests, printers
from jota.cli.context import Context, UsageError, split_targets, type_of
from jota.cli.flags import dry_run_suffix
from jota.cli.printers.table import render


@dataclass
class Target:
    """One object a command acts on; `obj` is set when it was already fetched."""

    rt: ResourceType
    namespace: str
    name: str
    obj: Obj | None = None


def add_positionals(p: argparse.ArgumentParser, dest: str, metavar: str) -> None:
    """A `nargs="*"` positional that, as in kubectl (cobra), may be mixed with flags:
    `label pods -l app=web v=1`, `run web --image=x -- sh -c 'echo hi'`. The words
    argparse leaves over are appended to it by `jota.cli.main.parse`."""
    p.add_argument(dest, nargs="*", metavar=metavar)
    p.set_defaults(positionals=dest)


def add_output_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="",
                   help="output format: json|yaml|name|jsonpath=...|custom-columns=...")


def emit(ctx: Context, rt: ResourceType, obj: Obj, output: str, verb: str,
         dry_run: str = "none") -> None:
    """kubectl's result line, `-o name`'s `kind.group/name`, or the whole object."""
    name = name_of(obj)
    if output == "name":
        ctx.print(f"{rt.display}/{name}")
    elif output:
        ctx.print(printers.format_output(output, rt, [obj], single=True).rstrip("\n"))
    else:
        ctx.print(f"{rt.display}/{name} {verb}{dry_run_suffix(dry_run)}")


def one_target(resources: list[str], verb: str) -> tuple[ResourceType, str]:
    """The single `KIND NAME` or `KIND/NAME` that edit, patch and expose take."""
    pairs = split_targets(resources)
    names = [(rt, n) for rt, ns in pairs for n in ns]
    if len(names) != 1:
        if not names:
            raise UsageError("resource(s) were provided, but no name was specified")
        raise UsageError(f"only one resource can be given to {verb}, got {len(names)}")
    return names[0]


async def find_targets(ctx: Context, resources: list[str], *, selector: str = "",
                       all_: bool = False, filenames: list[str] | None = None,
                       recursive: bool = False, verb: str = "") -> list[Target]:
    """The objects named on the command line, in kubectl's order and words."""
    if filenames:
        found = []
        for m in manifests.read(filenames, recursive, verb=verb):
            rt = type_of(m.doc)
            found.append(Target(rt, ctx.ns_of_manifest(rt, m.doc), name_of(m.doc)))
        return found
    if not resources:
        raise UsageError("You must provide one or more resources by argument or filename.")
    result: list[Target] = []
    for rt, names in split_targets(resources):
        if names:
            if selector or all_:
                raise UsageError("name cannot be provided when a selector or --all is "
                                 "specified")
            result.extend(Target(rt, ctx.ns_for(rt), n) for n in names)
            continue
        if not (selector or all_):
            raise UsageError("resource(s) were provided, but no name was specified")
        listing = await ctx.client.list(rt.plural, ctx.ns_for(rt), label_selector=selector)
        result.extend(Target(rt, namespace_of(o), name_of(o), o) for o in listing["items"])
    return result


def table(rows: list[list[str]]) -> str:
    """Columns laid out as kubectl's tabwriter does (padding 3, minimum width 6)."""
    return render(rows).rstrip("\n")
