"""`jota events`' table, as kubectl events' printer (pure): sorted by when each event
was last seen, `LAST SEEN` as `2m (x12 over 10m)` for repeats, `OBJECT` as `Kind/name`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from jota.api.meta import Obj
from jota.cli.printers.age import human_age, parse_time
from jota.cli.printers.table import TabWriter, render

HEADERS = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def last_seen(ev: Obj) -> datetime:
    """kubectl's eventTime: the series' last observation, lastTimestamp, or eventTime."""
    series = ev.get("series")
    if isinstance(series, dict) and series.get("lastObservedTime"):
        return parse_time(series["lastObservedTime"]) or _EPOCH
    return parse_time(ev.get("lastTimestamp")) or parse_time(ev.get("eventTime")) or _EPOCH


def interval(ev: Obj, now: datetime) -> str:
    first = human_age(ev.get("eventTime") or ev.get("firstTimestamp"), now)
    series = ev.get("series")
    if isinstance(series, dict):
        return (f"{human_age(series.get('lastObservedTime'), now)} "
                f"(x{series.get('count', 0)} over {first})")
    if int(ev.get("count") or 0) > 1:
        return f"{human_age(ev.get('lastTimestamp'), now)} (x{ev['count']} over {first})"
    return first


def row(ev: Obj, now: datetime, all_namespaces: bool = False) -> list[str]:
    inv = ev.get("involvedObject") or {}
    ns = [str((ev.get("metadata") or {}).get("namespace", ""))] if all_namespaces else []
    return [*ns, interval(ev, now), str(ev.get("type", "")), str(ev.get("reason", "")),
            f"{inv.get('kind', '')}/{inv.get('name', '')}",
            str(ev.get("message", "")).strip()]


def events_table(events: Sequence[Obj], now: datetime, *, all_namespaces: bool = False,
                 headers: bool = True, writer: TabWriter | None = None) -> str:
    rows = [(["NAMESPACE"] if all_namespaces else []) + HEADERS] if headers else []
    rows += [row(ev, now, all_namespaces) for ev in sorted(events, key=last_seen)]
    return render(rows, writer)
