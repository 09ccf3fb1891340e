"""The event recorder: `kubectl describe`'s Events section, written by every component.

`recorder.event(pod, "Warning", "BackOff", "Back-off restarting failed container")`
returns at once and never raises: the event is queued and a background task writes
it. Before writing, the `EventCorrelator` (client-go's, pure, clock injected) folds
repeats, so a crash-looping pod makes one Event with a growing count, not thousands:

- the same (source, object, type, reason, message) again: PATCH `count`,
  `lastTimestamp` of the Event already written (`x42 over 10m` in kubectl);
- ten different messages for one (source, object, type, reason) within ten minutes:
  further ones become a single "(combined from similar events): ..." Event;
- more than 25 events per (source, object, type, reason), refilled one per five
  minutes: dropped (the spam filter).

Writes that fail because the apiserver is unreachable are retried (12 tries, 10 s
apart); a write the server rejects is logged and dropped.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from jota.api import errors
from jota.api.meta import Obj

logger = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
EVENTS = "events"

DateClock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(t: datetime) -> str:
    """metav1.Time: RFC 3339 to the second, `2026-11-24T13:00:00Z`."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reference_of(obj: Obj) -> dict[str, Any]:
    """The ObjectReference of `obj`; an ObjectReference passed in is returned as is."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return {k: v for k, v in obj.items() if v not in (None, "")}
    ref: dict[str, Any] = {
        "kind": obj.get("kind", ""),
        "namespace": md.get("namespace", ""),
        "name": md.get("name", ""),
        "uid": md.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": md.get("resourceVersion", ""),
    }
    return {k: v for k, v in ref.items() if v}


def make_event(ref: dict[str, Any], type: str, reason: str, message: str, *,
               component: str, host: str, now: datetime) -> Obj:
    """A core/v1 Event about `ref`, named as client-go names them (`<name>.<hex nanos>`)."""
    ts = format_time(now)
    nanos = int(now.timestamp() * 1_000_000) * 1000
    source = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{ref.get('name', '')}.{nanos:x}",
                     # Events about cluster-scoped objects (nodes) live in "default".
                     "namespace": ref.get("namespace") or "default"},
        "involvedObject": dict(ref),
        "reason": reason,
        "message": message,
        "type": type,
        "source": source,
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": host,
    }


def _object_key(event: Obj) -> list[str]:
    src, obj = event.get("source") or {}, event.get("involvedObject") or {}
    return [str(src.get("component", "")), str(src.get("host", "")),
            str(obj.get("kind", "")), str(obj.get("namespace", "")),
            str(obj.get("name", "")), str(obj.get("uid", "")), str(obj.get("apiVersion", ""))]


def spam_key(event: Obj) -> str:
    return "\x00".join([*_object_key(event), str(event.get("type", "")),
                        str(event.get("reason", ""))])


def aggregate_key(event: Obj) -> str:
    return spam_key(event)


def event_key(event: Obj) -> str:
    """Two events with this key equal are the same event seen again."""
    obj = event.get("involvedObject") or {}
    return "\x00".join([*_object_key(event), str(obj.get("fieldPath", "")),
                        str(event.get("type", "")), str(event.get("reason", "")),
                        str(event.get("message", ""))])


@dataclass
class _Bucket:
    tokens: float
    last: float


@dataclass
class _Aggregate:
    messages: set[str] = field(default_factory=set)
    last: float = 0.0


@dataclass
class _Observed:
    count: int
    first_timestamp: str
    name: str
    resource_version: str


@dataclass(frozen=True)
class Correlation:
    """What to write: `event` (created, or patched with `patch` if set), or nothing."""

    event: Obj
    key: str
    patch: dict[str, Any] | None = None
    skip: bool = False


class _LRU(OrderedDict[str, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class EventCorrelator:
    """Decides, with no I/O, whether an event is new, a repeat to patch, or spam."""

    def __init__(self, clock: DateClock = utcnow, *, cache_size: int = 4096,
                 spam_burst: int = 25, spam_qps: float = 1 / 300,
                 max_similar: int = 10, similar_interval: float = 600.0) -> None:
        self._clock = clock
        self.spam_burst = spam_burst
        self.spam_qps = spam_qps
        self.max_similar = max_similar
        self.similar_interval = similar_interval
        self._spam = _LRU(cache_size)
        self._aggregates = _LRU(cache_size)
        self._observed = _LRU(cache_size)

    def correlate(self, event: Obj) -> Correlation:
        now = self._clock()
        event, key = self._aggregate(event, now)
        event, patch = self._observe(event, key)
        if not self._allow(event, now.timestamp()):
            return Correlation(event, key, None, skip=True)
        return Correlation(event, key, patch)

    def update_state(self, key: str, written: Obj) -> None:
        """Remember the server's copy (its name, resourceVersion) for the next repeat."""
        md = written.get("metadata") or {}
        self._observed.put(key, _Observed(
            int(written.get("count") or 1), str(written.get("firstTimestamp") or ""),
            str(md.get("name") or ""), str(md.get("resourceVersion") or "")))

    def _aggregate(self, event: Obj, now: datetime) -> tuple[Obj, str]:
        akey = aggregate_key(event)
        t = now.timestamp()
        record: _Aggregate | None = self._aggregates.get(akey)
        if record is None or t - record.last > self.similar_interval:
            record = _Aggregate()
        record.messages.add(str(event.get("message", "")))
        record.last = t
        self._aggregates.put(akey, record)
        if len(record.messages) < self.max_similar:
            return event, event_key(event)
        record.messages.pop()  # keep the set bounded; it only needs to stay at the limit
        combined = copy.deepcopy(event)
        combined["message"] = f"(combined from similar events): {event.get('message', '')}"
        return combined, akey

    def _observe(self, event: Obj, key: str) -> tuple[Obj, dict[str, Any] | None]:
        last: _Observed | None = self._observed.get(key)
        patch: dict[str, Any] | None = None
        if last is not None:
            event = copy.deepcopy(event)
            event["count"] = last.count + 1
            event["firstTimestamp"] = last.first_timestamp or event["firstTimestamp"]
            event["metadata"]["name"] = last.name
            if last.resource_version:
                event["metadata"]["resourceVersion"] = last.resource_version
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"],
                     "message": event["message"]}
        self._observed.put(key, _Observed(
            int(event.get("count") or 1), str(event.get("firstTimestamp") or ""),
            str(event["metadata"]["name"]),
            str(event["metadata"].get("resourceVersion") or "")))
        return event, patch

    def _allow(self, event: Obj, now: float) -> bool:
        key = spam_key(event)
        bucket: _Bucket | None = self._spam.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.spam_burst), now)
        bucket.tokens = min(float(self.spam_burst),
                            bucket.tokens + (now - bucket.last) * self.spam_qps)
        bucket.last = now
        self._spam.put(key, bucket)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True


