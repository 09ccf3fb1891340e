"""The firewall's loop: watch NetworkPolicies, Pods and Namespaces, re-render, re-apply.

As the proxy's loop (node/proxy/proxy.py): a change marks the rules dirty, a sync runs
at most once per `min_sync_period` and at least once per `sync_period`. Pods change
often (every status update), so a render equal to the last applied one writes nothing,
except on the periodic sync, which puts back rules someone removed by hand.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from typing import Protocol

from jota.client import ListerWatcher, SharedInformerFactory
from node.netpol import rules

logger = logging.getLogger("jota-proxy.netpol")


class Applier(Protocol):
    def sync(self, rendered: str) -> None: ...

    def cleanup(self) -> None: ...


class PolicyController:
    def __init__(self, lw: ListerWatcher, node_name: str, applier: Applier, *,
                 min_sync_period: float = 1.0, sync_period: float = 30.0) -> None:
        self.node_name = node_name
        self.applier = applier
        self.min_sync_period = min_sync_period
        self.sync_period = sync_period
        self.factory = SharedInformerFactory(lw)
        self.policies = self.factory.informer_for("networkpolicies", "")
        self.pods = self.factory.informer_for("pods", "")
        self.namespaces = self.factory.informer_for("namespaces", "")
        self.syncs = 0
        self.failures = 0
        self._applied = ""
        self._dirty = asyncio.Event()
        for inf in (self.policies, self.pods, self.namespaces):
            inf.add_event_handler(on_add=lambda _o: self._dirty.set(),
                                  on_update=lambda _a, _b: self._dirty.set(),
                                  on_delete=lambda _o: self._dirty.set())

    def render(self) -> str:
        return rules.render(self.policies.store.list(), self.pods.store.list(),
                            self.namespaces.store.list(), node_name=self.node_name)

    async def sync_once(self, force: bool = False) -> None:
        text = self.render()
        if text == self._applied and not force:
            return
        start = time.monotonic()
        try:
            await asyncio.to_thread(self.applier.sync, text)
        except (OSError, subprocess.SubprocessError) as e:
            self.failures += 1
            self._applied = ""
            logger.error("sync of network policy rules failed: %s", e)
            self._dirty.set()
            return
        self._applied = text
        self.syncs += 1
        logger.info("synced network policy rules in %.1f ms (%d policies)",
                    (time.monotonic() - start) * 1000, len(self.policies.store.list()))

    async def run(self) -> None:
        """Until cancelled; rules stay in place (`cleanup()` removes them)."""
        self.factory.start()
        try:
            await self.factory.wait_for_cache_sync()
            last = -float("inf")
            self._dirty.set()
            while True:
                wait = max(0.0, last + self.min_sync_period - time.monotonic())
                if wait:
                    await asyncio.sleep(wait)
                periodic = False
                try:
                    await asyncio.wait_for(self._dirty.wait(), self.sync_period)
                except TimeoutError:
                    periodic = True
                self._dirty.clear()
                last = time.monotonic()
                await self.sync_once(force=periodic)
        finally:
            await self.factory.shutdown()

    async def cleanup(self) -> None:
        await asyncio.to_thread(self.applier.cleanup)

