"""`jota wait --for=CONDITION KIND NAME`: block until objects reach a state.

Conditions are kubectl's: `condition=Available[=true]`, `delete`, `create`,
`jsonpath='{.status.phase}'=Running` (or just a path, meaning "is set"). Each
object is watched from the resourceVersion it was read at, so a change is seen
as soon as the server sends it, without polling; a too-old resourceVersion
relists. Each object gets the whole --timeout, as in kubectl.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from dataclasses import dataclass
from typing import Any

from jota.api import errors
from jota.api.meta import Obj, name_of, resource_version_of
from jota.cli.commands._common import Target, add_output_flag, add_positionals, emit, find_targets
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_filename_flags, add_namespace_flags
from jota.cli.printers.jsonpath import JSONPathError, find_results

WEEK = 7 * 24 * 3600.0
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
JSONPATH_FORMAT = ("jsonpath wait format must be --for=jsonpath='{.status.readyReplicas}'=3 "
                   "or --for=jsonpath='{.status.readyReplicas}'")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (`30s`, `5m`, `1h30m`, `500ms`, `0`)."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    body = s.lstrip("+-")
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    for m in _DURATION.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        detail = "missing unit in duration" if body.replace(".", "").isdigit() \
            else "invalid duration"
        raise UsageError(f'invalid argument "{text}" for "--timeout" flag: time: '
                         f'{detail} "{text}"')
    return sign * total


@dataclass(frozen=True)
class Condition:
    """What --for asks: kind is "delete", "create", "condition" or "jsonpath"."""

    kind: str
    name: str = ""  # condition type, or the JSONPath expression
    value: str = ""  # expected status / value; "" for "is set" JSONPath waits


def parse_condition(text: str) -> Condition:
    lowered = text.lower()
    if lowered in ("delete", "create"):
        return Condition(lowered)
    if text.startswith("condition="):
        name, sep, value = text[len("condition="):].partition("=")
        return Condition("condition", name, value if sep else "true")
    if text.startswith("jsonpath="):
        return _jsonpath_condition(text[len("jsonpath="):])
    raise UsageError(f'unrecognized condition: "{text}"')


def _jsonpath_condition(text: str) -> Condition:
    """`{.status.phase}=Running`, `.status.phase=Running` or `{.status.readyReplicas}`."""
    if text.startswith("{"):
        close = text.find("}")
        if close < 0:
            raise UsageError(JSONPATH_FORMAT)
        expr, rest = text[1:close], text[close + 1:]
    else:
        expr, sep, value = text.partition("=")
        rest = sep + value
    if rest and not rest.startswith("="):
        raise UsageError(JSONPATH_FORMAT)
    if not expr.strip():
        raise UsageError("jsonpath expression cannot be empty")
    value = rest[1:].strip("'\"")
    if rest and not value:
        raise UsageError("jsonpath wait has to have a value after equal sign")
    return Condition("jsonpath", expr.strip(), value)


def jsonpath(obj: Any, expr: str) -> list[Any]:
    """The values a JSONPath (`.status.phase`, relaxed like kubectl's) finds in `obj`."""
    path = expr if expr.startswith((".", "[")) else "." + expr
    try:
        results = find_results("{" + path + "}", obj)
    except JSONPathError as e:
        raise UsageError(str(e)) from None
    return [v for values in results for v in values]


def _scalar(values: list[Any]) -> str | None:
    if len(values) != 1:
        return None
    v = values[0]
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return None if isinstance(v, dict | list) else str(v)


def condition_met(cond: Condition, obj: Obj) -> bool:
    """Whether `obj` (as read now) satisfies a condition or jsonpath wait."""
    if cond.kind == "create":
        return True
    if cond.kind == "jsonpath":
        found = jsonpath(obj, cond.name)
        if not found:
            return False
        if len(found) > 1:
            raise UsageError("given jsonpath expression matches more than one value")
        if isinstance(found[0], dict | list):
            raise UsageError("jsonpath leads to a nested object or list which is not supported")
        return not cond.value or (_scalar(found) or "").strip() == cond.value
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    for c in status.get("conditions") or []:
        if str(c.get("type", "")).lower() != cond.name.lower():
            continue
        observed = c.get("observedGeneration", status.get("observedGeneration"))
        if generation is not None and observed is not None and observed < generation:
            return False
        return str(c.get("status", "")).lower() == cond.value.lower()
    return False


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("wait", help="Experimental: Wait for a specific condition on one or "
                                    "many resources")
    add_positionals(p, "resources", "TYPE NAME | TYPE/NAME")
    add_filename_flags(p, "wait for")
    add_namespace_flags(p)
    p.add_argument("--for", dest="for_", default="", help="the condition to wait on: "
                   "delete, create, condition=NAME[=VALUE] or jsonpath='{PATH}'[=VALUE]")
    p.add_argument("--timeout", default="30s", help="how long to wait (30s, 5m, 1h; "
                                                    "0 checks once, negative waits a week)")
    p.add_argument("--all", action="store_true", help="select all objects of the kinds given")
    p.add_argument("-l", "--selector", default="", help="label selector")
    add_output_flag(p)
    p.set_defaults(run=run)


async def _observe(ctx: Context, t: Target) -> tuple[Obj | None, str]:
    """The object (None if absent) and the resourceVersion to watch from."""
    listing = await ctx.client.list(t.rt.plural, t.namespace,
                                    field_selector=f"metadata.name={t.name}")
    items = listing.get("items") or []
    return (items[0] if items else None), resource_version_of(listing)


def _done(cond: Condition, obj: Obj | None, uid: str) -> bool:
    if cond.kind == "delete":
        return obj is None or (obj.get("metadata") or {}).get("uid") != uid
    return obj is not None and condition_met(cond, obj)


async def wait_for(ctx: Context, t: Target, cond: Condition, uid: str, once: bool) -> Obj:
    """Return the object once `cond` holds (its last state, for delete)."""
    last: Obj = t.obj or {"metadata": {"name": t.name}}
    while True:
        obj, rv = await _observe(ctx, t)
        if obj is None and cond.kind not in ("delete", "create"):
            raise errors.NotFound.of(t.rt.qualified, t.name)
        last = obj or last
        if _done(cond, obj, uid):
            return last
        if once:
            raise TimeoutError
        try:
            async for kind, event in ctx.client.watch(
                    t.rt.plural, t.namespace, resource_version=rv, allow_bookmarks=False,
                    field_selector=f"metadata.name={t.name}"):
                if kind == "DELETED":
                    if cond.kind == "delete":
                        return event
                    break  # re-read: the object is gone, which the next list reports
                if kind in ("ADDED", "MODIFIED"):
                    last = event
                    if _done(cond, event, uid):
                        return event
        except errors.Gone:
            continue


async def run(ctx: Context, args: argparse.Namespace) -> int:
    if not args.for_:
        raise UsageError("--for must be specified")
    cond = parse_condition(args.for_)
    timeout = parse_duration(args.timeout)
    if timeout < 0:
        timeout = WEEK
    targets = await find_targets(ctx, args.resources, selector=args.selector, all_=args.all,
                                 filenames=args.filename, recursive=args.recursive,
                                 verb="wait")
    visited = 0
    for t in targets:
        if cond.kind == "delete" and t.obj is None:
            try:
                t.obj = await ctx.client.get(t.rt.plural, t.name, t.namespace)
            except errors.NotFound:
                continue  # already gone before we looked: nothing to report, as kubectl
        visited += 1
        uid = str(((t.obj or {}).get("metadata") or {}).get("uid") or "")
        try:
            obj = await asyncio.wait_for(wait_for(ctx, t, cond, uid, once=timeout == 0),
                                         timeout or None)
        except TimeoutError:
            raise UsageError(f"timed out waiting for the condition on "
                             f"{t.rt.plural}/{t.name}") from None
        obj.setdefault("metadata", {}).setdefault("name", name_of(obj) or t.name)
        emit(ctx, t.rt, obj, args.output, "condition met")
    if visited == 0 and cond.kind != "delete":
        raise UsageError("no matching resources found")
    return 0
