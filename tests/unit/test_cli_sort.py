"""`jota get --sort-by`: kubectl's ordering by one field."""

from __future__ import annotations

from typing import Any

import pytest

from jota.cli.printers.jsonpath import JSONPathError
from jota.cli.printers.sort import sort_objects, template


def ev(name: str, last: str | None, count: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name}, "count": count}
    if last is not None:
        obj["lastTimestamp"] = last
    return obj


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def test_timestamps_sort_in_time_order_and_missing_fields_come_first() -> None:
    objs = [ev("c", "2026-11-24T10:00:02Z"), ev("a", "2026-11-24T09:59:00Z"), ev("x", None),
            ev("b", "2026-11-24T10:00:01Z")]
    assert names(sort_objects(objs, ".lastTimestamp")) == ["x", "a", "b", "c"]


def test_numbers_and_quantities_compare_by_value() -> None:
    objs = [ev("ten", None, 10), ev("nine", None, 9), ev("hundred", None, 100)]
    assert names(sort_objects(objs, "{.count}")) == ["nine", "ten", "hundred"]
    cpus = [{"metadata": {"name": n}, "cpu": c} for n, c in
            (("one", "1"), ("half", "500m"), ("two", "2"))]
    assert names(sort_objects(cpus, ".cpu")) == ["half", "one", "two"]


def test_equal_keys_keep_the_servers_order() -> None:
    objs = [ev("b", "t"), ev("a", "t")]
    assert names(sort_objects(objs, ".lastTimestamp")) == ["b", "a"]


def test_both_spellings_and_a_bad_expression() -> None:
    assert template(".a.b") == template("{.a.b}") == "{.a.b}"
    with pytest.raises(JSONPathError):
        sort_objects([ev("a", "t")], "{.a[}")
