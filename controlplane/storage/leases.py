"""Reused etcd leases for objects that expire (events: kube-apiserver's --event-ttl).

As kube-apiserver's etcd3 LeaseManager: granting one lease per event would make a
lease per write, so a lease of TTL + 5% is granted and attached to every write for
the next 5% of the TTL. Each object then lives between TTL and TTL + 5% after its
last write (an update attaches the current lease: a repeated event lives on).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

REUSE_FRACTION = 0.05

Grant = Callable[[int], Awaitable[int]]


class LeaseManager:
    def __init__(self, grant: Grant, clock: Callable[[], float] = time.monotonic) -> None:
        self._grant = grant
        self._clock = clock
        self._leases: dict[int, tuple[int, float]] = {}  # ttl -> (lease id, reusable until)

    async def lease_for(self, ttl: int) -> int:
        """A lease that keeps a key at least `ttl` seconds from now."""
        now = self._clock()
        current = self._leases.get(ttl)
        if current is not None and now < current[1]:
            return current[0]
        reuse = max(1, int(ttl * REUSE_FRACTION))
        lease = await self._grant(ttl + reuse)
        self._leases[ttl] = (lease, now + reuse)
        return lease
