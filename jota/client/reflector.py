"""The reflector: keep a local store equal to the apiserver's view of one resource.

It lists (resourceVersion ""), replaces the store with the result, then watches from
the list's resourceVersion and applies each event. How it recovers, as client-go:

- `errors.Gone` (the resourceVersion was compacted, or an ERROR event saying so):
  the events in between are lost, so list again and replace the store.
- a broken stream or any other error: watch again from the last resourceVersion
  seen, after a jittered backoff (capped at 30 s); nothing is lost.
- a stream that ends cleanly (server timeout): watch again at once.
- BOOKMARK events only move the resourceVersion forward.

`run()` never returns on its own: cancel its task to stop it. Cancellation closes
the watch stream and the resync timer, so no task outlives it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from jota.api import errors
from jota.api.meta import Obj, resource_version_of
from jota.client.listwatch import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    MODIFIED,
    ListWatch,
    WatchEvent,
)
from jota.client.ratelimit import Backoff

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class ReflectorStore(Protocol):
    """Where the reflector writes: a plain `Store`, or an informer that also notifies."""

    def add(self, obj: Obj) -> None: ...

    def update(self, obj: Obj) -> None: ...

    def delete(self, obj: Obj) -> None: ...

    def replace(self, items: list[Obj], resource_version: str) -> None: ...

    def resync(self) -> None: ...


class _Relist(Exception):
    """The watch cannot resume: list again."""


class Reflector:
    def __init__(
        self,
        lw: ListWatch,
        store: ReflectorStore,
        *,
        resync_period: float = 0.0,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        name: str = "",
    ) -> None:
        self.lw = lw
        self.store = store
        self.resync_period = resync_period
        self.backoff = backoff if backoff is not None else Backoff(initial=0.8, cap=30.0)
        self.name = name or f"{lw.resource}"
        self._sleep = sleep
        self.last_sync_resource_version = ""
        """The resourceVersion of the last list or event seen: where a re-watch resumes."""
        self.lists = 0
        self.watches = 0

    @property
    def _log(self) -> dict[str, str]:
        return {"resource": self.lw.resource, "namespace": self.lw.namespace,
                "reflector": self.name}

    async def run(self) -> None:
        """List and watch until cancelled."""
        resync: asyncio.Task[None] | None = None
        if self.resync_period > 0:
            resync = asyncio.create_task(self._resync_loop(), name=f"resync {self.name}")
        try:
            while True:
                try:
                    await self._list()
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    delay = self.backoff.next()
                    logger.warning("failed to list: %s; retrying in %.3fs", e, delay,
                                   extra=self._log)
                    await self._sleep(delay)
                    continue
                await self._watch_until_relist()
        finally:
            if resync is not None:
                resync.cancel()
                await asyncio.wait([resync])

    async def _list(self) -> None:
        self.lists += 1
        result = await self.lw.list(resource_version="")
        items = list(result.get("items") or [])
        rv = resource_version_of(result)
        _fill_kind(items, str(result.get("kind") or ""), str(result.get("apiVersion") or ""))
        self.store.replace(items, rv)
        self.last_sync_resource_version = rv
        logger.debug("listed %d items at resourceVersion %s", len(items), rv, extra=self._log)

    async def _watch_until_relist(self) -> None:
        while True:
            self.watches += 1
            got_events = False
            delay = 0.0
            relist = False
            stream = self.lw.watch(self.last_sync_resource_version)
            try:
                async for event in stream:
                    self._apply(event)
                    got_events = True
                    self.backoff.reset()
            except (errors.Gone, _Relist) as e:
                logger.info("watch closed with: %s; relisting", e, extra=self._log)
                relist = True
                if not got_events:
                    # Gone again straight after a list: do not hammer the apiserver.
                    delay = self.backoff.next()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                delay = self.backoff.next()
                logger.warning("watch ended with: %s; re-watching from %s in %.3fs", e,
                               self.last_sync_resource_version, delay, extra=self._log)
            else:
                if not got_events:
                    # A stream closing at once with nothing in it would spin: slow down.
                    delay = self.backoff.next()
            finally:
                await _aclose(stream)
            if delay > 0:
                await self._sleep(delay)
            if relist:
                return

    def _apply(self, event: WatchEvent) -> None:
        kind, obj = event
        if kind == ERROR:
            if obj.get("code") == 410 or obj.get("reason") in ("Expired", "Gone"):
                raise _Relist(str(obj.get("message") or "too old resource version"))
            raise errors.InternalError(str(obj.get("message") or "watch error event"))
        if kind == ADDED:
            self.store.add(obj)
        elif kind == MODIFIED:
            self.store.update(obj)
        elif kind == DELETED:
            self.store.delete(obj)
        elif kind != BOOKMARK:
            logger.warning("unknown watch event type %r", kind, extra=self._log)
            return
        rv = resource_version_of(obj)
        if rv:
            self.last_sync_resource_version = rv

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            try:
                self.store.resync()
            except Exception:
                logger.exception("resync failed", extra=self._log)


def _fill_kind(items: list[Obj], list_kind: str, api_version: str) -> None:
    """List items may come without kind/apiVersion; handlers and events want them."""
    kind = list_kind[:-4] if list_kind.endswith("List") else ""
    for item in items:
        if kind and not item.get("kind"):
            item["kind"] = kind
        if api_version and not item.get("apiVersion"):
            item["apiVersion"] = api_version


async def _aclose(stream: AsyncIterator[WatchEvent]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            logger.debug("closing the watch stream failed", exc_info=True)
