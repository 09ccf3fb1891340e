"""`jota-dns`: the cluster DNS, a host process beside the control plane (as k3s embeds
CoreDNS), reached by pods through the `kube-system/kube-dns` Service."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
from pathlib import Path

import dns.exception

from controlplane.dns import service
from controlplane.dns.answers import DEFAULT_TTL, Zone
from controlplane.dns.server import DNSServer, Upstream, resolv_conf_nameservers
from controlplane.dns.sync import IndexSync
from jota import daemon, log
from jota.api import errors
from jota.client import Client, kubeconfig

logger = logging.getLogger("jota-dns")


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    try:
        if not sep or not host:
            raise ValueError
        value = int(port)
        if not 0 <= value <= 65535:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid address {text!r}: want host:port, e.g. 0.0.0.0:53") from None
    return host.strip("[]"), value


def _upstreams(text: str) -> list[Upstream]:
    try:
        return [Upstream.parse(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid upstream {text!r}: want IP[:port], comma-separated") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-dns",
        description="Answers DNS for Services and pods under the cluster domain (the "
                    "Kubernetes DNS spec, as CoreDNS's kubernetes plugin) and forwards "
                    "other names upstream.")
    kubeconfig.add_flags(p)
    p.add_argument("--listen", type=_listen, default=("0.0.0.0", 53),
                   help="address:port to serve UDP and TCP on (default 0.0.0.0:53)")
    p.add_argument("--cluster-domain", default="cluster.local",
                   help="the zone to answer for (default cluster.local)")
    p.add_argument("--ttl", type=int, default=DEFAULT_TTL,
                   help=f"TTL of the answers, seconds (default {DEFAULT_TTL}, CoreDNS's)")
    p.add_argument("--upstream", type=_upstreams, default=None,
                   help="servers for names outside the zone, IP[:port] comma-separated "
                        "(default: the nameservers of --resolv-conf)")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf",
                   help="where the default upstreams are read from")
    p.add_argument("--advertise-address", default="",
                   help="this server's IP as the nodes reach it: when given, the Service "
                        f"{service.NAMESPACE}/{service.NAME} is created if missing and its "
                        "endpoints lead here")
    p.add_argument("--service-ip", default=service.DEFAULT_SERVICE_IP,
                   help=f"ClusterIP of {service.NAME} when it is created "
                        f"(default {service.DEFAULT_SERVICE_IP}, the nodes' --cluster-dns)")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


def default_upstreams(path: str) -> list[Upstream]:
    try:
        text = Path(path).read_text()
    except OSError as e:
        logger.warning("no upstream servers: cannot read %s: %s", path, e)
        return []
    return resolv_conf_nameservers(text)


async def amain(args: argparse.Namespace) -> None:
    if not 0 <= args.ttl <= 3600:
        raise ValueError(f"--ttl: must be between 0 and 3600, got {args.ttl}")
    try:
        zone = Zone.of(args.cluster_domain, args.ttl)
    except dns.exception.DNSException as e:
        raise ValueError(f"--cluster-domain: invalid domain {args.cluster_domain!r}: {e}"
                         ) from None
    for flag, ip in (("--advertise-address", args.advertise_address),
                     ("--service-ip", args.service_ip)):
        if ip or flag == "--service-ip":
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise ValueError(f"{flag}: invalid IP address {ip!r}") from None
    upstreams = args.upstream if args.upstream is not None \
        else default_upstreams(args.resolv_conf)
    server_address, credentials = kubeconfig.connect_args(args.apiserver, args.kubeconfig)
    client = Client(server_address, credentials=credentials)
    sync = IndexSync(client)
    server = DNSServer(sync.index, zone, upstreams)
    host, port = args.listen
    registered = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sync.start()
        await server.start(host, port)
        if args.advertise_address:
            await service.register(client, args.service_ip, args.advertise_address,
                                   server.address[1])
            registered = True
        logger.info("upstreams: %s", ", ".join(f"{u.host}:{u.port}" for u in upstreams)
                    or "none (names outside the zone get SERVFAIL)")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), service.RECONCILE_INTERVAL)
            if stop.is_set():
                break
            if registered:
                try:
                    await service.register(client, args.service_ip, args.advertise_address,
                                           server.address[1], quiet=True)
                except (errors.APIError, RuntimeError) as e:
                    logger.warning("could not check %s/%s: %s", service.NAMESPACE,
                                   service.NAME, e)
    finally:
        if registered:
            with contextlib.suppress(errors.APIError, OSError, RuntimeError):
                await asyncio.wait_for(
                    service.unregister(client, args.advertise_address, server.address[1]), 5)
        await server.stop()
        await sync.stop()
        await client.close()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    daemon.run(amain(args), logger, fatal=(OSError, ValueError, errors.APIError))


if __name__ == "__main__":
    main()
