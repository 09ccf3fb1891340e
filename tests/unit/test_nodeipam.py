"""Pod CIDRs are handed out lowest-free-first and never overlap; the flags that shape
them are checked at start; running out is an event and a retry, not a traceback."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from controlplane.controllers import main
from controlplane.controllers.nodeipam import CIDRsExhausted, NodeIPAMController, next_free
from jota.api import errors
from jota.api.meta import Obj
from jota.client import RetryLater, SharedInformerFactory


@pytest.mark.parametrize("taken,expected", [
    ([], "10.244.0.0/24"),
    (["10.244.0.0/24"], "10.244.1.0/24"),
    (["10.244.0.0/24", "10.244.2.0/24"], "10.244.1.0/24"),
    (["10.244.0.0/23"], "10.244.2.0/24"),  # a node that brought a bigger subnet
    (["not a cidr", "10.244.0.0/24"], "10.244.1.0/24"),
])
def test_lowest_free_subnet(taken: list[str], expected: str):
    assert next_free("10.244.0.0/16", 24, taken) == expected


def test_exhaustion_is_an_error():
    with pytest.raises(CIDRsExhausted, match=re.escape("no free /24 left in 10.244.0.0/23")):
        next_free("10.244.0.0/23", 24, ["10.244.0.0/24", "10.244.1.0/24"])


# ---- the flags ------------------------------------------------------------------------------


def _parse(*argv: str) -> Any:
    parser = main.build_parser()
    args = parser.parse_args(list(argv))
    return main.controller_options(args)


def test_flag_defaults_are_kubes():
    opts = _parse()
    assert (opts.cluster_cidr, opts.node_cidr_mask_size, opts.terminated_pod_gc_threshold) \
        == ("10.244.0.0/16", 24, 12500)


def test_flags_are_passed_through():
    opts = _parse("--cluster-cidr", "10.8.0.0/14", "--node-cidr-mask-size", "26",
                  "--terminated-pod-gc-threshold", "100")
    assert (opts.cluster_cidr, opts.node_cidr_mask_size, opts.terminated_pod_gc_threshold) \
        == ("10.8.0.0/14", 26, 100)


def test_host_bits_are_dropped_as_go_parses_cidrs():
    assert _parse("--cluster-cidr", "10.244.7.1/16").cluster_cidr == "10.244.0.0/16"


@pytest.mark.parametrize("argv,message", [
    (["--cluster-cidr", "10.244.0.0/33"],
     "argument --cluster-cidr: invalid CIDR address: 10.244.0.0/33"),
    (["--cluster-cidr", "pods"], "argument --cluster-cidr: invalid CIDR address: pods"),
    (["--cluster-cidr", "fd00::/48"],
     "argument --cluster-cidr: fd00::/48 is not an IPv4 CIDR"),
    (["--node-cidr-mask-size", "x"], "argument --node-cidr-mask-size: invalid int value"),
    (["--node-cidr-mask-size", "15"],
     "--node-cidr-mask-size: 15 is shorter than the prefix of --cluster-cidr 10.244.0.0/16"),
    (["--cluster-cidr", "10.0.0.0/8", "--node-cidr-mask-size", "33"],
     "--node-cidr-mask-size: 33 is not an IPv4 prefix length (1-32)"),
])
def test_bad_flags_are_usage_errors(argv: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        main.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_cluster_prefix_itself_is_a_valid_node_mask():
    assert _parse("--cluster-cidr", "10.244.0.0/24").node_cidr_mask_size == 24


# ---- running out ----------------------------------------------------------------------------


class FakeClient:
    """Answers the controller's writes; the node cache is fed by the test."""

    def __init__(self, nodes: list[Obj]) -> None:
        self.nodes = {n["metadata"]["name"]: n for n in nodes}
        self.events: list[Obj] = []
        self.patched: dict[str, str] = {}

    async def get(self, resource: str, name: str, namespace: str = "") -> Obj:
        if name not in self.nodes:
            raise errors.NotFound.of("nodes", name)
        return self.nodes[name]

    async def patch(self, resource: str, name: str, patch: Any, namespace: str = "",
                    **_: Any) -> Obj:
        if resource == "nodes":
            self.patched[name] = patch["spec"]["podCIDR"]
        return {}

    async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        self.events.append(obj)
        return obj


def node(name: str, cidr: str = "") -> Obj:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1"},
            "spec": {"podCIDR": cidr} if cidr else {}}


async def test_exhaustion_records_cidr_not_available_and_retries_later(
        caplog: pytest.LogCaptureFixture):
    nodes = [node("a", "10.244.0.0/24"), node("b", "10.244.1.0/24"), node("c")]
    fake = FakeClient(nodes)
    c = NodeIPAMController(fake, SharedInformerFactory(fake),  # type: ignore[arg-type]
                           cluster_cidr="10.244.0.0/23", node_mask=24)
    c.recorder.sink = fake
    for n in nodes:
        c.informer.store.update(n)
    try:
        full = re.escape("no free /24 left in 10.244.0.0/23")
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                with pytest.raises(RetryLater, match=full):
                    await c.sync("c")
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and not any(r.exc_info for r in warnings)
        await c.recorder.shutdown()
        event = fake.events[0]
        assert (event["type"], event["reason"], event["message"]) == (
            "Normal", "CIDRNotAvailable", "Node c status is now: CIDRNotAvailable")
        assert event["involvedObject"]["name"] == "c"
        assert event["source"]["component"] == "cidrAllocator"

        # Node b goes away: its subnet is free again, and c is retried at once.
        gone = c.informer.store.get_by_key("b")
        c.informer.store.delete(gone)
        c._retry_starved()
        assert len(c.queue) == 1
        await c.sync("c")
        assert fake.patched == {"c": "10.244.1.0/24"}
        assert c.starved == set()
    finally:
        c.queue.shut_down()
        await c.recorder.shutdown()
