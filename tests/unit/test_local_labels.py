"""jota/local finds the agent's containers by the labels the agent writes."""

from __future__ import annotations

from jota.local.docker import CLUSTER_LABEL, MANAGED_LABEL
from node.agent.agent import CLUSTER_LABEL as AGENT_CLUSTER_LABEL
from node.runtime.interface import MANAGED


def test_cleanup_labels_match_the_agents():
    assert MANAGED_LABEL == MANAGED
    assert CLUSTER_LABEL == AGENT_CLUSTER_LABEL
