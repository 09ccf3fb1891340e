"""Ages and durations as kubectl prints them (`45s`, `5m10s`, `3h20m`, `2d5h`, `3y120d`).

A copy of k8s.io/apimachinery/pkg/util/duration.HumanDuration: users compare
our AGE column with what they know from kubectl, and scripts sometimes parse it.
`now` is always passed in, so every printer stays a pure function.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

UNKNOWN = "<unknown>"


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp (`2024-01-01T10:00:00Z`, with or without fraction) as an aware
    datetime; None when missing or unreadable (kubectl then prints `<unknown>`)."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """HumanDuration: ~2-3 significant figures, a second or two of clock skew counts as 0s."""
    secs = math.trunc(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def human_age(created: str | None, now: datetime) -> str:
    """translateTimestampSince: the age of a timestamp, `<unknown>` when it is missing."""
    when = parse_time(created)
    if when is None:
        return UNKNOWN
    return human_duration((_aware(now) - when).total_seconds())


def human_since(when: datetime, now: datetime) -> str:
    """The age of an already parsed time."""
    return human_duration((_aware(now) - when).total_seconds())


def human_between(start: str | None, end: str | None) -> str:
    """A duration between two timestamps (a Job's DURATION once it completed)."""
    first, last = parse_time(start), parse_time(end)
    if first is None or last is None:
        return ""
    return human_duration((last - first).total_seconds())


def rfc1123z(value: str | None, now: datetime) -> str:
    """Go's time.RFC1123Z (`Mon, 02 Jan 2006 15:04:05 -0700`), as describe prints times.

    kubectl shows times in the local zone; we show them in `now`'s zone, so the CLI passes
    a local `now` and tests stay deterministic with a UTC one. A missing time prints as Go's
    zero time does."""
    when = parse_time(value)
    if when is None:
        return "Mon, 01 Jan 0001 00:00:00 +0000"
    tz = _aware(now).tzinfo
    return when.astimezone(tz).strftime("%a, %d %b %Y %H:%M:%S %z")


def rfc3339(value: str | None) -> str:
    """`2024-01-01T10:00:00Z`: the CREATED AT column of Roles, in UTC as kubectl prints it."""
    when = parse_time(value)
    if when is None:
        return "0001-01-01T00:00:00Z"
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)
