"""`jota-apiserver`: the API server (flags in kube-apiserver's spirit)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import ssl
import sys
from pathlib import Path

from controlplane.apiserver.allocators import PortRange
from controlplane.apiserver.server import APIServer, Config, ServerTLS
from controlplane.storage import encryption
from jota import log
from jota.metrics import metrics_bind_address, start_metrics_server

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
    p.add_argument("--advertise-address", type=_ip, default="",
                   help="the address this apiserver is reached at, listed in the endpoints "
                        "of the default/kubernetes Service (default: the --listen host, or "
                        "the address of the default route's interface)")
    p.add_argument("--service-cluster-ip-range", type=_cidr, default="10.96.0.0/12",
                   help="CIDR Service clusterIPs are allocated from (default 10.96.0.0/12)")
    p.add_argument("--service-node-port-range", type=_port_range, default="30000-32767",
                   help="ports NodePort Services are allocated from (default 30000-32767)")
    p.add_argument("--load-balancer-ip-range", type=_cidr, default="172.30.255.0/24",
                   help="pool LoadBalancer Services get an address from, as MetalLB's "
                        "layer 2 mode (default 172.30.255.0/24)")
    p.add_argument("--metrics-bind-address", type=metrics_bind_address,
                   default=DEFAULT_METRICS_BIND_ADDRESS,
                   help="HOST:PORT to serve Prometheus /metrics on over plain HTTP (the gRPC "
                        "port is not HTTP); port 0 turns it off (default "
                        f"{DEFAULT_METRICS_BIND_ADDRESS})")
    tls = p.add_argument_group("TLS (kube-apiserver's flags; without them the apiserver "
                               "serves plaintext and treats every caller as an admin)")
    tls.add_argument("--tls-cert-file", type=Path, default=None, metavar="FILE",
                     help="the apiserver's serving certificate (PEM)")
    tls.add_argument("--tls-private-key-file", type=Path, default=None, metavar="FILE")
    tls.add_argument("--client-ca-file", type=Path, default=None, metavar="FILE",
                     help="CA whose client certificates identify callers (CN user, O groups)")
    tls.add_argument("--kubelet-client-certificate", type=Path, default=None, metavar="FILE",
                     help="the apiserver's client certificate for node agents' streams")
    tls.add_argument("--kubelet-client-key", type=Path, default=None, metavar="FILE")
    tls.add_argument("--bootstrap-listen", default="", metavar="HOST:PORT",
                     help="a second TLS port, asking for no client certificate, where nodes "
                          "join with a bootstrap token (default: none)")
    p.add_argument("--encryption-provider-config", type=Path, default=None, metavar="FILE",
                   help="an EncryptionConfiguration (apiserver.config.k8s.io/v1) saying which "
                        "resources are encrypted in etcd, and with which keys (aesgcm, aescbc, "
                        "identity), as kube-apiserver's flag of the same name")
    p.add_argument("--event-ttl", type=parse_duration, default=3600.0,
                   help="how long an event is kept after it was last recorded, as "
                        "kube-apiserver's flag (default 1h)")
    p.add_argument("--metric-resolution", type=parse_duration, default=15.0,
                   help="how often node agents' /metrics/resource are scraped for the "
                        "metrics.k8s.io API (`jota top`, autoscaling), as metrics-server's "
                        "flag (default 15s; 0 = no metrics API)")
    p.add_argument("--node-metrics-port", type=int, default=10255,
                   help="the node agents' --metrics-port (default 10255)")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"], help="log level")
    return p


# kube-apiserver served /metrics on its insecure port 8080 until 1.20; Jota's API is
# gRPC, so /metrics keeps a plain HTTP port of its own there.
DEFAULT_METRICS_BIND_ADDRESS = "127.0.0.1:8080"


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid CIDR {text!r}: use e.g. 10.96.0.0/12"
                                         ) from None


def _ip(text: str) -> str:
    if not text:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid IP address {text!r}") from None


def _port_range(text: str) -> str:
    try:
        return PortRange.parse(text).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def server_tls(args: argparse.Namespace) -> ServerTLS | None:
    """The TLS flags read, or None when none is given; half a set is an error."""
    required = {"--tls-cert-file": args.tls_cert_file,
                "--tls-private-key-file": args.tls_private_key_file,
                "--client-ca-file": args.client_ca_file}
    given = [flag for flag, value in required.items() if value is not None]
    if not given:
        return None
    missing = [flag for flag in required if flag not in given]
    if missing:
        raise ValueError(f"{', '.join(given)} needs {', '.join(missing)} as well")
    if bool(args.kubelet_client_certificate) != bool(args.kubelet_client_key):
        raise ValueError("--kubelet-client-certificate and --kubelet-client-key go together")

    def read(path: Path | None) -> bytes:
        if path is None:
            return b""
        try:
            return path.read_bytes()
        except OSError as e:
            raise ValueError(f"{e.strerror}: {path}") from None

    return ServerTLS(read(args.tls_cert_file), read(args.tls_private_key_file),
                     read(args.client_ca_file), read(args.kubelet_client_certificate),
                     read(args.kubelet_client_key), args.bootstrap_listen)


def node_metrics_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """On a TLS cluster the agents' metrics port is HTTPS: the metrics API scrapes it
    with the apiserver's kubelet client certificate, trusting the cluster CA."""
    if args.tls_cert_file is None or args.kubelet_client_certificate is None:
        return None
    context = ssl.create_default_context(cafile=str(args.client_ca_file))
    context.load_cert_chain(str(args.kubelet_client_certificate),
                            str(args.kubelet_client_key))
    return context


def _is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def run(config: Config, metrics_address: str = "") -> None:
    server = APIServer(config)
    await server.start()
    metrics = await start_metrics_server(metrics_address) if metrics_address else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("shutting down")
    if metrics is not None:
        await metrics.stop()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    if args.tls_cert_file is None:
        if not _is_loopback(args.listen):
            logger.error("--listen %s: without --tls-cert-file the apiserver serves "
                         "plaintext, to loopback addresses only", args.listen)
            sys.exit(1)
        logger.warning("serving plaintext gRPC, every caller an admin: for development "
                       "and tests only (see --tls-cert-file)", extra={"listen": args.listen})
    try:
        transformers = (encryption.load(args.encryption_provider_config)
                        if args.encryption_provider_config else None)
    except encryption.ConfigError as e:
        logger.error("%s", e)
        sys.exit(1)
    try:
        tls = server_tls(args)
        scrape_tls = node_metrics_tls(args)
    except (OSError, ValueError) as e:
        logger.error("%s", e)
        sys.exit(1)
    config = Config(
        tls=tls,
        encryption=transformers,
        etcd_servers=[s for s in args.etcd_servers.split(",") if s],
        listen=args.listen,
        compaction_interval=args.etcd_compaction_interval or 10**9,
        bookmark_interval=args.watch_bookmark_interval,
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=args.service_node_port_range,
        load_balancer_ip_range=args.load_balancer_ip_range,
        advertise_address=args.advertise_address,
        metric_resolution=args.metric_resolution,
        node_metrics_port=args.node_metrics_port,
        node_metrics_tls=scrape_tls,
        event_ttl=max(1, int(args.event_ttl)),
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(config, args.metrics_bind_address))
    except OSError as e:
        logger.error("%s", e)
        sys.exit(1)


if __name__ == "__main__":
    main()
