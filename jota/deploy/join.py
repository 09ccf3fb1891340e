"""The control plane's files, as kubeadm init and kubeadm join pass them around.

`init_pki` makes the CA and every control-plane certificate once (jota/local/tls.py's
layout); `write_join_files` writes the folder a worker joins with: the CA, a kubeconfig
holding a bootstrap token for the apiserver's bootstrap port, jota-proxy's kubeconfig and
the cluster's configuration without a node section; `write_serving_cert` issues a
worker's serving certificate into that folder. deploy/'s scripts reach these through
`python -m jota.deploy`; a local cluster can call them directly for its node VMs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import yaml

from jota import pki
from jota.client import kubeconfig
from jota.client.kubeconfig import Credentials
from jota.deploy import config as cfg
from jota.deploy import units
from jota.local import tls

CLUSTER_NAME = "jota"
CLUSTER_FILE = "cluster.yaml"  # written last: a worker waits for it


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Atomically, and a key never readable by others, not even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(mode)
    tmp.write_text(text)
    tmp.replace(path)


def write_config(path: Path, config: cfg.ClusterConfig) -> None:
    write_file(path, yaml.safe_dump(cfg.dump(config), sort_keys=False))


def apiserver_hosts(config: cfg.ClusterConfig) -> list[str]:
    """Every address the apiserver's certificate names: its own, loopback, the
    `kubernetes` Service's ClusterIP (the service CIDR's first address), its node name."""
    service_ip = str(next(ipaddress.IPv4Network(config.service_cidr).hosts()))
    return sorted({config.control_plane_address, "127.0.0.1", service_ip,
                   *([config.node.name] if config.node else [])})


def init_pki(config: cfg.ClusterConfig) -> bool:
    """kubeadm init's certificates; False when the CA is there already (kept: a rerun of
    the provisioning must not replace the CA every node trusts)."""
    files = units.pki(config)
    if files.ca.exists():
        return False
    tls.make(files.root, server=config.apiserver, hosts=apiserver_hosts(config))
    return True


def write_join_files(config: cfg.ClusterConfig, token: str, out: Path) -> None:
    """What `kubeadm join` gets from its command line and the cluster-info ConfigMap, as
    files: a worker copies `out/pki/*` to its PKI folder and adds its node section to
    `out/cluster.yaml`."""
    write_node_pki(config, token, out / "pki")
    write_config(out / CLUSTER_FILE, replace(config, node=None))


def write_node_pki(config: cfg.ClusterConfig, token: str, folder: Path) -> None:
    """A joining node's PKI folder: the CA, the bootstrap kubeconfig with `token` and
    jota-proxy's kubeconfig (a local cluster's node VMs get theirs straight from here)."""
    if not token.strip():
        raise cfg.ConfigError("--token: empty (make one with `jota token create`)")
    files = units.pki(config)
    ca = files.ca.read_bytes()
    kubeconfig.write(folder / units.BOOTSTRAP_KUBECONFIG, config.bootstrap_server,
                     Credentials(ca=ca, token=token.strip()), name=CLUSTER_NAME)
    write_file(folder / "ca.crt", ca.decode())
    proxy = files.kubeconfig("proxy")
    write_file(folder / proxy.name, proxy.read_text(), mode=0o600)


def write_serving_cert(config: cfg.ClusterConfig, name: str, address: str, folder: Path
                       ) -> Path:
    """A worker's serving certificate for its address and name, signed by the cluster CA,
    in `folder` (the join folder's nodes/NAME/, or a local node's PKI folder): the
    apiserver checks it when it dials the node (logs, exec, metrics), and the
    controller-manager signs only nodes' client certificates."""
    files = units.pki(config)
    ca = pki.KeyPair(files.ca.read_bytes(), files.ca_key.read_bytes())
    pair = pki.issue(ca, name, hosts=[address, name], server=True, client=False)
    write_file(folder / units.SERVING_KEY, pair.key.decode(), mode=0o600)
    write_file(folder / units.SERVING_CERT, pair.cert.decode())
    return folder
