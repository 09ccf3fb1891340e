"""Keeping the Node object and its Lease current: the agent's half of "is it alive".

Registration creates the Node (or refreshes an existing one's status); the Lease
in kube-node-lease is renewed every 10 s, the cheap heartbeat the node lifecycle
controller watches; the Node's status is rewritten every minute, as kubelet's
nodeStatusReportFrequency. What is written comes from the pure `nodestatus`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from jota.api import errors
from jota.client import Client
from node.agent import nodestatus

logger = logging.getLogger(__name__)

LEASE_RENEW = 10.0
STATUS_REPORT = 60.0
# kubelet's registration backoff: from 100 ms, doubling, at most 7 s between tries.
REGISTER_FIRST_DELAY = 0.1
REGISTER_MAX_DELAY = 7.0


class Heartbeat:
    def __init__(self, client: Client, config: nodestatus.NodeConfig,
                 machine: nodestatus.MachineInfo) -> None:
        self.client = client
        self.config = config
        self.machine = machine
        self.name = config.name
        self.node_uid = ""

    async def register(self) -> None:
        """Register, retrying until it works, as kubelet does: on real machines the agent
        often starts before the apiserver answers (or before its certificate is allowed),
        and a supervisor restart loop would hide why."""
        delay = REGISTER_FIRST_DELAY
        while True:
            try:
                await self._register_once()
                return
            except errors.APIError as e:
                logger.warning("Unable to register node with API server: %s (retrying in "
                               "%.1fs)", e, delay, extra={"node": self.name})
            await asyncio.sleep(delay)
            delay = min(delay * 2, REGISTER_MAX_DELAY)

    async def _register_once(self) -> None:
        node = nodestatus.node_object(self.machine, self.config, datetime.now(UTC))
        try:
            created = await self.client.create("nodes", node)
            self.node_uid = created["metadata"]["uid"]
            logger.info("registered node", extra={"node": self.name})
        except errors.AlreadyExists:
            existing = await self.client.get("nodes", self.name)
            self.node_uid = existing["metadata"]["uid"]
            await self.update_status()

    async def update_status(self) -> None:
        for _ in range(5):
            node = await self.client.get("nodes", self.name)
            node["status"] = nodestatus.node_status(self.machine, self.config,
                                                    datetime.now(UTC), previous=node)
            try:
                await self.client.update_status("nodes", node)
                return
            except errors.Conflict:
                continue

    async def report_status(self) -> None:
        while True:
            await asyncio.sleep(STATUS_REPORT)
            try:
                await self.update_status()
            except errors.APIError as e:
                logger.warning("cannot update node status: %s", e, extra={"node": self.name})

    async def renew_lease(self) -> None:
        while True:
            lease = nodestatus.lease_object(self.name, self.node_uid, datetime.now(UTC))
            try:
                try:
                    current = await self.client.get("leases", self.name,
                                                    nodestatus.LEASE_NAMESPACE)
                    current["spec"] = lease["spec"]
                    await self.client.update("leases", current, nodestatus.LEASE_NAMESPACE)
                except errors.NotFound:
                    await self.client.create("leases", lease, nodestatus.LEASE_NAMESPACE)
            except errors.APIError as e:
                logger.warning("cannot renew lease: %s", e, extra={"node": self.name})
            await asyncio.sleep(LEASE_RENEW)
