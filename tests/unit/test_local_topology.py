"""The local cluster's HA layout: names, ports and flags of each replica (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jota.local import backup, topology
from tests.unit.fakeclient import run_cli


def test_one_of_each_keeps_the_single_machine_names_and_ports() -> None:
    assert topology.names("apiserver", 1) == ["apiserver"]
    [etcd] = topology.etcd_members(1)
    assert (etcd.component, etcd.name, etcd.client_port, etcd.peer_port) == (
        "etcd", "jota-local", 23790, 23800)
    assert topology.apiserver_addresses("127.0.0.1", 1) == "127.0.0.1:6443"
    assert topology.etcd_servers(1) == "http://127.0.0.1:23790"


def test_three_etcd_members_form_one_cluster() -> None:
    members = topology.etcd_members(3)
    assert [m.component for m in members] == ["etcd-1", "etcd-2", "etcd-3"]
    assert [m.client_port for m in members] == [23790, 23791, 23792]
    assert topology.initial_cluster(members) == (
        "jota-local-1=http://127.0.0.1:23800,jota-local-2=http://127.0.0.1:23801,"
        "jota-local-3=http://127.0.0.1:23802")
    assert topology.etcd_servers(3) == ("http://127.0.0.1:23790,http://127.0.0.1:23791,"
                                        "http://127.0.0.1:23792")


def test_two_control_planes_have_ports_of_their_own() -> None:
    assert topology.apiserver_addresses("172.31.0.1", 2) == "172.31.0.1:6443,172.31.0.1:6444"
    assert [topology.metrics_port(k, i) for k in ("apiserver", "controller-manager",
                                                   "scheduler") for i in (0, 1)] == [
        8080, 8081, 10257, 10267, 10259, 10269]
    assert topology.control_plane_metrics(2) == (
        "apiserver=127.0.0.1:8080,apiserver=127.0.0.1:8081,"
        "scheduler=127.0.0.1:10259,scheduler=127.0.0.1:10269,"
        "controller-manager=127.0.0.1:10257,controller-manager=127.0.0.1:10267")


@pytest.mark.parametrize(("name", "kind", "index"), [
    ("etcd", "etcd", 0), ("etcd-3", "etcd", 2), ("apiserver-2", "apiserver", 1),
    ("controller-manager", "controller-manager", 0), ("scheduler-1", "scheduler", 0)])
def test_kind_and_index_of_a_replica(name: str, kind: str, index: int) -> None:
    assert (topology.kind_of(name), topology.index_of(name)) == (kind, index)


@pytest.mark.parametrize("name", ["dns", "node/jota-worker-1", "etcd-0", "apiserver-x"])
def test_other_components_are_no_replicas(name: str) -> None:
    assert topology.kind_of(name) == ""


@pytest.mark.parametrize(("members", "planes", "flag"), [
    (2, 1, "--etcd-members must be 1 or 3, not 2"), (5, 1, "--etcd-members"),
    (1, 3, "--control-planes must be 1 or 2, not 3"), (3, 0, "--control-planes")])
def test_other_layouts_are_refused_naming_the_flag(members: int, planes: int,
                                                   flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        topology.check(members, planes)


def test_identity_survives_a_restart_and_names_the_replica() -> None:
    assert topology.identity("scheduler-2") == topology.identity("scheduler-2")
    assert topology.identity("scheduler-2").endswith("_scheduler-2")


def test_every_member_is_restored_into_the_same_cluster(tmp_path: Path) -> None:
    members = topology.etcd_members(3)
    cluster = topology.initial_cluster(members)
    args = backup.restore_command(tmp_path / "s.db", tmp_path / "etcd-2", "jota-local-2",
                                  members[1].peer_url, cluster)
    assert args[args.index("--initial-cluster") + 1] == cluster
    assert args[args.index("--name") + 1] == "jota-local-2"
    assert args[args.index("--initial-advertise-peer-urls") + 1] == "http://127.0.0.1:23801"


@pytest.mark.parametrize(("args", "message"), [
    (["--etcd-members", "2"], "error: --etcd-members must be 1 or 3, not 2"),
    (["--control-planes", "3"], "error: --control-planes must be 1 or 2, not 3")])
def test_local_up_refuses_other_layouts_before_starting_anything(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        args: list[str], message: str) -> None:
    monkeypatch.setenv("JOTA_LOCAL_DIR", str(tmp_path / "local"))
    monkeypatch.setenv("JOTA_CONFIG", str(tmp_path / "config"))
    assert run_cli(["local", "up", *args]) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "local").exists()


def test_nodes_join_on_a_bootstrap_port_past_the_apiservers() -> None:
    assert topology.bootstrap_addresses("172.31.0.1", 1) == ["172.31.0.1:6445"]
    assert topology.bootstrap_addresses("172.31.0.1", 2) == ["172.31.0.1:6445",
                                                             "172.31.0.1:6446"]


def test_local_daemons_take_their_flags_from_deploy_units(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`jota local up` runs what the VMs' units run: one ClusterConfig, units.args."""
    from jota.deploy import units
    from jota.local.controlplane import cluster_config, node_config
    from jota.local.state import State

    monkeypatch.setenv("JOTA_LOCAL_DIR", str(tmp_path))
    state = State(etcd_members=3, control_planes=2)
    config = cluster_config(state)

    def flag(component: str, name: str, conf: object = config) -> str:
        argv = units.args(component, conf)  # type: ignore[arg-type]
        return argv[argv.index(name) + 1]

    assert flag("scheduler", "--apiserver") == "127.0.0.1:6443,127.0.0.1:6444"
    assert flag("apiserver", "--etcd-servers").count(",") == 2
    assert flag("apiserver", "--bootstrap-listen") == "127.0.0.1:6445"
    assert flag("controller-manager", "--cluster-signing-key-file") == \
        str(tmp_path / "pki" / "ca.key")
    node = node_config(state, "jota-local-1", "127.0.0.1", "",
                       "unix:///var/run/docker.sock",
                       tmp_path / "nodes" / "jota-local-1")
    folder = tmp_path / "nodes" / "jota-local-1" / "pki"
    assert node.bootstrap_server == "127.0.0.1:6445,127.0.0.1:6446"
    assert flag("node", "--bootstrap-kubeconfig", node) == str(folder / "bootstrap-kubelet.conf")
    assert flag("node", "--kubeconfig", node) == str(folder / "kubelet.conf")
    assert flag("node", "--cert-dir", node) == str(folder)
    assert flag("node", "--tls-cert-file", node) == str(folder / "kubelet-serving.crt")
    # No jota-dns running (not root) and one node on Docker's bridge: neither flag.
    assert "--cluster-dns" not in units.args("node", node)
    assert "--cluster-cidr" not in units.args("proxy", node)
    assert flag("proxy", "--kubeconfig", node) == str(folder / "proxy.conf")
