"""`jota-apiserver`: the API server (flags in kube-apiserver's spirit)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
from pathlib import Path

from controlplane.apiserver.allocators import PortRange
from controlplane.apiserver.server import APIServer, Config
from controlplane.storage import encryption
from jota import log

logger = logging.getLogger("jota-apiserver")


def parse_duration(text: str) -> float:
    """`300`, `300s`, `5m`, `1h` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use e.g. 30s, 5m, 1h") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-apiserver",
        description="Serves the Jota API over gRPC, storing every object in etcd.")
    p.add_argument("--etcd-servers", required=True,
                   help="comma-separated etcd client URLs, e.g. http://127.0.0.1:2379")
    p.add_argument("--listen", default="127.0.0.1:6443",
                   help="address:port to serve gRPC on (default 127.0.0.1:6443)")
    p.add_argument("--etcd-compaction-interval", type=parse_duration, default=300.0,
                   help="how often to compact etcd history, e.g. 5m (default 5m; 0 = never)")
    p.add_argument("--watch-bookmark-interval", type=parse_duration, default=30.0,
                   help="how often watchers that allow bookmarks get one (default 30s)")
    p.add_argument("--service-cluster-ip-range", type=_cidr, default="10.96.0.0/12",
                   help="CIDR Service clusterIPs are allocated from (default 10.96.0.0/12)")
    p.add_argument("--service-node-port-range", type=_port_range, default="30000-32767",
                   help="ports NodePort Services are allocated from (default 30000-32767)")
    p.add_argument("--load-balancer-ip-range", type=_cidr, default="172.30.255.0/24",
                   help="pool LoadBalancer Services get an address from, as MetalLB's "
                        "layer 2 mode (default 172.30.255.0/24)")
    p.add_argument("--encryption-provider-config", type=Path, default=None, metavar="FILE",
                   help="an EncryptionConfiguration (apiserver.config.k8s.io/v1) saying which "
                        "resources are encrypted in etcd, and with which keys (aesgcm, aescbc, "
                        "identity), as kube-apiserver's flag of the same name")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"], help="log level")
    return p


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid CIDR {text!r}: use e.g. 10.96.0.0/12"
                                         ) from None


def _port_range(text: str) -> str:
    try:
        return PortRange.parse(text).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def run(config: Config) -> None:
    server = APIServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("shutting down")
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    if not _is_loopback(args.listen):
        logger.warning("serving plaintext gRPC without authentication on a non-loopback "
                       "address; use only for development",
                       extra={"listen": args.listen})
    try:
        transformers = (encryption.load(args.encryption_provider_config)
                        if args.encryption_provider_config else None)
    except encryption.ConfigError as e:
        logger.error("%s", e)
        sys.exit(1)
    config = Config(
        encryption=transformers,
        etcd_servers=[s for s in args.etcd_servers.split(",") if s],
        listen=args.listen,
        compaction_interval=args.etcd_compaction_interval or 10**9,
        bookmark_interval=args.watch_bookmark_interval,
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=args.service_node_port_range,
        load_balancer_ip_range=args.load_balancer_ip_range,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(config))
    except OSError as e:
        logger.error("%s", e)
        sys.exit(1)


if __name__ == "__main__":
    main()
