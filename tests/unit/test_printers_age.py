"""AGE as kubectl prints it: duration.HumanDuration, `<unknown>` without a timestamp."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from jota.cli.printers import human_age, human_duration
from jota.cli.printers.age import rfc1123z, rfc3339

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"),
    (-1.5, "0s"),
    (0, "0s"),
    (45, "45s"),
    (119, "119s"),
    (120, "2m"),
    (5 * 60 + 10, "5m10s"),
    (9 * 60 + 59, "9m59s"),
    (10 * 60 + 30, "10m"),
    (179 * 60, "179m"),
    (3 * 3600, "3h"),
    (3 * 3600 + 20 * 60, "3h20m"),
    (8 * 3600 + 59 * 60, "8h"),
    (47 * 3600, "47h"),
    (48 * 3600, "2d"),
    (2 * 86400 + 5 * 3600, "2d5h"),
    (7 * 86400 + 23 * 3600, "7d23h"),
    (45 * 86400, "45d"),
    (729 * 86400, "729d"),
    (2 * 365 * 86400, "2y"),
    ((3 * 365 + 120) * 86400, "3y120d"),
    (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(("created", "text"), [
    ("2024-05-01T11:55:00Z", "5m"),
    ("2024-05-01T11:59:59.5Z", "0s"),
    ("2024-05-01T09:40:00+00:00", "140m"),
    ("2024-04-28T12:00:00Z", "3d"),
    (None, "<unknown>"),
    ("", "<unknown>"),
    ("not a time", "<unknown>"),
])
def test_human_age(created: str | None, text: str) -> None:
    assert human_age(created, NOW) == text


def test_age_of_naive_now_is_read_as_utc() -> None:
    assert human_age("2024-05-01T11:00:00Z", NOW.replace(tzinfo=None)) == "60m"


def test_describe_times_use_the_zone_of_now() -> None:
    assert rfc1123z("2024-05-01T11:55:00Z", NOW) == "Wed, 01 May 2024 11:55:00 +0000"
    plus2 = NOW.astimezone(timezone(timedelta(hours=2)))
    assert rfc1123z("2024-05-01T11:55:00Z", plus2) == "Wed, 01 May 2024 13:55:00 +0200"
    assert rfc3339("2024-05-01T13:55:00+02:00") == "2024-05-01T11:55:00Z"
