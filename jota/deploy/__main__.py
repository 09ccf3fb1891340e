"""`python -m jota.deploy`: what deploy/'s provisioning scripts call on a machine.

    configure      write /etc/jota/cluster.yaml (from flags, or a control plane's copy
                   plus this machine's node section)
    pki            the cluster's CA, certificates and kubeconfigs (control plane; once)
    join-files     what a worker fetches to join: the CA, a bootstrap-token kubeconfig,
                   jota-proxy's kubeconfig and the cluster's configuration
    serving-certs  workers' serving certificates, signed by the cluster CA
    render         the systemd units and config files of a role, under a root folder

Bad input exits with `error: ...` naming the field, and nothing half-written.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from jota.deploy import config as cfg
from jota.deploy import join, units

DEFAULT_CONFIG = Path("/etc/jota/cluster.yaml")


def configure(args: argparse.Namespace) -> None:
    if args.from_file is not None:
        config = cfg.load(args.from_file)
    elif args.control_plane_address:
        config = cfg.parse({"controlPlaneAddress": args.control_plane_address})
    else:
        raise cfg.ConfigError("give --from FILE or --control-plane-address")
    if args.dns_upstream is not None:
        config = replace(config, dns_upstream=args.dns_upstream)
    if args.ingress:
        config = replace(config, ingress=True)
    if args.node_name or args.node_address or args.pod_cidr:
        node: dict[str, object] = {"name": args.node_name, "address": args.node_address}
        if args.pod_cidr:
            node["podCIDR"] = args.pod_cidr
        if args.serving_cert:
            node["servingCert"] = True
        config = cfg.parse({**cfg.dump(config), "node": node})
    join.write_config(args.out, config)


def make_pki(args: argparse.Namespace) -> None:
    config = cfg.load(args.config)
    root = units.pki(config).root
    if join.init_pki(config):
        print(f"{root}: CA, certificates and kubeconfigs for "
              f"{', '.join(join.apiserver_hosts(config))}")
    else:
        print(f"{root}: the cluster's CA is there already, keeping it")


def join_files(args: argparse.Namespace) -> None:
    config = cfg.load(args.config)
    join.write_join_files(config, args.token, args.out)
    print(f"{args.out}: join files for {config.bootstrap_server}")


def _node_spec(text: str) -> tuple[str, str]:
    name, sep, address = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, str(ipaddress.IPv4Address(address))
    except ValueError:
        raise cfg.ConfigError(f"--node: {text!r} is not NAME=IPv4-ADDRESS") from None


def serving_certs(args: argparse.Namespace) -> None:
    config = cfg.load(args.config)
    for name, address in [_node_spec(text) for text in args.node]:
        folder = join.write_serving_cert(config, name, address, args.out / "nodes" / name)
        print(f"{folder}: serving certificate of {name} ({address})")


def render(args: argparse.Namespace) -> None:
    config = cfg.load(args.config)
    for rel, text in units.files(args.role, config, source=str(args.config)).items():
        join.write_file(args.root / rel, text)
        print(args.root / rel)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m jota.deploy",
                                description="Files for running Jota on machines.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("configure", help="write the cluster's configuration file")
    c.add_argument("--from", dest="from_file", type=Path, default=None, metavar="FILE",
                   help="start from this configuration (a control plane's)")
    c.add_argument("--control-plane-address", default="")
    c.add_argument("--dns-upstream", default=None,
                   help='jota-dns\'s upstream resolvers ("" for none)')
    c.add_argument("--ingress", action="store_true",
                   help="the control plane runs jota-ingress (nginx on ports 80 and 443) "
                        "and jota-routes")
    c.add_argument("--node-name", default="")
    c.add_argument("--node-address", default="")
    c.add_argument("--pod-cidr", default="")
    c.add_argument("--serving-cert", action="store_true",
                   help="the node has a serving certificate from the control plane")
    c.add_argument("--out", type=Path, default=DEFAULT_CONFIG)
    c.set_defaults(run=configure)
    k = sub.add_parser("pki", help="make the CA, certificates and kubeconfigs (once)")
    k.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    k.set_defaults(run=make_pki)
    j = sub.add_parser("join-files", help="write what a worker needs to join")
    j.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    j.add_argument("--token", required=True, help="a bootstrap token (jota token create)")
    j.add_argument("--out", type=Path, required=True)
    j.set_defaults(run=join_files)
    s = sub.add_parser("serving-certs", help="issue workers' serving certificates")
    s.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    s.add_argument("--node", action="append", default=[], metavar="NAME=IP", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(run=serving_certs)
    r = sub.add_parser("render", help="write a role's systemd units and config files")
    r.add_argument("--role", required=True, choices=units.ROLES)
    r.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    r.add_argument("--root", type=Path, default=Path("/"),
                   help="write under this folder instead of / (to look at them)")
    r.set_defaults(run=render)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (cfg.ConfigError, ValueError, OSError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
