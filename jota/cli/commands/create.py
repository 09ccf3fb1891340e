"""`jota create -f FILE` and `jota create KIND NAME ...`: make new objects.

Unlike apply, create fails on an object that exists (`AlreadyExists`). The
`create KIND` forms build the object from flags (see `_generators`), so
`--dry-run=client -o yaml` is the quickest way to start a manifest.
"""

from __future__ import annotations

import argparse
import copy

from jota.api import errors
from jota.api.apply import annotate_last_applied
from jota.api.meta import Obj
from jota.cli import manifests
from jota.cli.commands import _generators as gen
from jota.cli.commands._common import add_output_flag, add_positionals, emit
from jota.cli.context import Context, UsageError, report_error, type_of
from jota.cli.flags import add_dry_run_flag, add_filename_flags, add_namespace_flags


def _common_flags(p: argparse.ArgumentParser) -> None:
    add_namespace_flags(p, all_namespaces=False)
    add_dry_run_flag(p)
    add_output_flag(p)
    p.add_argument("--save-config", action="store_true",
                   help="record the object in its last-applied-configuration annotation")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("create", help="Create a resource from a file or from stdin")
    add_filename_flags(p, "create")
    _common_flags(p)
    p.set_defaults(run=run)
    kinds = p.add_subparsers(dest="create_kind", metavar="KIND")

    def kind(name: str, help_: str, aliases: list[str] | None = None) -> argparse.ArgumentParser:
        k = kinds.add_parser(name, help=help_, aliases=aliases or [])
        _common_flags(k)
        k.add_argument("name", metavar="NAME")
        return k

    kind("namespace", "Create a namespace with the specified name", ["ns"]
         ).set_defaults(build=_namespace)
    kind("serviceaccount", "Create a service account with the specified name", ["sa"]
         ).set_defaults(build=_service_account)
    cm = kind("configmap", "Create a config map from a local file, directory or literal value",
              ["cm"])
    _data_flags(cm)
    cm.set_defaults(build=_configmap)

    secret = kinds.add_parser("secret", help="Create a secret")
    secret_kinds = secret.add_subparsers(dest="secret_kind", metavar="TYPE", required=True)
    generic = secret_kinds.add_parser("generic", help="Create a secret from a local file, "
                                                      "directory, or literal value")
    _common_flags(generic)
    generic.add_argument("name", metavar="NAME")
    _data_flags(generic)
    generic.add_argument("--type", default="", help="the type of secret to create")
    generic.set_defaults(build=_secret_generic)
    tls = secret_kinds.add_parser("tls", help="Create a TLS secret")
    _common_flags(tls)
    tls.add_argument("name", metavar="NAME")
    tls.add_argument("--cert", required=True, help="path to the PEM encoded public key")
    tls.add_argument("--key", required=True, help="path to the PEM encoded private key")
    tls.set_defaults(build=_secret_tls)

    deploy = kind("deployment", "Create a deployment with the specified name", ["deploy"])
    deploy.add_argument("--image", action="append", default=[], help="image name (repeatable)")
    deploy.add_argument("--replicas", type=int, default=1, help="number of replicas")
    deploy.add_argument("--port", type=int, default=-1, help="the port the container exposes")
    add_positionals(deploy, "deploy_command", "-- [COMMAND] [args...]")
    deploy.set_defaults(build=_deployment)

    svc = kinds.add_parser("service", aliases=["svc"], help="Create a service")
    svc_kinds = svc.add_subparsers(dest="service_kind", metavar="TYPE", required=True)
    for type_ in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        s = svc_kinds.add_parser(type_.lower(), help=f"Create a {type_} service")
        _common_flags(s)
        s.add_argument("name", metavar="NAME")
        s.add_argument("--tcp", action="append", default=[],
                       help="port pairs, <port>:<targetPort> (repeatable)")
        s.add_argument("--clusterip", default="", help="the ClusterIP, or None for headless")
        s.add_argument("--node-port", type=int, default=0, help="the port on every node")
        s.add_argument("--external-name", default="", help="the external DNS name")
        s.set_defaults(build=_service, service_type=type_)


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-literal", action="append", default=[], help="key=value (repeatable)")
    p.add_argument("--from-file", action="append", default=[],
                   help="[key=]path of a file, or a directory of files (repeatable)")
    p.add_argument("--from-env-file", action="append", default=[],
                   help="a file of KEY=VALUE lines (repeatable)")


