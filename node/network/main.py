"""`jota-routes`: the host-gw routes to every node's pod CIDR, on a machine with no node
agent.

jota-node keeps these routes on every node (RouteSync, node/network/routes.py); a
machine that is no node, as deploy/'s control plane, needs them too when it talks to
pods straight by their IPs: jota-ingress's nginx proxies to the ready pods, as it does
on the host of `jota local up`, whose routes come from jota/local/netns.py. This runs
the very same RouteSync, alone: it watches the Nodes and keeps one route per node's
pod CIDR via its InternalIP, whether the CIDR came from the node's --pod-cidr or from
the controller-manager's node IPAM, as nodes join and go.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from jota import daemon, log
from jota.client import Client, kubeconfig
from node.network.routes import RouteSync

logger = logging.getLogger("jota-routes")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-routes",
        description="Keeps a route to every node's pod CIDR via the node's InternalIP "
                    "(host-gw, as jota-node does), on a machine that runs no jota-node.")
    kubeconfig.add_flags(p)
    p.add_argument("--node-name", default="",
                   help="this machine's Node when it is one (its own pod CIDR gets no "
                        "route); default none: a route to every node's pods")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


async def amain(args: argparse.Namespace) -> None:
    server, credentials = kubeconfig.connect_args(args.apiserver, args.kubeconfig)
    client = Client(server, credentials=credentials)
    task = asyncio.create_task(RouteSync(client, args.node_name).run(), name="routes")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    logger.info("keeping the routes to the nodes' pod CIDRs")
    try:
        # The routes stay when this stops, as jota-node's: a restart breaks no connection.
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    daemon.run(amain(args), logger)


if __name__ == "__main__":
    main()
