"""`jota local up|down|status|logs|stop-node|start-node|load-image|stop-component|
start-component|restart|backup|restore`: a cluster on this machine, for trying Jota out
and for the end-to-end tests."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from jota.api import errors
from jota.api.meta import Obj
from jota.api.registry import by_kind
from jota.cli import config, printers
from jota.cli.context import Context, UsageError
from jota.client.client import Client
from jota.local import cluster, drills, topology
from jota.local.controlplane import admin_credentials
from jota.local.nodes import load_images, node_rows, start_node, stop_node
from jota.local.state import CONTEXT, load_state, read_state

READY_TIMEOUT = 90.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("local", help="Run a Jota cluster on this machine")
    verbs = p.add_subparsers(dest="local_verb", metavar="VERB", required=True)
    up = verbs.add_parser(
        "up", help="start a local cluster and make it the current context",
        description="Start etcd, the control plane and the nodes on this machine. With "
                    "--nodes N > 1 each node jota-worker-I is a network namespace with its "
                    "own address (172.31.0.(10+I)), Docker engine and pod CIDR "
                    "(10.244.I.0/24); this needs root.")
    up.add_argument("--nodes", type=int, default=1,
                    help="how many nodes (default 1: one node on this machine's Docker engine)")
    up.add_argument("--etcd-members", type=int, default=1, metavar="1|3",
                    help="etcd members (default 1); 3 make a real etcd cluster, which "
                         "keeps working with one member down")
    up.add_argument("--control-planes", type=int, default=1, metavar="1|2",
                    help="apiservers, controller-managers and schedulers (default 1); with "
                         "2 the controller-managers and schedulers elect a leader and every "
                         "client fails over between the apiservers")
    up.add_argument("--prometheus", action="store_true",
                    help="also run Prometheus (this machine's `prometheus` binary) on "
                         "127.0.0.1:9090 with deploy/prometheus/prometheus.yml, scraping "
                         "every component; `jota local down` stops it")
    up.set_defaults(run=run_up)
    verbs.add_parser("down", help="stop the local cluster and remove everything it made"
                     ).set_defaults(run=run_down)
    verbs.add_parser("status", help="show the local cluster's components and nodes"
                     ).set_defaults(run=run_status)
    logs = verbs.add_parser("logs", help="print a component's log")
    logs.add_argument("component", help="etcd, apiserver, controller-manager, node/NAME, "
                                         "dockerd/NAME (etcd-2, apiserver-1, ... with "
                                         "several)")
    logs.set_defaults(run=run_logs)
    stop_c = verbs.add_parser(
        "stop-component", help="stop one component of the cluster (etcd-2, apiserver-1, "
                               "controller-manager, dns, ...), or --kill it",
        description="Stop one component, as `jota local stop-node` stops a node: SIGTERM, "
                    "or with --kill SIGKILL, as a crash (a leader keeps its Lease until it "
                    "expires). `jota local start-component` starts it again.")
    stop_c.add_argument("component", help="a name `jota local status` lists")
    stop_c.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    stop_c.set_defaults(run=run_stop_component)
    start_c = verbs.add_parser("start-component",
                               help="start a stopped component again with its flags and data")
    start_c.add_argument("component")
    start_c.set_defaults(run=run_start_component)
    verbs.add_parser(
        "restart", help="stop every etcd member and control-plane process, then start them "
                        "again (the nodes keep running)").set_defaults(run=run_restart)
    save = verbs.add_parser("backup", help="save a snapshot of the cluster's etcd to FILE",
                            description="etcdctl snapshot save from a running member: the "
                                        "whole cluster state in one file.")
    save.add_argument("file", type=Path, metavar="FILE")
    save.set_defaults(run=run_backup)
    restore = verbs.add_parser(
        "restore", help="replace the cluster's state with a snapshot from `jota local backup`",
        description="Stops the apiservers and every etcd member, restores each member's "
                    "data from FILE (the old data is kept beside it), starts them again and "
                    "restarts everything that watches the apiserver.")
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.set_defaults(run=run_restore)
    stop = verbs.add_parser("stop-node", help="power a node off (its agent and Docker engine "
                                              "stop), or --cut its network link")
    stop.add_argument("node", help="the node's name, e.g. jota-worker-2")
    stop.add_argument("--cut", action="store_true",
                      help="keep it running but unreachable, as a network partition")
    stop.set_defaults(run=run_stop_node)
    start = verbs.add_parser("start-node", help="bring a stopped or cut-off node back")
    start.add_argument("node")
    start.set_defaults(run=run_start_node)
    load = verbs.add_parser("load-image", help="copy images from this machine's Docker engine "
                                               "(DOCKER_HOST, else the default socket) into "
                                               "every node's engine")
    load.add_argument("images", nargs="+", metavar="IMAGE")
    load.set_defaults(run=run_load_image)


class _Steps:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.n = 0

    def __call__(self, message: str) -> None:
        self.n += 1
        self.ctx.print(f" [{self.n}] {message} ...")


async def run_up(ctx: Context, args: argparse.Namespace) -> int:
    if args.nodes < 1:
        raise UsageError(f"--nodes must be at least 1, not {args.nodes}")
    try:
        topology.check(args.etcd_members, args.control_planes)
    except ValueError as e:
        raise UsageError(str(e)) from None
    progress = _Steps(ctx)
    try:
        address = await asyncio.to_thread(cluster.up, progress, args.nodes,
                                          args.prometheus, args.etcd_members,
                                          args.control_planes)
        names = [r.name for r in node_rows()]
        progress(f"Waiting for the node(s) to be Ready: {', '.join(names)}")
        nodes = await wait_nodes_ready(address, names, READY_TIMEOUT)
    except (RuntimeError, OSError, TimeoutError, ValueError) as e:
        # FileNotFoundError (a missing binary) is an OSError too.
        if read_state().components:
            progress("Start failed: removing what was made")
            await asyncio.to_thread(cluster.down, lambda _m: None)
        raise UsageError(str(e)) from None
    config.set_context(CONTEXT, server=address, namespace="default", use=True,
                       credentials=admin_credentials())
    ctx.print(f"\nThe local cluster is up: apiserver{'s' if ',' in address else ''} at "
              f"{address}, context "
              f"\"{CONTEXT}\" written to {config.config_path()}.")
    prom = read_state().component("prometheus")
    if prom is not None:
        ctx.print(f"Prometheus is at http://{prom.address} (dashboard for Grafana: "
                  f"deploy/grafana/jota.json).")
    ctx.print()  # the nodes, as `jota get nodes -o wide` shows them now
    ctx.print(printers.print_table(by_kind("Node"), nodes, now=datetime.now(UTC), wide=True))
    ctx.print("\nTry:\n  jota get nodes -o wide\n  jota apply -f examples/\n  jota get all")
    return 0


def not_ready(nodes: list[Obj], names: list[str]) -> list[str]:
    """Which of `names` have no Node yet, or one whose Ready condition is not True."""
    ready = {n["metadata"]["name"] for n in nodes
             if any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (n.get("status") or {}).get("conditions") or [])}
    return [name for name in names if name not in ready]


async def wait_nodes_ready(address: str, names: list[str], timeout: float) -> list[Obj]:
    """The Nodes `names`, once every one is Ready."""
    client = Client(address, credentials=admin_credentials().channel())
    deadline = time.monotonic() + timeout
    waiting = list(names)
    try:
        while time.monotonic() < deadline:
            nodes: list[Obj] = []
            with contextlib.suppress(errors.APIError):
                nodes = (await client.list("nodes")).get("items") or []
                waiting = not_ready(nodes, names)
            if not waiting:
                return [n for n in nodes if n["metadata"]["name"] in names]
            dead = [c.name for c in load_state() if not c.alive]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited (see `jota local logs "
                                   f"{dead[0]}`)")
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    raise TimeoutError(f"node(s) not Ready after {timeout:.0f}s: {', '.join(waiting)} "
                       f"(see `jota local logs node/{waiting[0]}`)")


async def run_down(ctx: Context, args: argparse.Namespace) -> int:
    left = await asyncio.to_thread(cluster.down, lambda m: ctx.print(f" {m} ..."))
    if left:
        for item in left:
            ctx.warn(f"warning: left on this machine: {item}")
        return 1
    ctx.print("The local cluster is down.")
    return 0


def _table(ctx: Context, rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        ctx.print("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


async def run_status(ctx: Context, args: argparse.Namespace) -> int:
    components = load_state()
    if not components:
        ctx.print("No local cluster is running.")
        return 1
    _table(ctx, [("COMPONENT", "STATUS", "PID", "ADDRESS")] + [
        (c.name, "Running" if c.alive else "Stopped", str(c.pid), c.address or "-")
        for c in components])
    nodes = node_rows()
    if nodes:
        ctx.print()
        _table(ctx, [("NODE", "STATUS", "ADDRESS", "POD CIDR", "ENGINE")] + [
            (n.name, n.status, n.address, n.pod_cidr, n.engine) for n in nodes])
    return 0 if all(c.alive for c in components) else 1


async def run_logs(ctx: Context, args: argparse.Namespace) -> int:
    for c in load_state():
        if c.name == args.component or c.name == f"node/{args.component}":
            ctx.print(Path(c.log).read_text(errors="replace").rstrip("\n"))
            return 0
    names = ", ".join(c.name for c in load_state()) or "none running"
    raise UsageError(f'no component "{args.component}" in the local cluster ({names})')


async def run_stop_node(ctx: Context, args: argparse.Namespace) -> int:
    try:
        await asyncio.to_thread(stop_node, args.node, _Steps(ctx), args.cut)
    except (RuntimeError, OSError) as e:
        raise UsageError(str(e)) from None
    ctx.print(f"node/{args.node} {'cut off' if args.cut else 'stopped'}")
    return 0


async def run_start_node(ctx: Context, args: argparse.Namespace) -> int:
    try:
        await asyncio.to_thread(start_node, args.node, _Steps(ctx))
    except (RuntimeError, OSError, TimeoutError) as e:
        raise UsageError(str(e)) from None
    ctx.print(f"node/{args.node} started")
    return 0


async def run_load_image(ctx: Context, args: argparse.Namespace) -> int:
    try:
        await asyncio.to_thread(load_images, args.images, _Steps(ctx))
    except (RuntimeError, OSError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    return 0


async def run_stop_component(ctx: Context, args: argparse.Namespace) -> int:
    try:
        await asyncio.to_thread(drills.stop_component, args.component, _Steps(ctx),
                                args.kill)
    except (RuntimeError, OSError) as e:
        raise UsageError(str(e)) from None
    ctx.print(f"{args.component} {'killed' if args.kill else 'stopped'}")
    return 0


async def run_start_component(ctx: Context, args: argparse.Namespace) -> int:
    try:
        await asyncio.to_thread(drills.start_component, args.component, _Steps(ctx))
    except (RuntimeError, OSError, TimeoutError) as e:
        raise UsageError(str(e)) from None
    ctx.print(f"{args.component} started")
    return 0


async def run_restart(ctx: Context, args: argparse.Namespace) -> int:
    try:
        await asyncio.to_thread(drills.restart, _Steps(ctx))
    except (RuntimeError, OSError, TimeoutError) as e:
        raise UsageError(str(e)) from None
    ctx.print("The local cluster's control plane is restarted.")
    return 0


async def run_backup(ctx: Context, args: argparse.Namespace) -> int:
    try:
        snap = await asyncio.to_thread(drills.backup_etcd, args.file, _Steps(ctx))
    except (RuntimeError, OSError) as e:
        raise UsageError(str(e)) from None
    ctx.print(f"Snapshot saved to {snap.path}: revision {snap.revision}, {snap.keys} keys, "
              f"{snap.size} bytes")
    return 0


async def run_restore(ctx: Context, args: argparse.Namespace) -> int:
    progress = _Steps(ctx)
    try:
        snap = await asyncio.to_thread(drills.restore_etcd, args.file, progress)
        names = [r.name for r in node_rows()]
        progress(f"Waiting for the node(s) to be Ready: {', '.join(names)}")
        await wait_nodes_ready(read_state().apiservers(), names, READY_TIMEOUT)
    except (RuntimeError, OSError, TimeoutError) as e:
        raise UsageError(str(e)) from None
    ctx.print(f"Restored {snap.path} (revision {snap.revision}, {snap.keys} keys).")
    return 0
