"""`jota expose KIND NAME --port=80`: a Service selecting the pods of a workload.

The selector, ports and protocols come from the exposed object unless given,
as kubectl's polymorphic helpers find them: a pod's labels, a service's
selector, a Deployment's or ReplicaSet's `spec.selector.matchLabels`.
"""

from __future__ import annotations

import argparse
from typing import Any

from jota.api.meta import Obj, labels_of, name_of
from jota.cli import manifests
from jota.cli.commands import _generators as gen
from jota.cli.commands._common import add_output_flag, add_positionals, one_target
from jota.cli.commands.create import create_one
from jota.cli.context import Context, UsageError, type_of
from jota.cli.flags import add_dry_run_flag, add_filename_flags, add_namespace_flags

EXPOSABLE = ("Pod", "Service", "Deployment", "ReplicaSet")
TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("expose", help="Take a replicated application and expose it as a "
                                      "new Kubernetes service")
    add_positionals(p, "resources", "TYPE NAME | TYPE/NAME")
    add_filename_flags(p, "expose")
    p.add_argument("--port", default="", help="the port the service serves on")
    p.add_argument("--target-port", default="",
                   help="the port (number or name) on the pods traffic goes to")
    p.add_argument("--protocol", default="", help="TCP (default), UDP or SCTP")
    p.add_argument("--name", default="", help="the service's name (default: the object's)")
    p.add_argument("--type", default="", choices=("", *TYPES), help="the service type")
    p.add_argument("--selector", default="", help="k=v,... instead of the object's selector")
    p.add_argument("-l", "--labels", default="", help="labels of the service (k=v,...)")
    p.add_argument("--cluster-ip", default="", help="the ClusterIP, or None for headless")
    p.add_argument("--external-ip", default="", help="an external IP to accept traffic on")
    add_namespace_flags(p, all_namespaces=False)
    add_dry_run_flag(p)
    add_output_flag(p)
    p.set_defaults(run=run, save_config=False)


def _template_containers(obj: Obj) -> list[Any]:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind != "Pod":
        spec = ((spec.get("template") or {}).get("spec")) or {}
    return list(spec.get("containers") or [])


def selector_for(obj: Obj) -> dict[str, str]:
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        labels = labels_of(obj)
        if not labels:
            raise UsageError("couldn't retrieve selectors via --selector flag or "
                             "introspection: the pod has no labels and cannot be exposed")
        return labels
    if kind == "Service":
        if not spec.get("selector"):
            raise UsageError("couldn't retrieve selectors via --selector flag or "
                             "introspection: the service has no pod selector set")
        return dict(spec["selector"])
    selector = spec.get("selector") or {}
    if selector.get("matchExpressions"):
        raise UsageError("couldn't retrieve selectors via --selector flag or introspection: "
                         f"couldn't convert expressions - \"{selector['matchExpressions']}\", "
                         "to map-based selector format")
    return dict(selector.get("matchLabels") or {})


def ports_for(obj: Obj) -> dict[str, list[str]]:
    """Port (as text) -> protocols, in the order the object lists them."""
    found: dict[str, list[str]] = {}
    if obj.get("kind") == "Service":
        entries = [(p.get("port"), p.get("protocol")) for p in
                   (obj.get("spec") or {}).get("ports") or []]
    else:
        entries = [(p.get("containerPort"), p.get("protocol"))
                   for c in _template_containers(obj) for p in c.get("ports") or []]
    for port, proto in entries:
        if port is None:
            continue
        protos = found.setdefault(str(port), [])
        if (proto or "TCP") not in protos:
            protos.append(proto or "TCP")
    return found


def build(obj: Obj, args: argparse.Namespace, ns: str = "") -> Obj:
    """The Service exposing `obj`, from its own fields and the flags."""
    rt = type_of(obj)
    if rt.kind not in EXPOSABLE:
        shown = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
        raise UsageError(f"cannot expose a {shown}")
    selector = gen.parse_pairs(args.selector) if args.selector else selector_for(obj)
    introspected = ports_for(obj)
    ports = [p.strip() for p in args.port.split(",")] if args.port else list(introspected)
    if not ports and args.cluster_ip != "None":
        raise UsageError("couldn't find port via --port flag or introspection")
    labels = gen.parse_pairs(args.labels) if args.labels else labels_of(obj)
    return gen.exposed_service(args.name or name_of(obj), selector, ports, labels=labels,
                               protocols=introspected, protocol=args.protocol,
                               target_port=args.target_port, type_=args.type,
                               cluster_ip=args.cluster_ip, external_ip=args.external_ip,
                               ns=ns)


async def _sources(ctx: Context, args: argparse.Namespace) -> list[Obj]:
    if args.filename:
        return [m.doc for m in manifests.read(args.filename, args.recursive, verb="expose")]
    if not args.resources:
        raise UsageError("You must provide one or more resources by argument or filename.")
    rt, name = one_target(args.resources, "expose")
    return [await ctx.client.get(rt.plural, name, ctx.ns_for(rt))]


async def run(ctx: Context, args: argparse.Namespace) -> int:
    ns = ctx.namespace if ctx.explicit_namespace else ""
    for obj in await _sources(ctx, args):
        await create_one(ctx, build(obj, args, ns), args, verb="exposed")
    return 0
