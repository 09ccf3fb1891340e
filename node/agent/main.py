"""`jota-node`: Jota's kubelet, running the pods bound to this machine in Docker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from pathlib import Path

from jota import log
from jota.client import Client
from node.agent.agent import Agent, AgentConfig
from node.agent.nodestatus import DEFAULT_MAX_PODS, NodeConfig
from node.agent.server import DEFAULT_PORT, start_node_server
from node.network import podnet
from node.network.routes import RouteSync
from node.runtime.docker import DockerRuntime

logger = logging.getLogger("jota-node")


def parse_pairs(text: str) -> dict[str, str]:
    """`cpu=100m,memory=256Mi` -> {"cpu": "100m", "memory": "256Mi"}."""
    pairs: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"invalid pair {item!r}: expected key=value")
        pairs[key] = value
    return pairs


def default_node_ip() -> str:
    """The address the hostname resolves to (set --node-ip on machines with several)."""
    with contextlib.suppress(OSError):
        address = socket.gethostbyname(socket.gethostname())
        if not address.startswith("127."):
            return address
    return "127.0.0.1"


def apiserver_ips(apiservers: str, node_ip: str) -> list[str]:
    """Who may call the streaming service: the apiservers' addresses. An apiserver on
    this machine reaches the agent at the node IP, so its connections come from there."""
    ips: set[str] = set()
    for server in filter(None, (s.strip() for s in apiservers.split(","))):
        host = server.split("://")[-1].rpartition(":")[0].strip("[]") or server
        with contextlib.suppress(OSError):
            ips.update(str(info[4][0]) for info in socket.getaddrinfo(host, None))
    if any(ip.startswith("127.") or ip == "::1" for ip in ips):
        ips.add(node_ip)
    return sorted(ips)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-node",
        description="Registers this machine as a Node and runs the pods bound to it in "
                    "Docker.")
    p.add_argument("--apiserver", default="127.0.0.1:6443",
                   help="apiserver address(es), comma-separated (default 127.0.0.1:6443)")
    p.add_argument("--node-name", default=socket.gethostname(),
                   help="name of the Node object (default: the hostname)")
    p.add_argument("--docker-host", default="unix:///var/run/docker.sock",
                   help="the Docker engine to run pods in")
    p.add_argument("--node-ip", default="",
                   help="this node's InternalIP, the address other nodes reach (default: "
                        "the address the hostname resolves to)")
    p.add_argument("--pod-cidr", default="",
                   help="the pod subnet of this node; empty: pods use Docker's default bridge")
    p.add_argument("--max-pods", type=int, default=DEFAULT_MAX_PODS,
                   help=f"pods this node accepts (default {DEFAULT_MAX_PODS})")
    p.add_argument("--system-reserved", type=parse_pairs, default={},
                   help="resources kept for the system, e.g. cpu=100m,memory=256Mi")
    p.add_argument("--root-dir", type=Path, default=Path("/var/lib/jota-node"),
                   help="where pod volumes live (default /var/lib/jota-node)")
    p.add_argument("--cluster-dns", default="",
                   help="cluster DNS server IPs, comma-separated, written into pods' "
                        "resolv.conf for dnsPolicy ClusterFirst")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--node-labels", type=parse_pairs, default={},
                   help="labels to add to the Node, e.g. zone=a,disk=ssd")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="port of the agent's streaming service (logs, exec, port-forward), "
                        f"served on --node-ip to the apiserver only (default {DEFAULT_PORT})")
    p.add_argument("--apiserver-ips", default="",
                   help="addresses (IPs or CIDRs, comma-separated) the apiserver connects "
                        "from; only they may stream (default: what --apiserver resolves to)")
    p.add_argument("--image-pull-progress-interval", type=float, default=5.0,
                   metavar="SECONDS",
                   help="at most one Pulling progress event per pod and image this often "
                        "(\"3 of 5 layers done, 12.3MB of 45.6MB\"); 0 tells every step")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


async def amain(args: argparse.Namespace) -> None:
    node_ip = args.node_ip or default_node_ip()
    node = NodeConfig(name=args.node_name, node_ip=node_ip,
                      runtime_version="", max_pods=args.max_pods, pod_cidr=args.pod_cidr,
                      system_reserved=args.system_reserved, labels=args.node_labels,
                      port=args.port)
    config = AgentConfig(node=node, root_dir=args.root_dir,
                         cluster_dns=[s for s in args.cluster_dns.split(",") if s],
                         cluster_domain=args.cluster_domain,
                         pull_progress_interval=args.image_pull_progress_interval)
    if args.pod_cidr:  # pods join a bridge with the node's pod CIDR (node/network)
        config.network = await podnet.setup(args.docker_host, args.pod_cidr)
    args.root_dir.mkdir(parents=True, exist_ok=True)
    client = Client(args.apiserver)
    runtime = DockerRuntime(args.docker_host)
    agent = Agent(client, runtime, config)
    allowed = ([a for a in args.apiserver_ips.split(",") if a] if args.apiserver_ips
               else apiserver_ips(args.apiserver, node_ip))
    server = await start_node_server(runtime, node_ip, args.port, allowed=allowed)
    task = asyncio.create_task(agent.run())
    routes = (asyncio.create_task(RouteSync(client, args.node_name).run(), name="routes")
              if args.pod_cidr else None)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if routes is not None:
            routes.cancel()
            await asyncio.wait([routes])
        await server.stop(1.0)
        await runtime.close()
        await client.close()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    try:
        asyncio.run(amain(args))
    except OSError as e:
        logger.error("%s", e)
        sys.exit(1)


if __name__ == "__main__":
    main()
