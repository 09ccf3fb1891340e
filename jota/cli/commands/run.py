"""`jota run NAME --image=I`: start one Pod, labelled `run=NAME` as kubectl does."""

from __future__ import annotations

import argparse
import json

from jota.api.meta import Obj
from jota.api.names import is_dns1123_subdomain
from jota.api.registry import by_kind
from jota.api.strategic import strategic_merge_patch
from jota.cli.commands import _generators as gen
from jota.cli.commands._common import add_output_flag, add_positionals
from jota.cli.commands.create import create_one
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_dry_run_flag, add_namespace_flags

RESTART = ("Always", "OnFailure", "Never")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="Run a particular image on the cluster")
    p.add_argument("name", metavar="NAME")
    add_positionals(p, "args", "-- [COMMAND] [args...]")
    p.add_argument("--image", default="", help="the container image to run")
    p.add_argument("--port", type=int, default=-1, help="the port the container exposes")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE (repeatable)")
    p.add_argument("-l", "--labels", default="", help="labels (k=v,k2=v2) instead of run=NAME")
    p.add_argument("--annotations", action="append", default=[], help="k=v (repeatable)")
    p.add_argument("--restart", default="Always", choices=RESTART,
                   help="the restart policy of the pod (default Always)")
    p.add_argument("--command", dest="as_command", action="store_true",
                   help="the arguments after -- are the command, not the image's args")
    p.add_argument("--image-pull-policy", default="", choices=["", "Always", "IfNotPresent",
                                                               "Never"])
    p.add_argument("--overrides", default="",
                   help="an inline JSON strategic merge patch applied to the generated pod")
    p.add_argument("--expose", action="store_true",
                   help="also create a ClusterIP service for --port, selecting the pod")
    add_namespace_flags(p, all_namespaces=False)
    add_dry_run_flag(p)
    add_output_flag(p)
    p.set_defaults(run=run, save_config=False)


def build(args: argparse.Namespace, ns: str = "") -> Obj:
    """The Pod `jota run` sends, from its parsed flags."""
    if not args.image:
        raise UsageError("--image is required")
    errs = is_dns1123_subdomain(args.name)
    if errs:
        raise UsageError(f"invalid pod name {args.name!r}: {'; '.join(errs)}")
    labels = gen.parse_pairs(args.labels) if args.labels else None
    annotations = gen.parse_pairs(",".join(args.annotations), "annotation")
    obj = gen.pod(args.name, args.image, labels=labels, annotations=annotations,
                  port=args.port, env=gen.parse_env(args.env), restart=args.restart,
                  args=args.args, command=args.as_command,
                  pull_policy=args.image_pull_policy, ns=ns)
    if args.overrides:
        try:
            patch = json.loads(args.overrides)
        except ValueError as e:
            raise UsageError(f"error parsing --overrides: {e}") from None
        obj = strategic_merge_patch(obj, patch, by_kind("Pod"))
    return obj


async def run(ctx: Context, args: argparse.Namespace) -> int:
    ns = ctx.namespace if ctx.explicit_namespace else ""
    pod = build(args, ns)
    if args.expose:
        if args.port < 0:
            raise UsageError("--port must be set when exposing a service")
        labels = pod["metadata"]["labels"]
        service = gen.exposed_service(args.name, labels, [str(args.port)], labels=labels,
                                      ns=ns)
        await create_one(ctx, service, args)
    await create_one(ctx, pod, args)
    return 0
