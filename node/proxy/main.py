"""`jota-proxy`: Jota's kube-proxy, programming this node's iptables for Services."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket

from jota import daemon, log
from jota.client import Client, kubeconfig
from node.netpol.apply import PolicyIptables
from node.netpol.controller import PolicyController
from node.proxy.apply import Iptables
from node.proxy.proxy import Proxy, ProxyConfig

logger = logging.getLogger("jota-proxy")


def duration(text: str) -> float:
    """Go-style durations as kube-proxy takes them: `1s`, `500ms`, `1m`, or plain seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            number = text[: -len(suffix)]
            try:
                return float(number) * units[suffix]
            except ValueError:
                break
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-proxy",
        description="Programs this node's iptables so Service IPs and NodePorts reach "
                    "ready endpoints (kube-proxy's iptables mode).")
    kubeconfig.add_flags(p)
    p.add_argument("--node-name", default=socket.gethostname(),
                   help="this node's name, to tell local endpoints (default: the hostname)")
    p.add_argument("--node-ip", default="", help="this node's IPs, comma-separated")
    p.add_argument("--cluster-cidr", default="",
                   help="the pod CIDR of the cluster; traffic to Services from outside it "
                        "is masqueraded")
    p.add_argument("--masquerade-all", action="store_true",
                   help="SNAT all traffic sent via Service cluster IPs")
    p.add_argument("--min-sync-period", type=duration, default=1.0,
                   help="minimum interval between rule syncs (default 1s)")
    p.add_argument("--sync-period", type=duration, default=30.0,
                   help="maximum interval between full rule syncs (default 30s)")
    p.add_argument("--network-policy", action=argparse.BooleanOptionalAction, default=True,
                   help="also enforce NetworkPolicies on this node's pods, as kube-router's "
                        "firewall next to its proxy (default: on)")
    p.add_argument("--cleanup", action="store_true",
                   help="remove every rule and chain the proxy made, then exit")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


async def amain(args: argparse.Namespace) -> None:
    iptables, firewall = Iptables(), PolicyIptables()
    if args.cleanup:
        await asyncio.to_thread(iptables.cleanup)
        await asyncio.to_thread(firewall.cleanup)
        logger.info("removed the proxy's iptables rules")
        return
    config = ProxyConfig(node_name=args.node_name,
                         node_ips=[s for s in args.node_ip.split(",") if s],
                         cluster_cidr=args.cluster_cidr, masquerade_all=args.masquerade_all,
                         min_sync_period=args.min_sync_period, sync_period=args.sync_period)
    server, credentials = kubeconfig.connect_args(args.apiserver, args.kubeconfig)
    client = Client(server, credentials=credentials)
    proxy = Proxy(client, config, iptables)
    policies = (PolicyController(client, args.node_name, firewall,
                                 min_sync_period=args.min_sync_period,
                                 sync_period=args.sync_period)
                if args.network_policy else None)
    # One task for both loops: either failing, or a signal, stops the other too.
    task = asyncio.create_task(_run_all(proxy, policies), name="proxy")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if policies is not None:
            await policies.cleanup()
        await proxy.cleanup()
        await client.close()


async def _run_all(proxy: Proxy, policies: PolicyController | None) -> None:
    async with asyncio.TaskGroup() as group:
        group.create_task(proxy.run(), name="services")
        if policies is not None:
            group.create_task(policies.run(), name="network-policies")


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    daemon.run(amain(args), logger)


if __name__ == "__main__":
    main()
