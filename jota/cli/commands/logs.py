"""`jota logs`: print a container's log, as kubectl logs.

`POD [CONTAINER]`, `TYPE/NAME` (the best pod of a Deployment, Service, ...) or
`-l SELECTOR` (every matching pod; `--tail` then defaults to 10 lines), with
-c, -f, --previous, --tail, --since/--since-time, --timestamps, --prefix,
--all-containers and --limit-bytes. The bytes come from the node agent through
the apiserver and are written out untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from jota.api.meta import Obj, name_of
from jota.cli.commands._common import add_positionals
from jota.cli.commands._pods import all_containers, attachable_pod, default_container
from jota.cli.commands.wait import parse_duration
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_namespace_flags
from jota.client import streams

USAGE = ("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
         "POD or TYPE/NAME is a required argument for the logs command")
SELECTOR_TAIL = 10


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("logs", help="Print the logs for a container in a pod")
    add_positionals(p, "words", "(POD | TYPE/NAME) [CONTAINER]")
    add_namespace_flags(p, all_namespaces=False)
    p.add_argument("-c", "--container", default="", help="print the logs of this container")
    p.add_argument("-f", "--follow", action="store_true", help="stream the logs")
    p.add_argument("-p", "--previous", action="store_true",
                   help="the logs of the previous instance of the container")
    p.add_argument("--tail", type=int, default=-1,
                   help="lines of recent log to display; -1 (default) shows all lines, "
                        "or 10 with a selector")
    p.add_argument("--since", default="", help="only logs newer than a duration (5s, 2m, 3h)")
    p.add_argument("--since-time", default="",
                   help="only logs after this RFC 3339 time")
    p.add_argument("--timestamps", action="store_true", help="include timestamps on each line")
    p.add_argument("-l", "--selector", default="", help="label selector of the pods")
    p.add_argument("--prefix", action="store_true",
                   help="prefix each line with its source (pod and container)")
    p.add_argument("--all-containers", action="store_true",
                   help="the logs of every container of the pod(s)")
    p.add_argument("--limit-bytes", type=int, default=0,
                   help="maximum bytes of logs to return (0: no limit)")
    p.add_argument("--max-log-requests", type=int, default=5,
                   help="with a selector and -f, how many logs to follow at once")
    p.add_argument("--ignore-errors", action="store_true",
                   help="when following several logs, carry on past errors")
    p.set_defaults(run=run)


@dataclass(frozen=True)
class Request:
    pod: str
    container: str

    def prefix(self) -> bytes:
        return f"[pod/{self.pod}/{self.container}] ".encode()


def since_seconds(since: str, since_time: str, now: datetime) -> int:
    """--since or --since-time as whole seconds back from now (kubectl rounds up)."""
    if since and since_time:
        raise UsageError("at most one of `sinceTime` or `sinceSeconds` may be specified")
    if since:
        try:
            seconds = parse_duration(since)
        except UsageError as e:
            raise UsageError(str(e).replace('"--timeout"', '"--since"')) from None
        return max(math.ceil(seconds), 0)
    if since_time:
        try:
            moment = datetime.fromisoformat(since_time.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f'invalid argument "{since_time}" for "--since-time" flag: '
                             "must be an RFC 3339 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(math.ceil((now - moment).total_seconds()), 1)
    return 0


def requests_for(pods: list[Obj], container: str, all_: bool) -> list[Request]:
    """(pod, container) pairs to read, in order; "" lets the server pick or complain."""
    result: list[Request] = []
    for pod in pods:
        names = all_containers(pod) if all_ else [default_container(pod, container)]
        result.extend(Request(name_of(pod), c) for c in names)
    return result


def _binary(out: Any) -> IO[bytes] | None:
    buffer = getattr(out, "buffer", None)
    return buffer if buffer is not None else None


def write(ctx: Context, data: bytes) -> None:
    binary = _binary(ctx.out)
    if binary is not None:
        binary.write(data)
        binary.flush()
    else:
        ctx.out.write(data.decode("utf-8", "replace"))
        ctx.out.flush()


async def run(ctx: Context, args: argparse.Namespace) -> int:
    words: list[str] = list(args.words)
    if args.selector and words:
        raise UsageError("only a selector (-l) or a POD name is allowed")
    if not args.selector and not words:
        raise UsageError(USAGE)
    if len(words) > 2:
        raise UsageError(USAGE)
    container = args.container or (words[1] if len(words) == 2 else "")
    if args.selector:
        listing = await ctx.client.list("pods", ctx.namespace, label_selector=args.selector)
        pods = list(listing.get("items") or [])
        if not pods:
            ctx.warn(f"No resources found in {ctx.namespace} namespace.")
            return 0
        tail = SELECTOR_TAIL if args.tail == -1 else args.tail
    else:
        pods = [await attachable_pod(ctx, words[0])]
        tail = args.tail
    wanted = requests_for(pods, container, args.all_containers)
    options = {"follow": args.follow, "tail_lines": tail, "timestamps": args.timestamps,
               "previous": args.previous, "limit_bytes": args.limit_bytes,
               "since_seconds": since_seconds(args.since, args.since_time, ctx.now())}
    if args.follow and len(wanted) > 1:
        if len(wanted) > args.max_log_requests:
            raise UsageError(
                f"you are attempting to follow {len(wanted)} log streams, but maximum "
                f"allowed concurrency is {args.max_log_requests}, use --max-log-requests to "
                "increase the limit")
        await asyncio.gather(*(_copy(ctx, r, options, args.prefix, args.ignore_errors)
                               for r in wanted))
        return 0
    for r in wanted:
        await _copy(ctx, r, options, args.prefix, ignore_errors=False)
    return 0


async def _copy(ctx: Context, request: Request, options: dict[str, Any], prefix: bool,
                ignore_errors: bool) -> None:
    lead = request.prefix() if prefix else b""
    try:
        async for chunk in streams.logs(ctx.client, ctx.namespace, request.pod,
                                        container=request.container, **options):
            write(ctx, lead + chunk if lead else chunk)
    except Exception as e:
        if not ignore_errors:
            raise
        ctx.warn(f"error: {e}")
