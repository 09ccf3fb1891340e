"""Every daemon's flags, and the systemd units and config files that run them.

One source of flags: `args(component, config)` is the argv (after the program) that a
component runs with for a cluster config; the units on machines (`files`) and the local
cluster (jota/local/daemons.py) both take their flags from here, so a VM and
`jota local up` run the daemons the same way. All pure: config in, text out; the CLI
(jota/deploy/__main__.py) writes the files.

Roles, as kubeadm's: a control-plane machine runs etcd (Debian's own etcd-server unit,
configured through /etc/default/etcd), jota-apiserver, jota-controller-manager,
jota-scheduler, jota-dns (and, when asked, jota-ingress with jota-routes, which keeps
the routes to the nodes' pods that its nginx proxies to); a worker runs Docker (Debian's
docker.io, its daemon.json leaving the pod bridge to jota-node), jota-node and jota-proxy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from jota.deploy.config import ClusterConfig
from jota.local.tls import Files

CONTROL_PLANE = "control-plane"
WORKER = "worker"
ROLES = (CONTROL_PLANE, WORKER)

# kubeadm's file names, in the PKI folder: the joining node's token kubeconfig, and the
# one its agent writes once the control plane has signed its certificate.
BOOTSTRAP_KUBECONFIG = "bootstrap-kubelet.conf"
NODE_KUBECONFIG = "kubelet.conf"
# A node's serving certificate when the control plane issued it (kubeadm's kubelet.crt).
SERVING_CERT, SERVING_KEY = "kubelet-serving.crt", "kubelet-serving.key"


@dataclass(frozen=True)
class Unit:
    """What a daemon's unit says beyond its command."""

    program: str
    description: str
    after: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


UNITS = {
    "apiserver": Unit("jota-apiserver", "Jota API server (kube-apiserver)",
                      after=("etcd.service",), requires=("etcd.service",)),
    "controller-manager": Unit("jota-controller-manager",
                               "Jota controller manager (kube-controller-manager)",
                               after=("jota-apiserver.service",)),
    "scheduler": Unit("jota-scheduler", "Jota scheduler (kube-scheduler)",
                      after=("jota-apiserver.service",)),
    "dns": Unit("jota-dns", "Jota cluster DNS (CoreDNS's kubernetes plugin)",
                after=("jota-apiserver.service",)),
    "ingress": Unit("jota-ingress", "Jota Ingress controller (nginx)",
                    after=("jota-apiserver.service",)),
    "routes": Unit("jota-routes", "Jota routes to the nodes' pod CIDRs (host-gw, as jota-node's)",
                   after=("jota-apiserver.service",)),
    "node": Unit("jota-node", "Jota node agent (kubelet)",
                 after=("docker.service",), requires=("docker.service",)),
    "proxy": Unit("jota-proxy", "Jota service proxy (kube-proxy, iptables mode)",
                  after=("jota-node.service",)),
}


def components(role: str, config: ClusterConfig) -> list[str]:
    """The daemons a machine of `role` runs, in start order."""
    if role == CONTROL_PLANE:
        # The control plane is no node: jota-ingress's nginx reaches the pods it proxies
        # to through jota-routes' routes, as the host of `jota local up` does through its own.
        return ["apiserver", "controller-manager", "scheduler", "dns",
                *(["routes", "ingress"] if config.ingress else [])]
    if role == WORKER:
        return ["node", "proxy"]
    raise ValueError(f"--role: must be one of {', '.join(ROLES)}, not {role!r}")


def pki(config: ClusterConfig) -> Files:
    return Files(Path(config.pki_dir))


def _kubeconfig(config: ClusterConfig, component: str) -> list[str]:
    return ["--kubeconfig", str(pki(config).kubeconfig(component))]


def _node(config: ClusterConfig, component: str) -> tuple[str, str]:
    if config.node is None:
        raise ValueError(f"{component}: the configuration has no `node` section (name, "
                         f"address) for this machine")
    return config.node.name, config.node.address


def apiserver_args(config: ClusterConfig) -> list[str]:
    host = config.control_plane_address
    return ["--etcd-servers", ",".join(config.etcd_servers),
            "--listen", config.apiserver_listen, "--advertise-address", host,
            "--service-cluster-ip-range", config.service_cidr,
            *pki(config).apiserver_args(bootstrap_listen=config.bootstrap_listen)]


