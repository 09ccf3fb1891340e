"""`jota top nodes|pods`: CPU and memory usage from the metrics.k8s.io API, as
kubectl top (the apiserver scrapes the agents, as metrics-server does)."""

from __future__ import annotations

import argparse
from datetime import datetime

from jota.api.meta import Obj
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_namespace_flags
from jota.cli.printers.top import node_table, pod_table

METRICS_GROUP = "metrics.k8s.io"
METRICS_CREATION_DELAY = 120.0  # kubectl: a younger pod may just not have metrics yet


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("top", help="Display resource (CPU/memory) usage")
    kinds = p.add_subparsers(dest="top_kind", metavar="nodes|pods", parser_class=type(p))
    kinds.required = True
    nodes = kinds.add_parser("node", aliases=["nodes", "no"],
                             help="Display resource (CPU/memory) usage of nodes")
    nodes.add_argument("name", nargs="?", default="")
    nodes.add_argument("-l", "--selector", default="", help="label selector (e.g. role=db)")
    nodes.add_argument("--sort-by", choices=["cpu", "memory"], default="",
                       help="sort by cpu or memory, largest first")
    nodes.add_argument("--no-headers", action="store_true", help="do not print headers")
    nodes.set_defaults(run=run_nodes)
    pods = kinds.add_parser("pod", aliases=["pods", "po"],
                            help="Display resource (CPU/memory) usage of pods")
    pods.add_argument("name", nargs="?", default="")
    add_namespace_flags(pods)
    pods.add_argument("-l", "--selector", default="", help="label selector (e.g. app=web)")
    pods.add_argument("--field-selector", default="", help="field selector")
    pods.add_argument("--containers", action="store_true",
                      help="print usage of each container of the pods")
    pods.add_argument("--sort-by", choices=["cpu", "memory"], default="",
                      help="sort by cpu or memory, largest first")
    pods.add_argument("--sum", action="store_true", help="print the sum of the usage")
    pods.add_argument("--no-headers", action="store_true", help="do not print headers")
    pods.set_defaults(run=run_pods)
    p.set_defaults(run=run_nodes)


async def _require_metrics_api(ctx: Context) -> None:
    discovery = await ctx.client.discovery()
    if not any(r.group == METRICS_GROUP for r in discovery.resources):
        raise UsageError("Metrics API not available")


async def run_nodes(ctx: Context, args: argparse.Namespace) -> int:
    await _require_metrics_api(ctx)
    if args.name:
        metrics = [await ctx.client.get("nodemetrics", args.name)]
        nodes = [await ctx.client.get("nodes", args.name)]
    else:
        metrics = (await ctx.client.list("nodemetrics", label_selector=args.selector))["items"]
        nodes = (await ctx.client.list("nodes", label_selector=args.selector))["items"]
        if not metrics:
            raise UsageError("metrics not available yet")
    ctx.print(node_table(metrics, nodes, sort_by=args.sort_by,
                         headers=not args.no_headers).rstrip("\n"))
    return 0


def _go_duration(seconds: float) -> str:
    """time.Duration.String for an age: `3m12.5s`, `2h0m1s`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def _check_pod_age(pod: Obj, now: datetime) -> None:
    md = pod.get("metadata") or {}
    created = datetime.fromisoformat(str(md.get("creationTimestamp")).replace("Z", "+00:00"))
    age = (now - created).total_seconds()
    if age > METRICS_CREATION_DELAY:
        raise UsageError(f"Metrics not available for pod {md.get('namespace')}/"
                         f"{md.get('name')}, age: {_go_duration(age)}")


async def run_pods(ctx: Context, args: argparse.Namespace) -> int:
    await _require_metrics_api(ctx)
    ns = "" if args.all_namespaces else ctx.namespace
    if args.name:
        metrics = [await ctx.client.get("podmetrics", args.name, ns)]
    else:
        metrics = (await ctx.client.list("podmetrics", ns, label_selector=args.selector,
                                         field_selector=args.field_selector))["items"]
    if not metrics:
        pods = (await ctx.client.list("pods", ns, label_selector=args.selector,
                                      field_selector=args.field_selector))["items"]
        if pods:
            now = ctx.now()
            for pod in pods:
                _check_pod_age(pod, now)
            raise UsageError("metrics not available yet")
        ctx.warn("No resources found" if args.all_namespaces
                 else f"No resources found in {ns} namespace.")
        return 0
    ctx.print(pod_table(metrics, all_namespaces=args.all_namespaces,
                        containers=args.containers, sort_by=args.sort_by,
                        headers=not args.no_headers, total=args.sum).rstrip("\n"))
    return 0
