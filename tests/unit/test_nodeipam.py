"""Pod CIDRs are handed out lowest-free-first and never overlap."""

from __future__ import annotations

import re

import pytest

from controlplane.controllers.nodeipam import CIDRsExhausted, next_free


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
