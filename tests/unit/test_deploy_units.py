"""Every daemon's flags from one cluster config, and the systemd units rendered from them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from jota.deploy import config as cfg
from jota.deploy import units

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "deploy" / "examples"
CP = cfg.parse({"controlPlaneAddress": "192.168.56.10",
                "node": {"name": "jota-cp", "address": "192.168.56.10"}})
WORKER = CP.with_node(cfg.NodeConfig("jota-worker-1", "192.168.56.11", "10.244.1.0/24"))


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_roles_run_kubeadms_daemons() -> None:
    assert units.components(units.CONTROL_PLANE, CP) == \
        ["apiserver", "controller-manager", "scheduler", "dns"]
    assert units.components(units.WORKER, WORKER) == ["node", "proxy"]
    # The control plane is no node: jota-routes gives its jota-ingress routes to the pods.
    assert units.components(units.CONTROL_PLANE,
                            cfg.parse({"controlPlaneAddress": "10.0.0.1", "ingress": True})
                            )[-2:] == ["routes", "ingress"]
    with pytest.raises(ValueError, match="--role: must be one of control-plane, worker"):
        units.components("master", CP)


@pytest.mark.parametrize(("component", "name", "value"), [
    ("apiserver", "--listen", "192.168.56.10:6443"),
    ("apiserver", "--bootstrap-listen", "192.168.56.10:6444"),
    ("apiserver", "--etcd-servers", "http://127.0.0.1:2379"),
    ("apiserver", "--client-ca-file", "/etc/jota/pki/ca.crt"),
    ("controller-manager", "--kubeconfig", "/etc/jota/pki/controller-manager.conf"),
    ("controller-manager", "--cluster-signing-cert-file", "/etc/jota/pki/ca.crt"),
    ("controller-manager", "--cluster-signing-key-file", "/etc/jota/pki/ca.key"),
    ("controller-manager", "--cluster-cidr", "10.244.0.0/16"),
    ("scheduler", "--kubeconfig", "/etc/jota/pki/scheduler.conf"),
    ("dns", "--listen", "192.168.56.10:53"),
    ("dns", "--service-ip", "10.96.0.10"),
])
def test_control_plane_flags(component: str, name: str, value: str) -> None:
    assert flag(units.args(component, CP), name) == value


@pytest.mark.parametrize(("component", "name", "value"), [
    ("node", "--apiserver", "192.168.56.10:6443"),
    ("node", "--node-name", "jota-worker-1"),
    ("node", "--node-ip", "192.168.56.11"),
    ("node", "--pod-cidr", "10.244.1.0/24"),
    ("node", "--cluster-cidr", "10.244.0.0/16"),
    ("node", "--bootstrap-kubeconfig", "/etc/jota/pki/bootstrap-kubelet.conf"),
    ("node", "--kubeconfig", "/etc/jota/pki/kubelet.conf"),
    ("node", "--cert-dir", "/var/lib/jota/pki"),
    ("node", "--cluster-dns", "10.96.0.10"),
    ("proxy", "--kubeconfig", "/etc/jota/pki/proxy.conf"),
    ("proxy", "--cluster-cidr", "10.244.0.0/16"),
    ("proxy", "--node-ip", "192.168.56.11"),
])
def test_worker_flags(component: str, name: str, value: str) -> None:
    assert flag(units.args(component, WORKER), name) == value


def test_routes_run_as_jota_ingress_and_skip_only_this_machines_node() -> None:
    with_ingress = cfg.parse({**cfg.dump(CP), "ingress": True})
    assert units.args("routes", with_ingress) == [
        "--apiserver", "192.168.56.10:6443", "--kubeconfig", "/etc/jota/pki/ingress.conf",
        "--node-name", "jota-cp"]
    assert "--node-name" not in units.args("routes", cfg.parse({"controlPlaneAddress":
                                                                "10.0.0.1"}))


def test_dns_upstream_none_asks_the_machine_and_empty_means_none() -> None:
    assert "--upstream" not in units.args("dns", CP)
    no_upstream = cfg.parse({**cfg.dump(CP), "dnsUpstream": ""})
    assert flag(units.args("dns", no_upstream), "--upstream") == ""


def test_node_daemons_need_the_node_section() -> None:
    bare = cfg.parse({"controlPlaneAddress": "10.0.0.1"})
    with pytest.raises(ValueError, match="node: the configuration has no `node` section"):
        units.args("node", bare)


def test_the_unit_runs_exactly_the_command() -> None:
    text = units.unit("node", WORKER)
    body = text.split("ExecStart=", 1)[1].split("\nRestart=", 1)[0]
    words = body.replace("\\\n", " ").split()
    assert words == units.command("node", WORKER)
    assert "Requires=docker.service" in text and "WantedBy=multi-user.target" in text


def test_words_systemd_would_split_are_quoted() -> None:
    quiet = cfg.parse({**cfg.dump(CP), "dnsUpstream": ""})
    assert '--upstream ""' in units.unit("dns", quiet)
    assert units._quote('a b"$c') == '"a b\\"$$c"'


def test_files_per_role() -> None:
    assert sorted(units.files(units.CONTROL_PLANE, CP)) == [
        "etc/default/etcd", *(f"etc/systemd/system/jota-{c}.service"
                              for c in ("apiserver", "controller-manager", "dns", "scheduler"))]
    assert sorted(units.files(units.WORKER, WORKER)) == [
        "etc/docker/daemon.json", "etc/systemd/system/jota-node.service",
        "etc/systemd/system/jota-proxy.service"]
    assert '"bridge": "none"' in units.docker_daemon_json()
    assert "ETCD_NAME=jota-cp" in units.etcd_default(CP, "jota-cp")


@pytest.mark.parametrize("role", units.ROLES)
def test_deploy_examples_are_what_render_makes(role: str) -> None:
    """deploy/examples/ shows the Vagrant machines' files; they must not drift."""
    source = f"deploy/examples/{role}.yaml"
    rendered = units.files(role, cfg.load(ROOT / source), source=source)
    on_disk = {str(p.relative_to(EXAMPLES / role)): p.read_text()
               for p in (EXAMPLES / role).rglob("*") if p.is_file()}
    assert on_disk == rendered, (
        f"deploy/examples/{role} is stale: python -m jota.deploy render --role {role} "
        f"--config {source} --root deploy/examples/{role}")


