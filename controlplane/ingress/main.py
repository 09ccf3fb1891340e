"""`jota-ingress`: the Ingress controller, a host process (as jota-dns) whose nginx
listens on this machine's HTTP and HTTPS ports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
from pathlib import Path

from controlplane.ingress import ingressclass
from controlplane.ingress.nginx import Nginx
from controlplane.ingress.render import Settings
from controlplane.ingress.sync import CONFIG, IngressSync, Options
from jota import daemon, log
from jota.api import errors
from jota.client import Client, EventRecorder, kubeconfig

logger = logging.getLogger("jota-ingress")

WATCHDOG_INTERVAL = 5.0  # how soon a dead nginx is started again


def _port(text: str) -> int:
    try:
        value = int(text)
        if not 1 <= value <= 65535:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: want 1-65535") from None
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-ingress",
        description="Serves the cluster's Ingresses of one IngressClass with nginx (as "
                    "ingress-nginx): host and path rules, default backends, TLS from "
                    "kubernetes.io/tls Secrets, straight to the ready pods.")
    kubeconfig.add_flags(p)
    p.add_argument("--ingress-class", default="jota",
                   help="the IngressClass served; created if missing with controller "
                        f"{ingressclass.CONTROLLER}, as the default class (default jota)")
    p.add_argument("--http-port", type=_port, default=80, help="nginx's HTTP port (80)")
    p.add_argument("--https-port", type=_port, default=443, help="nginx's HTTPS port (443)")
    p.add_argument("--publish-address", default="",
                   help="the address written to the Ingresses' status.loadBalancer.ingress "
                        "(default: this machine's host name's address)")
    p.add_argument("--state-dir", type=Path, default=Path("/var/lib/jota-ingress"),
                   help="nginx's config, certificates (mode 0600), pid and temp files")
    p.add_argument("--nginx", default="nginx", help="the nginx binary (default: on PATH)")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


def _default_publish() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


async def _watchdog(sync: IngressSync, nginx: Nginx, stop: asyncio.Event) -> None:
    """A dead nginx is started again by the next config sync."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WATCHDOG_INTERVAL)
        if not stop.is_set() and nginx.conf.exists() and not nginx.running:
            logger.warning("nginx is not running; starting it again")
            sync.queue.add(CONFIG)


async def amain(args: argparse.Namespace) -> None:
    if shutil.which(args.nginx) is None:
        raise ValueError(f"--nginx: {args.nginx!r} not found (Debian: apt-get install "
                         f"nginx-light)")
    if args.http_port == args.https_port:
        raise ValueError("--http-port and --https-port must differ")
    publish = args.publish_address or _default_publish()
    state_dir = args.state_dir.resolve()
    server, credentials = kubeconfig.connect_args(args.apiserver, args.kubeconfig)
    client = Client(server, credentials=credentials)
    nginx = Nginx(state_dir, args.http_port, args.nginx)
    recorder = EventRecorder(client, "jota-ingress", socket.gethostname())
    sync = IngressSync(client, Options(args.ingress_class, publish, Settings(
        state_dir=str(state_dir), http_port=args.http_port, https_port=args.https_port)),
        nginx, recorder)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    try:
        await ingressclass.ensure(client, args.ingress_class)
        await sync.start()
        logger.info("serving IngressClass %s on ports %d/%d, publishing %s", args.ingress_class,
                    args.http_port, args.https_port, publish)
        tasks = [asyncio.create_task(sync.run(), name="ingress-sync"),
                 asyncio.create_task(_watchdog(sync, nginx, stop), name="nginx-watchdog")]
        await stop.wait()
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await nginx.stop()
        await sync.stop()
        await recorder.shutdown()
        await client.close()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    if os.geteuid() != 0 and min(args.http_port, args.https_port) < 1024:
        logger.warning("not root: nginx may not bind ports %d/%d", args.http_port,
                       args.https_port)
    daemon.run(amain(args), logger,
               fatal=(OSError, ValueError, errors.APIError, kubeconfig.ConfigError))


if __name__ == "__main__":
    main()
