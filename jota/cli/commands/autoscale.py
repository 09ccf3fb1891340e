"""`jota autoscale deploy/web --min=1 --max=5 --cpu-percent=50`: a HorizontalPodAutoscaler
for a Deployment, ReplicaSet or StatefulSet, as kubectl's.

The autoscaler is autoscaling/v2, its CPU target a Resource metric of type
Utilization; it is named after its target unless `--name` says otherwise. The
HPA controller (in the controller-manager) does the scaling; this only writes the
object. `build_hpa` is pure.
"""

from __future__ import annotations

import argparse

from jota.api import names
from jota.api.meta import Obj, name_of
from jota.api.registry import ResourceType
from jota.cli.commands._common import add_output_flag, add_positionals, find_targets
from jota.cli.commands.create import create_one
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_dry_run_flag, add_filename_flags, add_namespace_flags

SCALABLE = ("deployments", "replicasets", "statefulsets")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("autoscale", help="Auto-scale a deployment, replica set, or stateful "
                                         "set")
    add_positionals(p, "resources", "TYPE NAME | TYPE/NAME")
    add_filename_flags(p, "autoscale")
    p.add_argument("--min", type=int, default=-1,
                   help="the lower limit of pods (default: the server's, 1)")
    p.add_argument("--max", type=int, default=-1, help="the upper limit of pods (required)")
    p.add_argument("--cpu-percent", type=int, default=-1,
                   help="the target average CPU utilization over all pods, as a percentage "
                        "of their request (default: the server's, 80%%)")
    p.add_argument("--name", default="", help="the autoscaler's name (default: the target's)")
    add_namespace_flags(p, all_namespaces=False)
    add_dry_run_flag(p)
    add_output_flag(p)
    p.set_defaults(run=run, save_config=False)


def validate_flags(minimum: int, maximum: int) -> None:
    """kubectl's AutoscaleOptions.Validate, in its words."""
    if maximum < 1:
        raise UsageError(f"--max=MAXPODS is required and must be at least 1, max: {maximum}")
    if maximum < minimum:
        raise UsageError(f"--max=MAXPODS must be larger or equal to --min=MINPODS, max: "
                         f"{maximum}, min: {minimum}")


def check_scalable(rt: ResourceType) -> None:
    if rt.plural not in SCALABLE:
        gvr = f"{rt.group}/{rt.version}, Resource={rt.plural}"
        raise UsageError(f"cannot autoscale a {rt.kind}: could not find scale subresource "
                         f"for {gvr} in discovery information")


def build_hpa(target: Obj, rt: ResourceType, *, name: str = "", minimum: int = -1,
              maximum: int, cpu_percent: int = -1) -> Obj:
    """The autoscaling/v2 HorizontalPodAutoscaler of `target`."""
    hpa_name = name or name_of(target)
    problems = names.is_dns1123_subdomain(hpa_name)
    if problems:
        raise UsageError(f'invalid name "{hpa_name}": {problems[0]}')
    spec: Obj = {"scaleTargetRef": {"apiVersion": rt.api_version, "kind": rt.kind,
                                    "name": name_of(target)},
                 "maxReplicas": maximum}
    if minimum > 0:
        spec["minReplicas"] = minimum
    if cpu_percent >= 0:
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization",
                                      "averageUtilization": cpu_percent}}}]
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": hpa_name}, "spec": spec}


async def run(ctx: Context, args: argparse.Namespace) -> int:
    validate_flags(args.min, args.max)
    targets = await find_targets(ctx, args.resources, filenames=args.filename,
                                 recursive=args.recursive, verb="autoscale")
    for t in targets:
        check_scalable(t.rt)
        obj = t.obj or await ctx.client.get(t.rt.plural, t.name, t.namespace)
        hpa = build_hpa(obj, t.rt, name=args.name, minimum=args.min, maximum=args.max,
                        cpu_percent=args.cpu_percent)
        hpa["metadata"]["namespace"] = t.namespace
        await create_one(ctx, hpa, args, verb="autoscaled")
    return 0
