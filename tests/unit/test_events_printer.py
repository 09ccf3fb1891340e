"""`jota events`: kubectl events' table, oldest first, repeats as `(xN over T)`;
`--for kind/name` as an involvedObject field selector."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jota.cli.commands.events import field_selector, types_of
from jota.cli.context import UsageError
from jota.cli.printers.events import events_table

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def ev(name: str, reason: str, first: str, last: str, count: int = 1,
       type_: str = "Normal") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ns"}, "type": type_, "reason": reason,
            "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": f"{reason} msg ",
            "firstTimestamp": first, "lastTimestamp": last, "count": count}


def test_sorted_by_last_seen_with_repeats() -> None:
    events = [ev("b", "BackOff", "2026-11-24T11:50:00Z", "2026-11-24T11:58:00Z", 12,
                 "Warning"),
              ev("a", "Scheduled", "2026-11-24T11:49:00Z", "2026-11-24T11:49:00Z")]
    assert events_table(events, NOW).splitlines() == [
        "LAST SEEN           TYPE      REASON      OBJECT      MESSAGE",
        "11m                 Normal    Scheduled   Pod/web-1   Scheduled msg",
        "2m (x12 over 10m)   Warning   BackOff     Pod/web-1   BackOff msg",
    ]
    assert events_table(events, NOW, all_namespaces=True, headers=False).splitlines()[0] \
        .split()[:2] == ["ns", "11m"]


def test_for_and_types() -> None:
    assert field_selector("po/web-1") == "involvedObject.kind=Pod,involvedObject.name=web-1"
    assert field_selector("deploy/web") == (
        "involvedObject.kind=Deployment,involvedObject.name=web")
    with pytest.raises(UsageError, match="resource/name"):
        field_selector("web")
    assert types_of(["Warning,normal"]) == {"warning", "normal"}
    with pytest.raises(UsageError, match="valid --types"):
        types_of(["Bad"])