def test_the_cli_renders_and_refuses_bad_input(tmp_path: Path) -> None:
    conf = tmp_path / "cluster.yaml"
    ok = subprocess.run([sys.executable, "-m", "jota.deploy", "configure",
                         "--control-plane-address", "10.0.0.1", "--node-name", "w1",
                         "--node-address", "10.0.0.2", "--pod-cidr", "10.244.1.0/24",
                         "--out", str(conf)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    out = subprocess.run([sys.executable, "-m", "jota.deploy", "render", "--role", "worker",
                          "--config", str(conf), "--root", str(tmp_path / "root")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "root/etc/systemd/system/jota-node.service").exists()
    bad = subprocess.run([sys.executable, "-m", "jota.deploy", "configure",
                          "--control-plane-address", "10.0.0.1", "--node-name", "w1",
                          "--node-address", "w1.example", "--out", str(tmp_path / "x.yaml")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: node.address: 'w1.example' is not an IPv4 address"
    assert not (tmp_path / "x.yaml").exists()
    assert cfg.load(conf).ingress is False
    on = subprocess.run([sys.executable, "-m", "jota.deploy", "configure",
                         "--control-plane-address", "10.0.0.1", "--ingress",
                         "--out", str(conf)], capture_output=True, text=True, check=False)
    assert on.returncode == 0, on.stderr
    assert "ingress: true" in conf.read_text() and cfg.load(conf).ingress is True


def test_pki_once_then_join_files(tmp_path: Path) -> None:
    """The control plane's certificates are made once (a rerun keeps the CA the nodes
    trust); a worker's join folder holds the CA, a token kubeconfig for the bootstrap
    port, jota-proxy's kubeconfig and the cluster's configuration without a node."""
    from jota.client import kubeconfig

    conf = tmp_path / "cluster.yaml"
    conf.write_text(f"controlPlaneAddress: 10.0.0.1\npkiDir: {tmp_path / 'pki'}\n"
                    f"node: {{name: cp, address: 10.0.0.1}}\n")

    def deploy(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jota.deploy", *argv], capture_output=True,
                              text=True, check=False, timeout=60)

    assert deploy("pki", "--config", str(conf)).returncode == 0
    ca = (tmp_path / "pki" / "ca.crt").read_bytes()
    again = deploy("pki", "--config", str(conf))
    assert "keeping it" in again.stdout
    assert (tmp_path / "pki" / "ca.crt").read_bytes() == ca
    token = "abcdef.0123456789abcdef"
    out = deploy("join-files", "--config", str(conf), "--token", token,
                 "--out", str(tmp_path / "join"))
    assert out.returncode == 0, out.stderr
    server, creds = kubeconfig.load(tmp_path / "join" / "pki" / units.BOOTSTRAP_KUBECONFIG)
    assert (server, creds.token, creds.ca, creds.cert) == ("10.0.0.1:6444", token, ca, b"")
    assert (tmp_path / "join" / "pki" / "ca.crt").read_bytes() == ca
    assert kubeconfig.load(tmp_path / "join" / "pki" / "proxy.conf")[1].cert
    shared = cfg.load(tmp_path / "join" / "cluster.yaml")
    assert shared.node is None and shared.apiserver == "10.0.0.1:6443"

    out = deploy("serving-certs", "--config", str(conf), "--node", "w1=10.0.0.2",
                 "--out", str(tmp_path / "join"))
    assert out.returncode == 0, out.stderr
    cert = x509.load_pem_x509_certificate(
        (tmp_path / "join" / "nodes" / "w1" / units.SERVING_CERT).read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.2"]
    assert cert.issuer.rfc4514_string() == "CN=jota-ca"
    key = tmp_path / "join" / "nodes" / "w1" / units.SERVING_KEY
    assert key.stat().st_mode & 0o777 == 0o600
    bad = deploy("serving-certs", "--config", str(conf), "--node", "w2=10.0.0.3",
                 "--node", "w3", "--out", str(tmp_path / "join"))
    assert bad.stderr.strip() == "error: --node: 'w3' is not NAME=IPv4-ADDRESS"
    assert not (tmp_path / "join" / "nodes" / "w2").exists()


def test_every_program_is_a_console_script_of_its_module() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for component, unit in units.UNITS.items():
        assert f'{unit.program} = "{units.MODULES[component]}:main"' in text


def test_a_node_with_an_issued_serving_certificate_serves_it() -> None:
    assert "--tls-cert-file" not in units.args("node", WORKER)
    issued = WORKER.with_node(cfg.NodeConfig("jota-worker-1", "192.168.56.11",
                                             "10.244.1.0/24", serving_cert=True))
    argv = units.args("node", issued)
    assert flag(argv, "--tls-cert-file") == "/etc/jota/pki/kubelet-serving.crt"
    assert flag(argv, "--tls-private-key-file") == "/etc/jota/pki/kubelet-serving.key"
