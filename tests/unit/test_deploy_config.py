"""/etc/jota/cluster.yaml: defaults as Kubernetes', every bad field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jota.deploy import config as cfg


def test_only_the_control_plane_address_is_required() -> None:
    c = cfg.parse({"controlPlaneAddress": "192.168.56.10"})
    assert (c.apiserver, c.bootstrap_server) == ("192.168.56.10:6443", "192.168.56.10:6444")
    assert (c.cluster_cidr, c.service_cidr, c.cluster_dns) == \
        ("10.244.0.0/16", "10.96.0.0/12", "10.96.0.10")
    assert c.etcd_servers == ("http://127.0.0.1:2379",)
    assert c.node is None


def test_a_dumped_config_reads_back_the_same() -> None:
    c = cfg.parse({"controlPlaneAddress": "10.0.0.1", "dnsUpstream": "",
                   "node": {"name": "w1", "address": "10.0.0.2", "podCIDR": "10.244.1.0/24"}})
    assert cfg.parse(yaml.safe_load(yaml.safe_dump(cfg.dump(c)))) == c


def test_several_apiservers_are_listed_for_clients_and_joining_nodes() -> None:
    c = cfg.parse({"controlPlaneAddress": "10.0.0.1",
                   "apiserverEndpoints": ["10.0.0.1:6443", "10.0.0.2:6443"],
                   "bootstrapEndpoints": ["10.0.0.1:6444", "10.0.0.2:6444"]})
    assert c.apiserver == "10.0.0.1:6443,10.0.0.2:6443"
    assert c.bootstrap_server == "10.0.0.1:6444,10.0.0.2:6444"
    assert (c.apiserver_listen, c.bootstrap_listen) == ("10.0.0.1:6443", "10.0.0.1:6444")
    assert cfg.parse(yaml.safe_load(yaml.safe_dump(cfg.dump(c)))) == c
    assert "apiserverEndpoints" not in cfg.dump(cfg.parse({"controlPlaneAddress": "10.0.0.1"}))


@pytest.mark.parametrize(("data", "message"), [
    ({}, "controlPlaneAddress: required"),
    ({"controlPlaneAddress": "cp.example"}, "controlPlaneAddress: 'cp.example' is not an IPv4"),
    ({"controlPlaneAddress": "10.0.0.1", "apiserverPort": 70000},
     "apiserverPort: 70000 is not a port number"),
    ({"controlPlaneAddress": "10.0.0.1", "clusterCIDR": "10.244.0.0/33"},
     "clusterCIDR: '10.244.0.0/33' is not an IPv4 CIDR"),
    ({"controlPlaneAddress": "10.0.0.1", "etcdServers": []},
     "etcdServers: must be a non-empty list"),
    ({"controlPlaneAddress": "10.0.0.1", "apiserverEndpoints": "10.0.0.1:6443"},
     "apiserverEndpoints: must be a non-empty list of HOST:PORTs"),
    ({"controlPlaneAddress": "10.0.0.1", "podCidr": "x"}, "podCidr: unknown field"),
    ({"controlPlaneAddress": "10.0.0.1", "node": {"name": "w1"}}, "node.address: required"),
    ({"controlPlaneAddress": "10.0.0.1", "node": {"name": "w1", "address": "10.0.0.2",
                                                  "podCIDR": "nope"}},
     "node.podCIDR: 'nope' is not an IPv4 CIDR"),
    ({"controlPlaneAddress": "10.0.0.1", "kind": "InitConfiguration"},
     "kind: must be ClusterConfiguration"),
    ([], "must be a mapping"),
])
def test_bad_fields_are_named(data: object, message: str) -> None:
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.parse(data)


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("controlPlaneAddress: 10.0.0.1\ningress: maybe\n")
    with pytest.raises(cfg.ConfigError, match=f"{path}: ingress: must be true or false"):
        cfg.load(path)
    with pytest.raises(cfg.ConfigError, match="No such file"):
        cfg.load(tmp_path / "missing.yaml")
