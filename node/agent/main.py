"""`jota-node`: Jota's kubelet, running the pods bound to this machine in Docker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import ssl
from pathlib import Path

from jota import daemon, log
from jota.client import Client, kubeconfig
from node.agent import bootstrap, servingcert
from node.agent.agent import Agent, AgentConfig
from node.agent.containers import parse_resolv_conf
from node.agent.nodestatus import DEFAULT_MAX_PODS, NodeConfig, machine_info
from node.agent.server import DEFAULT_PORT, NodeTLS, start_node_server
from node.metrics.collector import Collector, Machine
from node.metrics.server import DEFAULT_METRICS_PORT, MetricsServer, loop_view
from node.network import podnet
from node.network.routes import RouteSync
from node.runtime.docker import DockerRuntime
from node.runtime.interface import DNSConfig

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


def port_number(text: str) -> int:
    """A TCP port, 0 included (0 turns the endpoint off)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: not a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: must be within 0..65535")
    return port


def _cidr(text: str) -> str:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid CIDR {text!r}") from None
    if network.version != 4:
        raise argparse.ArgumentTypeError(f"{text} is not an IPv4 CIDR: pod networks are "
                                         f"IPv4 only")
    return str(network)


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
    kubeconfig.add_flags(p)
    p.add_argument("--bootstrap-kubeconfig", type=Path, default=None, metavar="FILE",
                   help="a kubeconfig with a bootstrap token (server = the apiserver's "
                        "--bootstrap-listen port, its CA): when the --kubeconfig file is "
                        "missing or its certificate expired, the node asks for its own "
                        "certificate with it and writes --kubeconfig (kubelet's TLS "
                        "bootstrapping)")
    p.add_argument("--cert-dir", type=Path, default=bootstrap.DEFAULT_CERT_DIR,
                   metavar="DIR",
                   help="where a bootstrapped node keeps its key and certificate "
                        f"(default {bootstrap.DEFAULT_CERT_DIR})")
    p.add_argument("--rotate-certificates", default="true", choices=["true", "false"],
                   help="with --bootstrap-kubeconfig: renew the client certificate before "
                        "it expires, asking with the node's own identity (default true)")
    p.add_argument("--rotate-server-certificates", default="false",
                   choices=["true", "false"],
                   help="with --bootstrap-kubeconfig and no --tls-cert-file: ask the "
                        "cluster for a serving certificate (signer kubernetes.io/"
                        "kubelet-serving, approved with `jota certificate approve`) and "
                        "serve with it once signed, so that the apiserver reaches this "
                        "node's logs, exec and metrics; until then, and without it, the "
                        "node serves with a self-signed certificate (default false)")
    p.add_argument("--node-name", default=socket.gethostname(),
                   help="name of the Node object (default: the hostname)")
    p.add_argument("--docker-host", default="unix:///var/run/docker.sock",
                   help="the Docker engine to run pods in")
    p.add_argument("--node-ip", default="",
                   help="this node's InternalIP, the address other nodes reach (default: "
                        "the address the hostname resolves to)")
    p.add_argument("--pod-cidr", default="",
                   help="the pod subnet of this node; empty: pods use Docker's default bridge")
    p.add_argument("--cluster-cidr", type=_cidr, default=podnet.DEFAULT_CLUSTER_CIDR,
                   help="the whole pod network (the controller-manager's --cluster-cidr): "
                        "traffic from this node's pods to it is not masqueraded (default "
                        f"{podnet.DEFAULT_CLUSTER_CIDR})")
    p.add_argument("--max-pods", type=int, default=DEFAULT_MAX_PODS,
                   help=f"pods this node accepts (default {DEFAULT_MAX_PODS})")
    p.add_argument("--system-reserved", type=parse_pairs, default={},
                   help="resources kept for the system, e.g. cpu=100m,memory=256Mi")
    p.add_argument("--root-dir", type=Path, default=Path("/var/lib/jota-node"),
                   help="where pod volumes live (default /var/lib/jota-node)")
    p.add_argument("--cluster-dns", action="append", default=[], type=ip_list,
                   help="cluster DNS server IP written into pods' resolv.conf for dnsPolicy "
                        "ClusterFirst (repeatable, or comma-separated)")
    p.add_argument("--cluster-domain", default="cluster.local",
                   help="the cluster's DNS domain: pods search <ns>.svc.<domain>, "
                        "svc.<domain> and <domain> (default cluster.local)")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf",
                   help="the resolver file pods with dnsPolicy Default get, whose search "
                        "domains follow the cluster's for ClusterFirst (\"\": none)")
    p.add_argument("--node-labels", type=parse_pairs, default={},
                   help="labels to add to the Node, e.g. zone=a,disk=ssd")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="port of the agent's streaming service (logs, exec, port-forward), "
                        f"served on --node-ip to the apiserver only (default {DEFAULT_PORT})")
    p.add_argument("--apiserver-ips", default="",
                   help="addresses (IPs or CIDRs, comma-separated) the apiserver connects "
                        "from; only they may stream (default: what --apiserver resolves to)")
    p.add_argument("--tls-cert-file", type=Path, default=None, metavar="FILE",
                   help="the node's certificate for its streaming service (with "
                        "--tls-private-key-file and --client-ca-file, as kubelet's flags); "
                        "then only the apiserver's client certificate may stream")
    p.add_argument("--tls-private-key-file", type=Path, default=None, metavar="FILE")
    p.add_argument("--client-ca-file", type=Path, default=None, metavar="FILE")
    p.add_argument("--image-pull-progress-interval", type=float, default=5.0,
                   metavar="SECONDS",
                   help="at most one Pulling progress event per pod and image this often "
                        "(\"3 of 5 layers done, 12.3MB of 45.6MB\"); 0 tells every step")
    p.add_argument("--metrics-port", type=port_number, default=DEFAULT_METRICS_PORT,
                   help="plain-HTTP port of /metrics, /metrics/cadvisor, /metrics/resource "
                        "and /healthz on --node-ip, as kubelet's read-only port; 0 disables "
                        f"(default {DEFAULT_METRICS_PORT})")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


