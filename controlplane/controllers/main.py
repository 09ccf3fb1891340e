"""`jota-controller-manager`: runs Jota's controllers against an apiserver."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import logging
import signal
import sys
from pathlib import Path

from controlplane.controllers import csrsigning, manager, nodeipam, podgc
from controlplane.controllers.metrics import discovery
from controlplane.controllers.metrics.endpoint import ManagerMetrics
from controlplane.controllers.nodelifecycle import NodeLifecycleSettings
from controlplane.controllers.podautoscaler import DEFAULT_SYNC_PERIOD
from jota import log, pki
from jota.client import Client, kubeconfig, leaderelection
from jota.metrics import metrics_bind_address

logger = logging.getLogger("jota-controller-manager")

# kube-controller-manager's port (--secure-port 10257), served here as plain HTTP.
DEFAULT_METRICS_BIND_ADDRESS = "127.0.0.1:10257"


def duration(text: str) -> float:
    """A Go duration as the flags take it: `40s`, `1m`, `500ms`, or plain seconds."""
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix):
            try:
                return float(text[:-len(suffix)]) * scale
            except ValueError:
                break
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jota-controller-manager",
        description="Runs Jota's controllers: namespace, garbage collector, ReplicaSet, "
                    "Deployment, node IPAM and node lifecycle.")
    p.add_argument("--apiserver", "--master", dest="apiserver", default="127.0.0.1:6443",
                   help="address of the apiserver(s), comma-separated (default "
                        "127.0.0.1:6443)")
    kubeconfig.add_flag(p)
    p.add_argument("--leader-elect", default="true", choices=["true", "false"],
                   help="take the kube-system/kube-controller-manager Lease before running "
                        "controllers, so only one replica acts (default true)")
    leaderelection.add_flags(p)
    p.add_argument("--identity", default="", help="this replica's name in the Lease")
    p.add_argument("--node-monitor-grace-period", type=duration, default=40.0,
                   help="how long a node may stop renewing its Lease before it is marked "
                        "Ready=Unknown and tainted unreachable (default 40s)")
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                   help="seconds a pod with the default not-ready toleration stays on a "
                        "not-ready node (default 300)")
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                   help="seconds a pod with the default unreachable toleration stays on an "
                        "unreachable node (default 300)")
    p.add_argument("--metrics-bind-address", type=metrics_bind_address,
                   default=DEFAULT_METRICS_BIND_ADDRESS,
                   help="HOST:PORT to serve Prometheus /metrics (with kube-state-metrics' "
                        "object-state series), /healthz and the HTTP service discovery "
                        "routes /sd/nodes and /sd/control-plane on, over plain HTTP; port 0 "
                        f"turns it off (default {DEFAULT_METRICS_BIND_ADDRESS})")
    p.add_argument("--node-metrics-port", type=int, default=discovery.NODE_METRICS_PORT,
                   help="the node agents' metrics port /sd/nodes lists at each Node's "
                        f"InternalIP (default {discovery.NODE_METRICS_PORT})")
    p.add_argument("--control-plane-metrics", type=_components, default={},
                   help="the other daemons' metrics endpoints /sd/control-plane lists, e.g. "
                        "apiserver=127.0.0.1:8080,scheduler=127.0.0.1:10259; name a "
                        "component again for each replica (this one is listed by itself "
                        "unless controller-manager is given)")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=duration,
                   default=DEFAULT_SYNC_PERIOD, metavar="DURATION",
                   help="how often each HorizontalPodAutoscaler is reconciled (default 15s)")
    p.add_argument("--terminated-pod-gc-threshold", type=int,
                   default=podgc.DEFAULT_TERMINATED_POD_GC_THRESHOLD, metavar="N",
                   help="how many terminated (Succeeded or Failed) pods may exist before the "
                        "pod garbage collector deletes the oldest; 0 or less turns that off "
                        f"(default {podgc.DEFAULT_TERMINATED_POD_GC_THRESHOLD})")
    p.add_argument("--cluster-cidr", type=_cluster_cidr, default=nodeipam.DEFAULT_CLUSTER_CIDR,
                   metavar="CIDR",
                   help="the IPv4 range node IPAM gives each Node's spec.podCIDR out of "
                        f"(default {nodeipam.DEFAULT_CLUSTER_CIDR})")
    p.add_argument("--node-cidr-mask-size", type=int, default=nodeipam.DEFAULT_NODE_MASK,
                   metavar="BITS",
                   help="the prefix length of each Node's pod CIDR, at least --cluster-cidr's "
                        f"(default {nodeipam.DEFAULT_NODE_MASK})")
    p.add_argument("--cluster-signing-cert-file", type=Path, default=None, metavar="FILE",
                   help="the cluster CA's certificate (PEM) the csrsigning controller issues "
                        "approved node and client certificates with; with "
                        "--cluster-signing-key-file (default: no signing)")
    p.add_argument("--cluster-signing-key-file", type=Path, default=None, metavar="FILE",
                   help="the cluster CA's private key (PEM, ECDSA)")
    p.add_argument("--cluster-signing-duration", type=duration,
                   default=csrsigning.DEFAULT_DURATION.total_seconds(), metavar="DURATION",
                   help="the most a signed certificate lasts; a request's "
                        "spec.expirationSeconds may ask for less (default 8760h)")
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


def signing_config(args: argparse.Namespace) -> csrsigning.SigningConfig | None:
    """The CA files, read and checked at start: a bad path or key stops the daemon with
    a clear line rather than failing every signature later."""
    files = (args.cluster_signing_cert_file, args.cluster_signing_key_file)
    if not any(files):
        return None
    if not all(files):
        raise SystemExit("error: --cluster-signing-cert-file and --cluster-signing-key-file "
                         "go together")
    try:
        ca = pki.KeyPair(*(f.read_bytes() for f in files))
        pki.check_pair(ca)
    except OSError as e:
        raise SystemExit(f"error: {e.strerror}: {e.filename}") from None
    except ValueError as e:
        raise SystemExit(f"error: --cluster-signing-cert-file/--cluster-signing-key-file: "
                         f"{e}") from None
    return csrsigning.SigningConfig(ca, datetime.timedelta(
        seconds=args.cluster_signing_duration))


def controller_options(args: argparse.Namespace) -> manager.ControllerOptions:
    """The flags controllers read, checked together (ValueError names the flag)."""
    nodeipam.check_node_mask(args.cluster_cidr, args.node_cidr_mask_size)
    return manager.ControllerOptions(
        terminated_pod_gc_threshold=args.terminated_pod_gc_threshold,
        cluster_cidr=args.cluster_cidr, node_cidr_mask_size=args.node_cidr_mask_size)


def _cluster_cidr(text: str) -> str:
    try:
        return nodeipam.parse_cluster_cidr(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _components(text: str) -> dict[str, list[str]]:
    try:
        return discovery.parse_components(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


async def amain(args: argparse.Namespace) -> None:
    signing = signing_config(args)
    metrics = ManagerMetrics(args.metrics_bind_address, components=args.control_plane_metrics,
                             node_metrics_port=args.node_metrics_port)
    try:
        await metrics.start()
    except OSError as e:
        logger.error("%s", e)
        sys.exit(1)
    server, credentials = kubeconfig.connect_args(args.apiserver, args.kubeconfig)
    client = Client(server, credentials=credentials)
    timing = leaderelection.timing_of(args)
    settings = NodeLifecycleSettings(
        node_monitor_grace_period=args.node_monitor_grace_period,
        node_monitor_period=min(5.0, max(0.5, args.node_monitor_grace_period / 8)),
        default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
        default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds)
    task = asyncio.create_task(manager.run(client, leader_elect=args.leader_elect == "true",
                                           identity=args.identity, settings=settings,
                                           on_factory=metrics.use,
                                           hpa_sync_period=args.horizontal_pod_autoscaler_sync_period,
                                           timing=timing, signing=signing,
                                           options=controller_options(args)))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.close()
    await metrics.stop()


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        leaderelection.timing_of(args)
        controller_options(args)
    except ValueError as e:
        parser.error(str(e))
    log.setup(args.log_level)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
