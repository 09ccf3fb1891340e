"""Reused etcd leases for events (--event-ttl): one grant per 5% of the TTL."""

from __future__ import annotations

from controlplane.storage.leases import LeaseManager


async def test_a_lease_is_reused_for_five_percent_of_the_ttl() -> None:
    granted: list[int] = []
    now = [0.0]

    async def grant(ttl: int) -> int:
        granted.append(ttl)
        return len(granted)

    leases = LeaseManager(grant, clock=lambda: now[0])
    assert await leases.lease_for(3600) == 1
    now[0] = 179.0
    assert await leases.lease_for(3600) == 1
    now[0] = 180.0
    assert await leases.lease_for(3600) == 2
    assert granted == [3780, 3780]  # every key lives between 1 h and 1 h + 3 min