def node_tls(args: argparse.Namespace) -> NodeTLS | None:
    files = (args.tls_cert_file, args.tls_private_key_file, args.client_ca_file)
    if not any(files):
        return None
    if not all(files):
        raise SystemExit("jota-node: --tls-cert-file, --tls-private-key-file and "
                         "--client-ca-file go together")
    try:
        return NodeTLS(*(f.read_bytes() for f in files))
    except OSError as e:
        raise SystemExit(f"jota-node: {e.strerror}: {e.filename}") from None


def ip_list(text: str) -> list[str]:
    """`10.96.0.10` or `10.96.0.10,fd00::a`: --cluster-dns values (kubelet's checks)."""
    out = []
    for part in (s.strip() for s in text.split(",")):
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_address(part)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid IP address {part!r}") from None
    return out


def host_dns(path: str) -> DNSConfig | None:
    """The node's resolv.conf, read once at start as kubelet does; None without one."""
    if not path:
        return None
    try:
        dns = parse_resolv_conf(Path(path).read_text())
    except OSError as e:
        logger.warning("cannot read --resolv-conf %s (%s): pods with dnsPolicy Default "
                       "get the engine's default resolv.conf", path, e)
        return None
    loopback = [s for s in dns.servers if _is_loopback(s)]
    if loopback:  # kubelet's advice for systemd-resolved's stub too
        logger.warning("--resolv-conf %s names loopback nameservers (%s), which pods cannot "
                       "reach; on systemd-resolved use /run/systemd/resolve/resolv.conf",
                       path, ", ".join(loopback))
    return dns


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


