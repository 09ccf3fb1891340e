"""The local cluster's certificates and credentials, made once at `jota local up`.

The same identities kubeadm makes, in one folder (`<state>/pki`): a CA; the apiserver's
serving certificate (every address it is reached at, and the `kubernetes` Service's
names); its client certificate for node agents; a kubeconfig per daemon, each with
its own certificate; the admin's credentials for `~/.jota/config`; and the
key that encrypts Secrets in etcd. deploy/'s scripts make the same files on VMs. Nodes
have none here: they join with a bootstrap token (jota/deploy/join.py writes their
folder) and get their client certificate through a CSR.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from jota import pki
from jota.client import kubeconfig
from jota.client.kubeconfig import Credentials

# The names every Kubernetes apiserver certificate carries for in-cluster clients.
SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local", "localhost")
ADMIN = "kubernetes-admin"
COMPONENTS = {"controller-manager": "system:kube-controller-manager",
              "scheduler": "system:kube-scheduler",
              "proxy": "system:kube-proxy",
              "dns": "system:jota-dns",
              "ingress": "system:jota-ingress"}


@dataclass(frozen=True)
class Files:
    """Where each file of the cluster's PKI is, under one folder."""

    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def apiserver(self) -> tuple[Path, Path]:
        return self.root / "apiserver.crt", self.root / "apiserver.key"

    @property
    def kubelet_client(self) -> tuple[Path, Path]:
        return self.root / "apiserver-kubelet-client.crt", \
            self.root / "apiserver-kubelet-client.key"

    @property
    def prometheus(self) -> tuple[Path, Path]:
        """Prometheus' client certificate, for the node agents' HTTPS metrics port."""
        return self.root / "prometheus.crt", self.root / "prometheus.key"

    @property
    def encryption(self) -> Path:
        return self.root / "encryption.yaml"

    def kubeconfig(self, component: str) -> Path:
        return self.root / f"{component}.conf"

    # -- the flags that point daemons at these files ------------------------------------

    def apiserver_args(self, bootstrap_listen: str = "") -> list[str]:
        cert, key = self.apiserver
        client_cert, client_key = self.kubelet_client
        return ["--tls-cert-file", str(cert), "--tls-private-key-file", str(key),
                "--client-ca-file", str(self.ca),
                "--kubelet-client-certificate", str(client_cert),
                "--kubelet-client-key", str(client_key),
                "--encryption-provider-config", str(self.encryption),
                *(["--bootstrap-listen", bootstrap_listen] if bootstrap_listen else [])]

    def signing_args(self) -> list[str]:
        """The controller-manager's flags to sign approved node certificates with the CA."""
        return ["--cluster-signing-cert-file", str(self.ca),
                "--cluster-signing-key-file", str(self.ca_key)]


def encryption_config() -> dict[str, object]:
    """kube-apiserver's EncryptionConfiguration: Secrets under a fresh AES-GCM key, and
    identity last so values written before encryption was on still read."""
    secret = base64.b64encode(os.urandom(32)).decode()
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": ["secrets"], "providers": [
                {"aesgcm": {"keys": [{"name": "key1", "secret": secret}]}},
                {"identity": {}}]}]}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.touch(mode=0o600)
    tmp.write_bytes(data)
    tmp.replace(path)


def make(root: Path, *, server: str, hosts: list[str]) -> Files:
    """A new CA and everything the control plane needs; `server` is the address the
    daemons' kubeconfigs name, `hosts` every address the apiserver answers on."""
    files = Files(root)
    ca = pki.new_ca("jota-ca")
    _write(files.ca, ca.cert)
    _write(files.ca_key, ca.key)
    serving = pki.issue(ca, "kube-apiserver", hosts=[*hosts, *SERVICE_NAMES], server=True,
                        client=False)
    for path, data in zip(files.apiserver, (serving.cert, serving.key), strict=True):
        _write(path, data)
    kubelet = pki.issue(ca, pki.APISERVER_KUBELET_CLIENT, organizations=[pki.MASTERS])
    for path, data in zip(files.kubelet_client, (kubelet.cert, kubelet.key), strict=True):
        _write(path, data)
    for component, user in {"admin": ADMIN, **COMPONENTS}.items():
        groups = [pki.MASTERS] if component == "admin" else []
        pair = pki.issue(ca, user, organizations=groups)
        kubeconfig.write(files.kubeconfig(component), server,
                         Credentials(ca.cert, pair.cert, pair.key), name="jota-local")
    scraper = pki.issue(ca, "system:jota-prometheus")
    for path, data in zip(files.prometheus, (scraper.cert, scraper.key), strict=True):
        _write(path, data)
    _write(files.encryption, json.dumps(encryption_config()).encode())
    return files


def admin(files: Files) -> Credentials:
    return kubeconfig.load(files.kubeconfig("admin"))[1]
