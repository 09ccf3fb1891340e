"""`jota-controller-manager`: runs Jota's controllers against an apiserver."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from controlplane.controllers import manager
from jota import log
from jota.client import Client

logger = logging.getLogger("jota-controller-manager")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-controller-manager",
        description="Runs Jota's controllers: namespace, garbage collector, ReplicaSet, "
                    "Deployment and node IPAM.")
    p.add_argument("--apiserver", "--master", dest="apiserver", default="127.0.0.1:6443",
                   help="address of the apiserver(s), comma-separated (default "
                        "127.0.0.1:6443)")
    p.add_argument("--leader-elect", default="true", choices=["true", "false"],
                   help="take the kube-system/jota-controller-manager Lease before running "
                        "controllers, so only one replica acts (default true)")
    p.add_argument("--identity", default="", help="this replica's name in the Lease")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


async def amain(args: argparse.Namespace) -> None:
    client = Client(args.apiserver)
    task = asyncio.create_task(manager.run(client, leader_elect=args.leader_elect == "true",
                                           identity=args.identity))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.close()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
