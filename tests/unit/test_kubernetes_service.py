"""The default/kubernetes Service documents the apiserver keeps (pure parts)."""

from __future__ import annotations

import pytest

from controlplane.apiserver.bootstrap import (
    advertise_address,
    endpoint_slice_of,
    endpoints_of,
    first_address,
    kubernetes_service,
    service_update,
    serving_port,
)


@pytest.mark.parametrize("cidr,ip", [("10.96.0.0/12", "10.96.0.1"),
                                     ("10.0.0.0/24", "10.0.0.1"),
                                     ("fd00::/108", "fd00::1")])
def test_first_address_of_the_service_range(cidr: str, ip: str) -> None:
    assert first_address(cidr) == ip


@pytest.mark.parametrize("listen,given,address", [
    ("127.0.0.1:6443", "", "127.0.0.1"),
    ("10.1.2.3:6443", "", "10.1.2.3"),
    ("[::1]:6443", "", "::1"),
    ("localhost:6443", "", "127.0.0.1"),
    ("0.0.0.0:6443", "192.168.5.5", "192.168.5.5"),
])
def test_advertise_address(listen: str, given: str, address: str) -> None:
    assert advertise_address(listen, given) == address


def test_service_and_endpoints() -> None:
    svc = kubernetes_service("10.96.0.1", 6443)
    assert svc["spec"] == {"type": "ClusterIP", "clusterIP": "10.96.0.1",
                           "sessionAffinity": "None", "ports": [
                               {"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": 6443}]}
    assert service_update(svc, 6443) is None
    moved = service_update(svc, 7443)
    assert moved is not None and moved["spec"]["ports"][0]["targetPort"] == 7443
    ep = endpoints_of(["10.0.0.2", "10.0.0.1"], 6443)
    assert ep["subsets"] == [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                              "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
    assert ep["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    assert "subsets" not in endpoints_of([], 6443)
    es = endpoint_slice_of(["10.0.0.1"], 6443)
    assert (es["addressType"], es["endpoints"]) == (
        "IPv4", [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}])
    assert es["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}


def test_apiservers_sharing_an_address_agree_on_one_port() -> None:
    # Two apiservers of `jota local up --control-planes 2` on one address: both name the
    # first live one's port, so neither rewrites the other's Endpoints each round.
    leases = [("127.0.0.1", 6444), ("127.0.0.1", 6443)]
    assert serving_port(leases, 6443) == serving_port(leases, 6444) == 6443
    assert serving_port([("127.0.0.1", 6444)], 6443) == 6444  # the first one is gone
    assert serving_port([], 6444) == 6444
