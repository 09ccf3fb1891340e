"""`jota-scheduler`: assigns pending pods to nodes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from controlplane.scheduler import scheduler
from controlplane.scheduler.config import ConfigError, SchedulerConfig, load_config
from jota import log
from jota.client import Client, kubeconfig, leaderelection
from jota.metrics import metrics_bind_address, start_metrics_server

logger = logging.getLogger("jota-scheduler")

# kube-scheduler's port (--secure-port 10259), served here as plain HTTP.
DEFAULT_METRICS_BIND_ADDRESS = "127.0.0.1:10259"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-scheduler",
        description="Watches pods without a node and binds each to the best node that "
                    "fits it, as kube-scheduler does.")
    p.add_argument("--apiserver", "--master", dest="apiserver", default="127.0.0.1:6443",
                   help="address of the apiserver(s), comma-separated (default "
                        "127.0.0.1:6443)")
    kubeconfig.add_flag(p)
    p.add_argument("--config", default="",
                   help="a KubeSchedulerConfiguration YAML file: profiles, enabled plugins, "
                        "score weights, NodeResourcesFit scoringStrategy (default: "
                        "Kubernetes' defaults)")
    p.add_argument("--leader-elect", default="true", choices=["true", "false"],
                   help="take the kube-system/kube-scheduler Lease before scheduling, so "
                        "only one replica acts (default true)")
    leaderelection.add_flags(p)
    p.add_argument("--identity", default="", help="this replica's name in the Lease")
    p.add_argument("--metrics-bind-address", type=metrics_bind_address,
                   default=DEFAULT_METRICS_BIND_ADDRESS,
                   help="HOST:PORT to serve Prometheus /metrics and /healthz on over plain "
                        f"HTTP; port 0 turns it off (default {DEFAULT_METRICS_BIND_ADDRESS})")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


async def amain(args: argparse.Namespace, config: SchedulerConfig) -> None:
    try:
        metrics = await start_metrics_server(args.metrics_bind_address)
    except OSError as e:
        logger.error("%s", e)
        sys.exit(1)
    server, credentials = kubeconfig.connect_args(args.apiserver, args.kubeconfig)
    client = Client(server, credentials=credentials)
    timing = leaderelection.timing_of(args)
    task = asyncio.create_task(scheduler.run(client, config,
                                             leader_elect=args.leader_elect == "true",
                                             identity=args.identity,
                                             timing=timing))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.close()
    if metrics is not None:
        await metrics.stop()


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        leaderelection.timing_of(args)
    except ValueError as e:
        parser.error(str(e))
    log.setup(args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    asyncio.run(amain(args, config))


if __name__ == "__main__":
    main()