def controller_manager_args(config: ClusterConfig) -> list[str]:
    files = pki(config)
    return ["--apiserver", config.apiserver, *_kubeconfig(config, "controller-manager"),
            # It signs the certificates of joining nodes (kubeadm gives it the cluster CA).
            *files.signing_args(), *_cluster_cidr(config)]


def _cluster_cidr(config: ClusterConfig) -> list[str]:
    """The pod network (node IPAM carves it, the nodes and proxies masquerade what leaves
    it); "" for a local single node whose pods sit on Docker's own bridge."""
    return ["--cluster-cidr", config.cluster_cidr] if config.cluster_cidr else []


def scheduler_args(config: ClusterConfig) -> list[str]:
    return ["--apiserver", config.apiserver, *_kubeconfig(config, "scheduler")]


def dns_args(config: ClusterConfig) -> list[str]:
    host = config.control_plane_address
    upstream = [] if config.dns_upstream is None else ["--upstream", config.dns_upstream]
    return ["--apiserver", config.apiserver, *_kubeconfig(config, "dns"),
            "--listen", f"{host}:53", "--advertise-address", host,
            "--service-ip", config.cluster_dns, *upstream]


def ingress_args(config: ClusterConfig) -> list[str]:
    return ["--apiserver", config.apiserver, *_kubeconfig(config, "ingress"),
            "--publish-address", config.control_plane_address,
            "--state-dir", f"{config.state_dir}/ingress"]


def routes_args(config: ClusterConfig) -> list[str]:
    """The routes exist for jota-ingress's nginx, so they run as jota-ingress (its
    kubeconfig, which may watch Nodes); the machine's own Node, if it ever is one,
    gets no route to itself."""
    return ["--apiserver", config.apiserver, *_kubeconfig(config, "ingress"),
            *(["--node-name", config.node.name] if config.node is not None else [])]


def node_args(config: ClusterConfig) -> list[str]:
    name, address = _node(config, "node")
    files = pki(config)
    assert config.node is not None
    return ["--apiserver", config.apiserver, "--node-name", name, "--node-ip", address,
            *(["--pod-cidr", config.node.pod_cidr] if config.node.pod_cidr else []),
            *_cluster_cidr(config),
            "--docker-host", config.docker_host, "--root-dir", f"{config.state_dir}/node",
            # "" (a local cluster whose jota-dns does not run): pods keep the node's DNS.
            *(["--cluster-dns", config.cluster_dns] if config.cluster_dns else []),
            # TLS bootstrap, as kubelet's: the token kubeconfig gets a certificate signed,
            # then the agent writes its own kubeconfig and uses that from then on.
            "--bootstrap-kubeconfig", str(files.root / BOOTSTRAP_KUBECONFIG),
            "--kubeconfig", str(files.root / NODE_KUBECONFIG),
            "--cert-dir", f"{config.state_dir}/pki",
            "--client-ca-file", str(files.ca),
            *(["--tls-cert-file", str(files.root / SERVING_CERT),
               "--tls-private-key-file", str(files.root / SERVING_KEY)]
              if config.node.serving_cert else [])]


def proxy_args(config: ClusterConfig) -> list[str]:
    name, address = _node(config, "proxy")
    return ["--apiserver", config.apiserver, *_kubeconfig(config, "proxy"),
            "--node-name", name, "--node-ip", address, *_cluster_cidr(config)]


ARGS = {"apiserver": apiserver_args, "controller-manager": controller_manager_args,
        "scheduler": scheduler_args, "dns": dns_args, "ingress": ingress_args,
        "routes": routes_args, "node": node_args, "proxy": proxy_args}


def args(component: str, config: ClusterConfig) -> list[str]:
    """The flags `component` runs with in the cluster `config` describes."""
    try:
        return ARGS[component](config)
    except KeyError:
        raise ValueError(f"unknown component {component!r} (known: {', '.join(ARGS)})") \
            from None


