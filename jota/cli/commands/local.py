"""`jota local up|down|status|logs`: a cluster on this machine, for trying Jota out."""

from __future__ import annotations

import argparse
from pathlib import Path

from jota.cli import config
from jota.cli.context import Context, UsageError
from jota.local import cluster


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("local", help="Run a Jota cluster on this machine")
    verbs = p.add_subparsers(dest="local_verb", metavar="VERB", required=True)
    up = verbs.add_parser("up", help="start a local cluster and make it the current context")
    up.set_defaults(run=run_up)
    verbs.add_parser("down", help="stop the local cluster and remove its state"
                     ).set_defaults(run=run_down)
    verbs.add_parser("status", help="show the local cluster's components"
                     ).set_defaults(run=run_status)
    logs = verbs.add_parser("logs", help="print a component's log")
    logs.add_argument("component", help="etcd, apiserver, controller-manager, ...")
    logs.set_defaults(run=run_logs)


async def run_up(ctx: Context, args: argparse.Namespace) -> int:
    step = 0

    def progress(message: str) -> None:
        nonlocal step
        step += 1
        ctx.print(f" [{step}] {message} ...")

    try:
        address = cluster.up(progress)
    except (RuntimeError, OSError, TimeoutError) as e:
        raise UsageError(str(e)) from None
    config.set_context(cluster.CONTEXT, server=address, namespace="default", use=True)
    ctx.print(f"\nThe local cluster is up: apiserver at {address}, context "
              f"\"{cluster.CONTEXT}\" written to {config.config_path()}.")
    ctx.print("Try:\n  jota get namespaces\n  jota apply -f examples/\n  jota get all")
    return 0


async def run_down(ctx: Context, args: argparse.Namespace) -> int:
    cluster.down(lambda m: ctx.print(f" {m} ..."))
    ctx.print("The local cluster is down.")
    return 0


async def run_status(ctx: Context, args: argparse.Namespace) -> int:
    components = cluster.load_state()
    if not components:
        ctx.print("No local cluster is running.")
        return 1
    rows = [("COMPONENT", "STATUS", "PID", "ADDRESS")] + [
        (c.name, "Running" if c.alive else "Stopped", str(c.pid), c.address or "-")
        for c in components]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        ctx.print("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0 if all(c.alive for c in components) else 1


async def run_logs(ctx: Context, args: argparse.Namespace) -> int:
    for c in cluster.load_state():
        if c.name == args.component:
            ctx.print(Path(c.log).read_text(errors="replace").rstrip("\n"))
            return 0
    names = ", ".join(c.name for c in cluster.load_state()) or "none running"
    raise UsageError(f'no component "{args.component}" in the local cluster ({names})')
