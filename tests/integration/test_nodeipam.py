"""Node IPAM with `--cluster-cidr`/`--node-cidr-mask-size`, run out of subnets.

The module runs its own etcd + apiserver + controller-manager: the session's uses the
default 10.244.0.0/16 and holds the same leader Lease. Nodes are plain Node objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon, start_apiserver, start_controller_manager, start_etcd
from tests.integration.node_helpers import eventually


@pytest.fixture(scope="module")
def small_cidr_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Room for two nodes: a /24 cut into /25s."""
    root = tmp_path_factory.mktemp("nodeipam")
    etcd = start_etcd(root / "etcd")
    api = start_apiserver(etcd.address, root)
    cm = None
    try:
        cm = start_controller_manager(api.address, root, extra_args=[
            "--cluster-cidr", "10.9.0.0/24", "--node-cidr-mask-size", "25",
            "--leader-elect", "false"])
        api.extra["cm"] = cm
        yield api
    finally:
        if cm is not None:
            cm.stop()
        api.stop()
        etcd.stop()


@pytest.fixture
async def ipam(small_cidr_cluster: Daemon) -> AsyncIterator[Client]:
    c = Client(small_cidr_cluster.address, timeout=30)
    yield c
    await c.close()


async def make_node(c: Client, name: str) -> None:
    await c.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


async def pod_cidr(c: Client, name: str) -> str:
    return str((await c.get("nodes", name)).get("spec", {}).get("podCIDR") or "")


async def test_nodes_get_subnets_of_the_flags_and_wait_when_none_is_left(
        ipam: Client, small_cidr_cluster: Daemon) -> None:
    for name in ("a", "b"):
        await make_node(ipam, name)
    cidrs = {await eventually(lambda n=name: pod_cidr(ipam, n), timeout=60,
                              what=f"node {name}'s pod CIDR") for name in ("a", "b")}
    assert cidrs == {"10.9.0.0/25", "10.9.0.128/25"}

    await make_node(ipam, "c")

    async def not_available() -> list[dict[str, object]]:
        events = (await ipam.list("events", "default"))["items"]
        return [e for e in events if e["involvedObject"].get("name") == "c"
                and e["reason"] == "CIDRNotAvailable"]
    event = (await eventually(not_available, timeout=60, what="a CIDRNotAvailable event"))[0]
    assert (event["type"], event["message"]) == ("Normal",
                                                 "Node c status is now: CIDRNotAvailable")
    assert await pod_cidr(ipam, "c") == ""

    freed = await pod_cidr(ipam, "a")
    await ipam.delete("nodes", "a")
    assert await eventually(lambda: pod_cidr(ipam, "c"), timeout=60,
                            what="node c's pod CIDR once a's is free") == freed

    log = small_cidr_cluster.extra["cm"].log.read_text()
    assert "Traceback" not in log, log[-4000:]
    warned = [line for line in log.splitlines() if "no pod CIDR available" in line]
    assert len(warned) == 1, warned
    for name in ("b", "c"):
        with contextlib.suppress(errors.NotFound):
            await ipam.delete("nodes", name)
