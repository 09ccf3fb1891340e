"""The one file that describes a cluster on machines, /etc/jota/cluster.yaml.

Every flag of every daemon derives from it (jota/deploy/units.py), so a control-plane
machine and its workers agree on addresses, CIDRs and file paths by sharing it. Its
shape follows kubeadm's ClusterConfiguration in spirit: camelCase keys, defaults as
Kubernetes' own (6443, 10.96.0.0/12, 10.244.0.0/16 as flannel's, 10.96.0.10), and a
`node` section that each machine fills in for itself.

    apiVersion: jota.dev/v1alpha1
    kind: ClusterConfiguration
    controlPlaneAddress: 192.168.56.10
    node: {name: jota-worker-1, address: 192.168.56.11, podCIDR: 10.244.1.0/24}
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "jota.dev/v1alpha1"
KIND = "ClusterConfiguration"


class ConfigError(ValueError):
    """The configuration is unusable; the message names the field and the problem."""


@dataclass(frozen=True)
class NodeConfig:
    """This machine's part: its Node name, the address the others reach it at, and
    (on a worker) the pod CIDR its pods get addresses from."""

    name: str
    address: str
    pod_cidr: str = ""
    # Whether the control plane issued this node's serving certificate (kubelet-serving.crt
    # in the PKI folder), which the apiserver checks when it dials the node for logs and
    # exec; without one the agent serves a self-signed certificate.
    serving_cert: bool = False


@dataclass(frozen=True)
class ClusterConfig:
    control_plane_address: str
    apiserver_port: int = 6443
    # Where a joining node talks first, with only a bootstrap token (TLS, no client cert).
    bootstrap_port: int = 6444
    etcd_servers: tuple[str, ...] = ("http://127.0.0.1:2379",)
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    cluster_dns: str = "10.96.0.10"
    # jota-dns's upstream resolvers: None asks the machine's resolv.conf, "" none at all.
    dns_upstream: str | None = None
    ingress: bool = False
    # Where the CA, certificates and kubeconfigs live (jota.local.tls's layout).
    pki_dir: str = "/etc/jota/pki"
    # Where the wheel's console scripts are (the venv the scripts install Jota in).
    bin_dir: str = "/usr/local/lib/jota/venv/bin"
    state_dir: str = "/var/lib/jota"
    docker_host: str = "unix:///var/run/docker.sock"
    # Several apiservers (kubeadm's controlPlaneEndpoint, without its load balancer):
    # every address the clients' --apiserver and the nodes' bootstrap kubeconfig name,
    # which the Client fails over between. Empty: the one at controlPlaneAddress.
    apiserver_endpoints: tuple[str, ...] = ()
    bootstrap_endpoints: tuple[str, ...] = ()
    node: NodeConfig | None = None

    @property
    def apiserver_listen(self) -> str:
        """Where this machine's apiserver listens."""
        return f"{self.control_plane_address}:{self.apiserver_port}"

    @property
    def bootstrap_listen(self) -> str:
        return f"{self.control_plane_address}:{self.bootstrap_port}"

    @property
    def apiserver(self) -> str:
        """What the daemons' --apiserver names: every apiserver, comma-separated."""
        return ",".join(self.apiserver_endpoints) or self.apiserver_listen

    @property
    def bootstrap_server(self) -> str:
        """What a joining node's bootstrap kubeconfig names."""
        return ",".join(self.bootstrap_endpoints) or self.bootstrap_listen

    def with_node(self, node: NodeConfig) -> ClusterConfig:
        return replace(self, node=node)


_KEYS = {"controlPlaneAddress": "control_plane_address", "apiserverPort": "apiserver_port",
         "bootstrapPort": "bootstrap_port", "etcdServers": "etcd_servers",
         "clusterCIDR": "cluster_cidr", "serviceCIDR": "service_cidr",
         "clusterDNS": "cluster_dns", "dnsUpstream": "dns_upstream", "ingress": "ingress",
         "pkiDir": "pki_dir", "binDir": "bin_dir", "stateDir": "state_dir",
         "dockerHost": "docker_host", "apiserverEndpoints": "apiserver_endpoints",
         "bootstrapEndpoints": "bootstrap_endpoints"}
_NODE_KEYS = {"name": "name", "address": "address", "podCIDR": "pod_cidr",
              "servingCert": "serving_cert"}