async def amain(args: argparse.Namespace) -> None:
    node_ip = args.node_ip or default_node_ip()
    node = NodeConfig(name=args.node_name, node_ip=node_ip,
                      runtime_version="", max_pods=args.max_pods, pod_cidr=args.pod_cidr,
                      system_reserved=args.system_reserved, labels=args.node_labels,
                      port=args.port)
    config = AgentConfig(node=node, root_dir=args.root_dir,
                         cluster_dns=[ip for ips in args.cluster_dns for ip in ips],
                         cluster_domain=args.cluster_domain,
                         host_dns=host_dns(args.resolv_conf),
                         pull_progress_interval=args.image_pull_progress_interval,
                         local_path_dir=args.root_dir / "local-path")
    if args.pod_cidr:  # pods join a bridge with the node's pod CIDR (node/network)
        config.network = await podnet.setup(args.docker_host, args.pod_cidr,
                                            args.cluster_cidr)
    args.root_dir.mkdir(parents=True, exist_ok=True)
    join = None
    if args.bootstrap_kubeconfig is not None:
        join = bootstrap.Join(args.node_name, args.apiserver, args.kubeconfig,
                              args.bootstrap_kubeconfig, args.cert_dir)
        await bootstrap.ensure_certificate(join)
    # Without --tls-cert-file a joined node serves with a certificate the cluster signed
    # earlier, else self-signs one as kubelet does; with --rotate-server-certificates it
    # asks for a signed one in the background, and renews it (servingcert.keep_signed).
    keep_serving, ask_serving = False, False
    if join is not None and args.tls_cert_file is None:
        keep_serving = args.rotate_server_certificates == "true"
        files = servingcert.signed_serving_files(join) if keep_serving else None
        ask_serving = files is None
        files = files or servingcert.serving_files(join, node_ip)
        args.tls_cert_file, args.tls_private_key_file = files.cert, files.key
        args.client_ca_file = args.client_ca_file or files.client_ca
    address, credentials = kubeconfig.connect_args(args.apiserver, args.kubeconfig)
    client = Client(address, credentials=credentials)
    runtime = DockerRuntime(args.docker_host)
    agent = Agent(client, runtime, config)
    allowed = ([a for a in args.apiserver_ips.split(",") if a] if args.apiserver_ips
               else apiserver_ips(args.apiserver, node_ip))
    # Before the streaming server: a taken metrics port then fails with nothing to undo.
    metrics_context = metrics_tls(args)
    metrics = start_metrics(agent, node_ip, args.metrics_port, args.root_dir,
                            metrics_context) \
        if args.metrics_port else None
    server = await start_node_server(runtime, node_ip, args.port, allowed=allowed,
                                     tls=node_tls(args))

    async def serve_with(files: servingcert.ServingFiles) -> None:
        """A certificate the cluster signed, in service: new metrics connections get it at
        once, the streaming service after a restart."""
        nonlocal server
        args.tls_cert_file, args.tls_private_key_file = files.cert, files.key
        if metrics_context is not None:
            metrics_context.load_cert_chain(str(files.cert), str(files.key))
        await server.stop(1.0)
        try:
            server = await start_node_server(runtime, node_ip, args.port, allowed=allowed,
                                             tls=node_tls(args))
        except OSError as e:  # the port taken meanwhile: the next start uses the files
            logger.error("cannot serve with the signed certificate: %s", e)
            return
        logger.info("serving with the certificate the cluster signed")

    task = asyncio.create_task(agent.run())
    serving = (asyncio.create_task(servingcert.keep_signed(client, join, node_ip, serve_with,
                                                           ask_now=ask_serving),
                                   name="serving")
               if join is not None and keep_serving else None)
    rotation = (asyncio.create_task(bootstrap.rotate(client, join), name="rotation")
                if join is not None and args.rotate_certificates == "true" else None)
    routes = (asyncio.create_task(RouteSync(client, args.node_name).run(), name="routes")
              if args.pod_cidr else None)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for side in (routes, rotation, serving):
            if side is not None:
                side.cancel()
                await asyncio.wait([side])
        if metrics is not None:
            metrics.stop()
        await server.stop(1.0)
        await runtime.close()
        await client.close()


def metrics_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """With the TLS flags, the metrics port is HTTPS and asks every scraper for a
    certificate of the cluster's CA (Prometheus', the apiserver's), as kubelet's secure
    port; without them it is kubelet's plain read-only port."""
    if node_tls(args) is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH,
                                         cafile=str(args.client_ca_file))
    context.load_cert_chain(str(args.tls_cert_file), str(args.tls_private_key_file))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def start_metrics(agent: Agent, host: str, port: int, root_dir: Path,
                  tls: ssl.SSLContext | None = None) -> MetricsServer:
    """The metrics port, reading the agent's runtime listing from this event loop."""
    info = machine_info(str(root_dir))
    view = loop_view(asyncio.get_running_loop(), agent.metrics_view)
    collector = Collector(view, Machine(cpus=info.cpus, memory_bytes=info.memory_bytes,
                                        machine_id=info.machine_id, boot_id=info.boot_id))
    agent.metrics.watch_runtime(view)
    return MetricsServer(host, port, collector, agent.metrics, tls).start()


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.bootstrap_kubeconfig is not None and args.kubeconfig is None:
        parser.error("--bootstrap-kubeconfig needs --kubeconfig: the file the node writes "
                     "its own credentials to")
    log.setup(args.log_level)
    daemon.run(amain(args), logger)


if __name__ == "__main__":
    main()
