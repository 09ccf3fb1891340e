"""Shared fixtures of the unit tests (no servers here: those are in integration/)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture
async def no_task_left_running() -> AsyncIterator[None]:
    """Fails a test that leaves an asyncio task running, as kopf's tests do: a
    controller that leaks tasks leaks them forever in a daemon."""
    yield
    await asyncio.sleep(0)
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    assert not left, f"tasks left running: {left}"