class EventSink(Protocol):
    """What the recorder needs of the API; `jota.client.Client` satisfies it."""

    async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj: ...

    async def patch(self, resource: str, name: str, patch: Any, namespace: str = "", *,
                    patch_type: str = "strategic") -> Obj: ...


_RETRYABLE = (errors.ServiceUnavailable, errors.Timeout)


class EventRecorder:
    """Records events for one component (`source.component`) on one host."""

    def __init__(self, sink: EventSink, component: str, host: str = "", *,
                 clock: DateClock = utcnow, correlator: EventCorrelator | None = None,
                 max_queued: int = 1000, max_tries: int = 12, retry_interval: float = 10.0,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.sink = sink
        self.component = component
        self.host = host
        self.correlator = correlator if correlator is not None else EventCorrelator(clock)
        self.max_queued = max_queued
        self.max_tries = max_tries
        self.retry_interval = retry_interval
        self._clock = clock
        self._sleep = sleep
        self._queue: deque[Obj] = deque()
        self._wake = asyncio.Event()
        self._busy = False
        self._idle: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    # -- the caller's side: never blocks, never raises --

    def event(self, obj: Obj, type: str, reason: str, message: str) -> None:
        try:
            if type not in (NORMAL, WARNING):
                logger.error("Unsupported event type: %r", type,
                             extra={"reason": reason, "component": self.component})
                return
            ev = make_event(reference_of(obj), type, reason, message,
                            component=self.component, host=self.host, now=self._clock())
            if len(self._queue) >= self.max_queued:
                self.dropped += 1
                logger.warning("event queue full; dropping event", extra={
                    "reason": reason, "component": self.component})
                return
            self._queue.append(ev)
            self._wake.set()
            self._ensure_started()
        except Exception:
            logger.exception("failed to record event", extra={"reason": reason})

    def eventf(self, obj: Obj, type: str, reason: str, fmt: str, *args: object) -> None:
        try:
            message = fmt % args if args else fmt
        except Exception:
            message = fmt
        self.event(obj, type, reason, message)

    # -- lifecycle --

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"events {self.component}")

    def _ensure_started(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the queue waits for start()
        self.start()

    async def flush(self) -> None:
        """Wait until every queued event has been written (or given up on)."""
        while self._queue or self._busy:
            if self._task is None or self._task.done():
                self.start()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle.append(fut)
            await fut

    async def shutdown(self, timeout: float | None = 5.0) -> None:
        """Write what is queued (for at most `timeout` seconds), then stop the writer."""
        if self._queue or self._busy:
            try:
                await asyncio.wait_for(self.flush(), timeout)
            except TimeoutError:
                logger.warning("dropping %d unwritten events on shutdown", len(self._queue),
                               extra={"component": self.component})
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        self._queue.clear()
        self._release_idle()

    # -- the writer --

    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._release_idle()
                self._wake.clear()
                await self._wake.wait()
            ev = self._queue.popleft()
            self._busy = True
            try:
                await self._record(ev)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("failed to write event", extra={"component": self.component})
            finally:
                self._busy = False

    def _release_idle(self) -> None:
        for fut in self._idle:
            if not fut.done():
                fut.set_result(None)
        self._idle.clear()

    async def _record(self, ev: Obj) -> None:
        result = self.correlator.correlate(ev)
        if result.skip:
            return
        for attempt in range(1, self.max_tries + 1):
            if await self._write(result):
                return
            if attempt < self.max_tries:
                await self._sleep(self.retry_interval * (1.0 + 0.25 * random.random()))
        logger.error("unable to write event (retry limit exceeded!)", extra={
            "reason": ev.get("reason"), "component": self.component})

    async def _write(self, result: Correlation) -> bool:
        """True when done (written, or rejected for good); False to try again."""
        event = result.event
        md = event["metadata"]
        ns = str(md.get("namespace") or "default")
        extra = {"reason": event.get("reason"), "namespace": ns, "event": md.get("name")}
        try:
            written: Obj | None = None
            if result.patch is not None:
                try:
                    written = await self.sink.patch(EVENTS, str(md["name"]), result.patch, ns,
                                                    patch_type="merge")
                except errors.NotFound:
                    written = None  # the event was deleted (TTL): create it afresh
            if written is None:
                fresh = copy.deepcopy(event)
                fresh["metadata"].pop("resourceVersion", None)
                written = await self.sink.create(EVENTS, fresh, ns)
        except _RETRYABLE as e:
            logger.info("unable to write event (may retry): %s", e, extra=extra)
            return False
        except errors.APIError as e:
            if isinstance(e, errors.AlreadyExists):
                logger.info("server rejected event (will not retry): %s", e, extra=extra)
            else:
                logger.error("server rejected event (will not retry): %s", e, extra=extra)
            return True
        except Exception as e:
            logger.info("unable to write event (may retry): %s", e, extra=extra)
            return False
        self.correlator.update_state(result.key, written)
        return True
