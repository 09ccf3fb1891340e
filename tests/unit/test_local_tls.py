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


def test_a_node_is_itself_to_the_apiserver_and_serves_on_its_address(tmp_path: Path) -> None:
    files = tls.make(tmp_path, server="172.31.0.1:6443", hosts=["172.31.0.1"])
    tls.add_node(files, "jota-worker-1", "172.31.0.2", "172.31.0.1:6443")
    conf, cert_path, _ = files.node("jota-worker-1")
    _, creds = kubeconfig.load(conf)
    assert pki.identity_of(creds.cert) == pki.Identity("system:node:jota-worker-1",
                                                       (pki.NODES,))
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["172.31.0.2"]
    assert files.node_args("jota-worker-1")[:2] == ["--kubeconfig", str(conf)]


def test_a_joining_node_gets_flags_and_a_bootstrap_kubeconfig(tmp_path: Path) -> None:
    files = tls.make(tmp_path, server="172.31.0.1:6443", hosts=["172.31.0.1"])
    assert files.signing_args() == ["--cluster-signing-cert-file", str(files.ca),
                                    "--cluster-signing-key-file", str(files.ca_key)]
    path = tls.write_bootstrap(files, "w1", "172.31.0.1:6444", "abcdef.0123456789abcdef")
    server, creds = kubeconfig.load(path)
    assert server == "172.31.0.1:6444"
    assert creds.token == "abcdef.0123456789abcdef" and creds.ca == files.ca.read_bytes()
    assert not creds.cert  # no certificate: the node asks for its own
    args = files.join_args("w1")
    assert args[args.index("--bootstrap-kubeconfig") + 1] == str(path)
    assert args[args.index("--kubeconfig") + 1] == str(tmp_path / "node-w1" / "kubelet.conf")
