"""Registration outlives an apiserver that does not answer yet, as kubelet's does."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jota.api import errors
from jota.api.meta import Obj
from node.agent import heartbeat, nodestatus


class FlakyClient:
    """Refuses the first `failures` creates as an unreachable apiserver would."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.creates = 0

    async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        self.creates += 1
        if self.creates <= self.failures:
            raise errors.ServiceUnavailable("connection refused")
        return {**obj, "metadata": {**obj["metadata"], "uid": "uid-1"}}


def _heartbeat(client: Any) -> heartbeat.Heartbeat:
    config = nodestatus.NodeConfig(name="n1", node_ip="127.0.0.1", runtime_version="")
    machine = nodestatus.machine_info("/")
    return heartbeat.Heartbeat(client, config, machine)


async def test_register_retries_until_the_apiserver_answers(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(heartbeat, "REGISTER_FIRST_DELAY", 0.001)
    monkeypatch.setattr(heartbeat, "REGISTER_MAX_DELAY", 0.004)
    client = FlakyClient(failures=4)
    hb = _heartbeat(client)
    with caplog.at_level(logging.WARNING):
        await hb.register()
    assert client.creates == 5
    assert hb.node_uid == "uid-1"
    assert sum("Unable to register node" in r.getMessage() for r in caplog.records) == 4
