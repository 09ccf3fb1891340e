"""The local cluster's PKI folder: every identity kubeadm would make, and the flags."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509

from jota import pki
from jota.client import kubeconfig
from jota.local import tls


def test_the_control_plane_gets_its_certificates_and_kubeconfigs(tmp_path: Path) -> None:
    files = tls.make(tmp_path / "pki", server="172.31.0.1:6443",
                     hosts=["127.0.0.1", "172.31.0.1"])
    cert = x509.load_pem_x509_certificate(files.apiserver[0].read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == \
        {"127.0.0.1", "172.31.0.1"}
    assert "kubernetes.default.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)
    server, creds = kubeconfig.load(files.kubeconfig("scheduler"))
    assert server == "172.31.0.1:6443"
    assert pki.identity_of(creds.cert) == pki.Identity("system:kube-scheduler")
    assert pki.identity_of(tls.admin(files).cert) == \
        pki.Identity("kubernetes-admin", (pki.MASTERS,))
    assert pki.identity_of(files.kubelet_client[0].read_bytes()).user == \
        "kube-apiserver-kubelet-client"
    # Private keys are for their owner only.
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.kubeconfig("admin").stat().st_mode) == 0o600
    args = files.apiserver_args("172.31.0.1:6444")
    assert args[args.index("--client-ca-file") + 1] == str(files.ca)
    assert args[-2:] == ["--bootstrap-listen", "172.31.0.1:6444"]


def test_the_controller_manager_signs_with_the_ca(tmp_path: Path) -> None:
    files = tls.make(tmp_path, server="172.31.0.1:6443", hosts=["172.31.0.1"])
    assert files.signing_args() == ["--cluster-signing-cert-file", str(files.ca),
                                    "--cluster-signing-key-file", str(files.ca_key)]