def _ip(field: str, value: object) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise ConfigError(f"{field}: {value!r} is not an IPv4 address") from None


def _cidr(field: str, value: object) -> str:
    try:
        return str(ipaddress.IPv4Network(str(value)))
    except ValueError:
        raise ConfigError(f"{field}: {value!r} is not an IPv4 CIDR (like 10.244.0.0/16)") \
            from None


def _port(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{field}: {value!r} is not a port number (1-65535)")
    return value


def _str(field: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field}: must be a non-empty string, not {value!r}")
    return value


def _node(data: object) -> NodeConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"node: must be a mapping, not {data!r}")
    unknown = sorted(set(data) - set(_NODE_KEYS))
    if unknown:
        raise ConfigError(f"node.{unknown[0]}: unknown field (known: {', '.join(_NODE_KEYS)})")
    for key in ("name", "address"):
        if key not in data:
            raise ConfigError(f"node.{key}: required")
    pod_cidr = data.get("podCIDR")
    serving = data.get("servingCert", False)
    if not isinstance(serving, bool):
        raise ConfigError(f"node.servingCert: must be true or false, not {serving!r}")
    return NodeConfig(name=_str("node.name", data["name"]),
                      address=_ip("node.address", data["address"]),
                      pod_cidr=_cidr("node.podCIDR", pod_cidr) if pod_cidr else "",
                      serving_cert=serving)


def parse(data: object) -> ClusterConfig:
    """A ClusterConfig from the file's decoded YAML, checking every field."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping")
    if data.get("apiVersion", API_VERSION) != API_VERSION:
        raise ConfigError(f"apiVersion: must be {API_VERSION}, not {data['apiVersion']!r}")
    if data.get("kind", KIND) != KIND:
        raise ConfigError(f"kind: must be {KIND}, not {data['kind']!r}")
    body = {k: v for k, v in data.items() if k not in ("apiVersion", "kind", "node")}
    unknown = sorted(set(body) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown field (known: {', '.join(_KEYS)}, node)")
    if "controlPlaneAddress" not in body:
        raise ConfigError("controlPlaneAddress: required")
    values: dict[str, Any] = {}
    for key, value in body.items():
        attr = _KEYS[key]
        if attr == "control_plane_address" or attr == "cluster_dns":
            values[attr] = _ip(key, value)
        elif attr in ("apiserver_port", "bootstrap_port"):
            values[attr] = _port(key, value)
        elif attr in ("cluster_cidr", "service_cidr"):
            values[attr] = _cidr(key, value)
        elif attr in ("etcd_servers", "apiserver_endpoints", "bootstrap_endpoints"):
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{key}: must be a non-empty list of "
                                  f"{'URLs' if attr == 'etcd_servers' else 'HOST:PORTs'}")
            values[attr] = tuple(_str(f"{key}[{i}]", v) for i, v in enumerate(value))
        elif attr == "ingress":
            if not isinstance(value, bool):
                raise ConfigError(f"{key}: must be true or false, not {value!r}")
            values[attr] = value
        elif attr == "dns_upstream":
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{key}: must be a string (\"\" for none), not {value!r}")
            values[attr] = value
        else:
            values[attr] = _str(key, value)
    config = ClusterConfig(**values)
    if data.get("node") is not None:
        config = config.with_node(_node(data["node"]))
    return config


def load(path: Path) -> ClusterConfig:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    try:
        return parse(yaml.safe_load(text))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not YAML: {e}") from None
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def dump(config: ClusterConfig) -> dict[str, Any]:
    """The file's YAML form of `config`, with every field, so a machine that reads it
    back needs no defaults of its own."""
    names = {v: k for k, v in _KEYS.items()}
    out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND}
    for f in fields(config):
        if f.name == "node":
            continue
        value = getattr(config, f.name)
        if value == ():
            continue  # an unset list of endpoints: the file's reader derives them
        out[names[f.name]] = list(value) if isinstance(value, tuple) else value
    if config.node is not None:
        node: dict[str, Any] = {"name": config.node.name, "address": config.node.address}
        if config.node.pod_cidr:
            node["podCIDR"] = config.node.pod_cidr
        if config.node.serving_cert:
            node["servingCert"] = True
        out["node"] = node
    return out
