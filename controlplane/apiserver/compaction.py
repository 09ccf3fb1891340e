"""Periodic etcd compaction, as kube-apiserver does every 5 minutes.

Each round compacts up to the revision seen one interval earlier, so watchers
always keep at least one interval of history to resume from.
"""

from __future__ import annotations

import asyncio
import logging

from controlplane.storage.etcd import Etcd

logger = logging.getLogger(__name__)


async def compact_periodically(etcd: Etcd, interval: float) -> None:
    previous = 0
    while True:
        await asyncio.sleep(interval)
        try:
            current = await etcd.revision()
            if previous:
                await etcd.compact(previous)
                logger.info("compacted etcd", extra={"revision": previous})
            previous = current
        except Exception as e:  # etcd down for a moment: try again next round
            logger.warning("compaction failed: %s", e)
