"""The standard 5-field cron syntax of CronJob schedules (robfig/cron's ParseStandard).

`parse_schedule` returns the allowed values of each field, so the CronJob
controller can ask `matches(schedule, when)` / `next_after(schedule, when)`
with the very parser that validated the schedule. Error strings are
robfig/cron's, which Kubernetes shows after `spec.schedule: Invalid value:`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_NONE: dict[str, int] = {}
_BOUNDS = ((0, 59, _NONE), (0, 23, _NONE), (1, 31, _NONE), (1, 12, _MONTHS), (0, 6, _DAYS))
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    # cron's rule: when both day fields are restricted, a day matching either runs.
    days_star: bool
    weekdays_star: bool


def parse_schedule(spec: str) -> Schedule:
    """Parse `*/5 * * * *`, `0 9 * * MON-FRI`, `@daily`; ValueError with robfig's message."""
    text = spec.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        raise ValueError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    if text.startswith("@"):
        if text.startswith("@every "):
            raise ValueError(f"unrecognized descriptor: {text}")
        if text not in _DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    sets = [_field(f, lo, hi, named) for f, (lo, hi, named) in zip(fields, _BOUNDS, strict=True)]
    return Schedule(sets[0], sets[1], sets[2], sets[3], sets[4],
                    days_star=fields[2] in ("*", "?"), weekdays_star=fields[4] in ("*", "?"))


def _field(text: str, lo: int, hi: int, named: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        out |= _range(part, lo, hi, named)
    return frozenset(out)


def _range(expr: str, lo: int, hi: int, named: dict[str, int]) -> set[int]:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start = _value(low_and_high[0], named)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _value(low_and_high[1], named)
        else:
            raise ValueError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if single and low_and_high[0] not in ("*", "?"):
            end = hi  # `N/step` means from N to the end of the range
    else:
        raise ValueError(f"too many slashes: {expr}")
    if start < lo:
        raise ValueError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ValueError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step <= 0:
        raise ValueError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step))


def _value(text: str, named: dict[str, int]) -> int:
    if text.lower() in named:
        return named[text.lower()]
    return _int(text)


def _int(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"failed to parse int from {text}: strconv.Atoi: parsing "
                         f'"{text}": invalid syntax')
    return int(text)


def matches(s: Schedule, when: dt.datetime) -> bool:
    if when.minute not in s.minutes or when.hour not in s.hours or when.month not in s.months:
        return False
    dom = when.day in s.days
    dow = (when.isoweekday() % 7) in s.weekdays
    if s.days_star or s.weekdays_star:
        return dom and dow
    return dom or dow


def next_after(s: Schedule, when: dt.datetime) -> dt.datetime | None:
    """The first scheduled minute strictly after `when` (None if none within 5 years)."""
    t = when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    limit = t + dt.timedelta(days=366 * 5)
    while t < limit:
        if t.month not in s.months:
            t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            continue
        day_ok = matches(s, t.replace(hour=min(s.hours), minute=min(s.minutes)))
        if not day_ok:
            t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
            continue
        if t.hour not in s.hours:
            t = t.replace(minute=0) + dt.timedelta(hours=1)
            continue
        if t.minute not in s.minutes:
            t += dt.timedelta(minutes=1)
            continue
        return t
    return None