# The modules behind the wheel's console scripts: `python -m MODULE` runs the same daemon
# from a source tree (as jota/local/processes.py starts them).
MODULES = {"apiserver": "controlplane.apiserver.main",
           "controller-manager": "controlplane.controllers.main",
           "scheduler": "controlplane.scheduler.main", "dns": "controlplane.dns.main",
           "ingress": "controlplane.ingress.main", "routes": "node.network.main",
           "node": "node.agent.main",
           "proxy": "node.proxy.main"}


def command(component: str, config: ClusterConfig) -> list[str]:
    """The unit's argv: the console script in the configured bin dir, then the flags."""
    return [f"{config.bin_dir}/{UNITS[component].program}", *args(component, config)]


# ---- files -----------------------------------------------------------------------------------

TEMPLATE = """\
# Rendered by `python -m jota.deploy render` from {source}:
# change that file and render again rather than editing this one.
[Unit]
Description={description}
Wants=network-online.target{wants}
After=network-online.target{after}{requires}

[Service]
ExecStart={exec_start}
Restart=always
RestartSec=5
# The daemons log to stderr; journald keeps it (journalctl -u {name}).
StandardOutput=journal
StandardError=journal
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
"""

_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def _quote(word: str) -> str:
    """systemd's ExecStart quoting: double quotes around anything but plain words."""
    if _SAFE.match(word):
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return f'"{escaped}"'


def unit_name(component: str) -> str:
    return f"{UNITS[component].program}.service"


def unit(component: str, config: ClusterConfig, source: str = "/etc/jota/cluster.yaml"
         ) -> str:
    """The systemd unit of `component`: the one template, its command from `command`."""
    u = UNITS[component]
    exec_start = " \\\n    ".join(" ".join(_quote(w) for w in line)
                                  for line in _lines(command(component, config)))
    return TEMPLATE.format(
        source=source, description=u.description, name=unit_name(component),
        wants="".join(f" {w}" for w in u.requires),
        after="".join(f" {a}" for a in u.after),
        requires="".join(f"\nRequires={r}" for r in u.requires),
        exec_start=exec_start)


def _lines(argv: list[str]) -> list[list[str]]:
    """ExecStart one flag a line: the program, then each flag with its value."""
    lines = [[argv[0]]]
    for word in argv[1:]:
        if word.startswith("--"):
            lines.append([word])
        else:
            lines[-1].append(word)
    return lines


def etcd_default(config: ClusterConfig, name: str) -> str:
    """/etc/default/etcd for Debian's etcd-server unit: one member on loopback, where
    only the apiserver beside it talks to it; progress notifications every second, which
    the apiserver's watch cache and bookmarks wait on (as `jota local up` runs it)."""
    client = config.etcd_servers[0]
    return "\n".join([
        "# Rendered by `python -m jota.deploy render`: read by Debian's etcd.service.",
        f"ETCD_NAME={name}",
        # Not the package's own member (`default`, started at install): a fresh one.
        "ETCD_DATA_DIR=/var/lib/etcd/jota",
        f"ETCD_LISTEN_CLIENT_URLS={client}",
        f"ETCD_ADVERTISE_CLIENT_URLS={client}",
        "ETCD_LISTEN_PEER_URLS=http://127.0.0.1:2380",
        "ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380",
        f"ETCD_INITIAL_CLUSTER={name}=http://127.0.0.1:2380",
        "ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL=1s",
        ""])


def docker_daemon_json() -> str:
    """A worker's /etc/docker/daemon.json: no docker0, as the local cluster's engines
    (`--bridge none`); jota-node makes the pod bridge on the node's pod CIDR."""
    return json.dumps({"bridge": "none"}, indent=2) + "\n"


def files(role: str, config: ClusterConfig, source: str = "/etc/jota/cluster.yaml"
          ) -> dict[str, str]:
    """Every file a machine of `role` needs, by path relative to its root ("/")."""
    out = {f"etc/systemd/system/{unit_name(c)}": unit(c, config, source)
           for c in components(role, config)}
    if role == CONTROL_PLANE:
        name = config.node.name if config.node is not None else "default"
        out["etc/default/etcd"] = etcd_default(config, name)
    else:
        out["etc/docker/daemon.json"] = docker_daemon_json()
    return out
