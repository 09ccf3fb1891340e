"""`--sort-by`: kubectl's ordering of a list by one JSONPath field.

`jota get events --sort-by=.lastTimestamp`, `jota get pods --sort-by='{.status.startTime}'`.
As kubectl's RuntimeSort: numbers compare as numbers, quantities (`100m`, `1Gi`) by value,
everything else as text (RFC 3339 timestamps then sort in time order); objects that lack
the field come first; equal keys keep the server's order.
"""

from __future__ import annotations

from typing import Any

from jota.api.meta import Obj
from jota.api.quantity import parse_quantity
from jota.cli.printers import jsonpath


def template(expr: str) -> str:
    """`.a.b` or `{.a.b}` -> `{.a.b}` (kubectl accepts both)."""
    expr = expr.strip()
    return expr if expr.startswith("{") else "{" + expr + "}"


def _key(value: Any) -> tuple[int, float, str]:
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, bool):
        return (2, 0.0, str(value).lower())
    if isinstance(value, (int, float)):
        return (1, float(value), "")
    if isinstance(value, str):
        try:
            return (1, float(parse_quantity(value)), "")
        except (ValueError, ArithmeticError):
            return (2, 0.0, value)
    return (2, 0.0, str(value))


def sort_objects(objs: list[Obj], expr: str) -> list[Obj]:
    """The objects in `expr`'s order; a bad expression is a JSONPathError."""
    tmpl = template(expr)
    jsonpath.parse(tmpl)

    def key(obj: Obj) -> tuple[int, float, str]:
        try:
            found = jsonpath.find_results(tmpl, obj)
        except jsonpath.JSONPathError:
            return _key(None)
        values = [v for group in found for v in group]
        return _key(values[0] if values else None)

    return sorted(objs, key=key)
