"""The proxy's loop: watch Services and EndpointSlices, re-render, re-apply, not too often.

As kube-proxy's BoundedFrequencyRunner: any change marks the rules dirty; a sync runs
at most once per `min_sync_period` (a rolling update of 100 pods is a handful of syncs,
not 100), and at least once per `sync_period`. Syncs write only the chains that changed;
once an hour (and after a failure) a full sync rewrites everything and re-checks the jump
rules, so rules someone deleted by hand come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from jota.client import ListerWatcher, SharedInformerFactory
from node.proxy import rules

logger = logging.getLogger("jota-proxy")


FULL_SYNC_PERIOD = 3600.0  # kube-proxy's forced full sync, between partial ones


class Applier(Protocol):
    def sync(self, rendered: str, full: bool = False) -> bool: ...

    def cleanup(self) -> None: ...


@dataclass
class ProxyConfig:
    node_name: str
    node_ips: Sequence[str] = ()
    cluster_cidr: str = ""
    masquerade_all: bool = False
    min_sync_period: float = 1.0
    sync_period: float = 30.0


@dataclass
class SyncStats:
    syncs: int = 0
    failures: int = 0
    full_syncs: int = 0
    last_duration: float = 0.0
    last_rules: str = field(default="", repr=False)


class Proxy:
    def __init__(self, lw: ListerWatcher, config: ProxyConfig, applier: Applier) -> None:
        self.config = config
        self.applier = applier
        self.factory = SharedInformerFactory(lw)
        self.services = self.factory.informer_for("services", "")
        self.slices = self.factory.informer_for("endpointslices", "")
        self.stats = SyncStats()
        self._dirty = asyncio.Event()
        self._last_full = -float("inf")
        for inf in (self.services, self.slices):
            inf.add_event_handler(on_add=lambda _o: self._dirty.set(),
                                  on_update=lambda _a, _b: self._dirty.set(),
                                  on_delete=lambda _o: self._dirty.set())

    def render(self) -> str:
        c = self.config
        return rules.render(self.services.store.list(), self.slices.store.list(),
                            node_name=c.node_name, node_ips=c.node_ips,
                            cluster_cidr=c.cluster_cidr, masquerade_all=c.masquerade_all)

    async def sync_once(self) -> None:
        start = time.monotonic()
        text = self.render()
        full = start - self._last_full >= FULL_SYNC_PERIOD
        try:
            full = await asyncio.to_thread(self.applier.sync, text, full)
        except (OSError, subprocess.SubprocessError) as e:
            self.stats.failures += 1
            logger.error("sync of proxy rules failed: %s", e)
            self._dirty.set()  # try again after min_sync_period
            return
        if full:
            self._last_full = start
            self.stats.full_syncs += 1
        self.stats.syncs += 1
        self.stats.last_rules = text
        self.stats.last_duration = time.monotonic() - start
        logger.info("synced proxy rules (%s) in %.1f ms (%d services, %d endpoint slices)",
                    "full" if full else "partial", self.stats.last_duration * 1000,
                    len(self.services.store.list()), len(self.slices.store.list()))

    async def run(self) -> None:
        """Until cancelled; rules stay in place (`cleanup()` removes them)."""
        self.factory.start()
        try:
            await self.factory.wait_for_cache_sync()
            last = -float("inf")
            self._dirty.set()
            while True:
                wait = max(0.0, last + self.config.min_sync_period - time.monotonic())
                if wait:
                    await asyncio.sleep(wait)
                with contextlib.suppress(TimeoutError):  # else: the periodic full resync
                    await asyncio.wait_for(self._dirty.wait(), self.config.sync_period)
                self._dirty.clear()
                last = time.monotonic()
                await self.sync_once()
        finally:
            await self.factory.shutdown()

    async def cleanup(self) -> None:
        await asyncio.to_thread(self.applier.cleanup)