def _ns(ctx: Context) -> str:
    """kubectl writes the namespace into a built object only when -n was given."""
    return ctx.namespace if ctx.explicit_namespace else ""


def _namespace(ctx: Context, args: argparse.Namespace) -> Obj:
    return gen.namespace(args.name)


def _service_account(ctx: Context, args: argparse.Namespace) -> Obj:
    return gen.service_account(args.name, _ns(ctx))


def _configmap(ctx: Context, args: argparse.Namespace) -> Obj:
    pairs = gen.read_sources(args.from_literal, args.from_file, args.from_env_file)
    return gen.configmap(args.name, pairs, _ns(ctx))


def _secret_generic(ctx: Context, args: argparse.Namespace) -> Obj:
    pairs = gen.read_sources(args.from_literal, args.from_file, args.from_env_file)
    return gen.secret(args.name, pairs, args.type, _ns(ctx))


def _secret_tls(ctx: Context, args: argparse.Namespace) -> Obj:
    pairs = gen.read_sources([], [f"tls.crt={args.cert}", f"tls.key={args.key}"])
    return gen.secret(args.name, pairs, "kubernetes.io/tls", _ns(ctx))


def _deployment(ctx: Context, args: argparse.Namespace) -> Obj:
    if not args.image:
        raise UsageError("required flag(s) \"image\" not set")
    if args.replicas < 0:
        raise UsageError("--replicas must be greater than or equal to 0")
    return gen.deployment(args.name, args.image, replicas=args.replicas, port=args.port,
                          command=args.deploy_command, ns=_ns(ctx))


def _service(ctx: Context, args: argparse.Namespace) -> Obj:
    if args.service_type == "ExternalName" and not args.external_name:
        raise UsageError("external name must be specified")
    return gen.create_service(args.name, args.service_type, args.tcp,
                              cluster_ip=args.clusterip, node_port=args.node_port,
                              external_name=args.external_name, ns=_ns(ctx))


async def create_one(ctx: Context, obj: Obj, args: argparse.Namespace, source: str = "",
                     verb: str = "created") -> None:
    """Send (or, with --dry-run=client, only print) one new object, and say so."""
    rt = type_of(obj)
    if args.save_config:
        obj = annotate_last_applied(obj)
    if args.dry_run == "client":
        emit(ctx, rt, obj, args.output, verb, args.dry_run)
        return
    ns = ctx.ns_of_manifest(rt, obj)
    try:
        result = await ctx.client.create(rt.plural, obj, ns, dry_run=args.dry_run == "server")
    except errors.APIError as e:
        if source:
            raise _when_creating(e, source) from None
        raise
    emit(ctx, rt, result, args.output, verb, args.dry_run)


def _when_creating(e: errors.APIError, source: str) -> errors.APIError:
    """kubectl's `error when creating "web.yaml": ...` around a server error."""
    wrapped = copy.copy(e)
    wrapped.message = f'error when creating "{source}": {e.message}'
    wrapped.args = (wrapped.message,)
    return wrapped


async def run(ctx: Context, args: argparse.Namespace) -> int:
    build = getattr(args, "build", None)
    if build is not None:
        await create_one(ctx, build(ctx, args), args)
        return 0
    if not args.filename:
        raise UsageError("must specify one of -f and -k")
    failed = False
    for m in manifests.read(args.filename, args.recursive, verb="create"):
        try:
            await create_one(ctx, m.doc, args, m.source)
        except (errors.APIError, UsageError) as e:
            failed = True
            report_error(e)
    return 1 if failed else 0
