"""Helpers the e2e tests that talk to the API with `Client` share (test_faults, test_ha)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from jota.api import errors
from jota.api.meta import Obj

T = TypeVar("T")
# Generous: two busy cores, and a failed-over control plane to settle.
SETTLE_TIMEOUT = 180.0


async def wait_for(what: str, check: Callable[[], Awaitable[T | None]],
                   timeout: float = SETTLE_TIMEOUT) -> T:
    """Poll `check` until it returns something truthy; an API error (an apiserver being
    killed, a leader changing) counts as not yet. Fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await check()
        except errors.APIError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.5)


def ready(obj: Obj) -> bool:
    """The object's (a pod's or a node's) Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])
