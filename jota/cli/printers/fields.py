"""Small readers and formatters shared by the table, output and describe printers.

Each mirrors one kubectl/apimachinery helper (labels.FormatLabels, a LabelSelector's
String, Go's `%v`), so the same value reads the same in every command.
"""

from __future__ import annotations

import json
import math
from typing import Any

from jota.api.meta import Obj

NONE = "<none>"


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    """obj[p0][p1]... or `default` when any step is missing or of the wrong type."""
    cur = obj
    for step in path:
        if isinstance(step, int):
            if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
                return default
        elif not isinstance(cur, dict) or step not in cur:
            return default
        cur = cur[step]
    return default if cur is None else cur


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def format_labels(labels: dict[str, Any] | None) -> str:
    """labels.FormatLabels: `app=web,tier=fe` sorted by key, `<none>` when empty."""
    if not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def selector_string(selector: dict[str, Any] | None) -> str:
    """A LabelSelector as labels.Selector.String(): `app=web,tier in (a,b),!canary`."""
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in as_dict(selector.get("matchLabels")).items():
        reqs.append((key, f"{key}={value}"))
    for expr in as_list(selector.get("matchExpressions")):
        key = str(expr.get("key", ""))
        op = expr.get("operator", "")
        values = ",".join(sorted(str(v) for v in as_list(expr.get("values"))))
        if op == "In":
            reqs.append((key, f"{key} in ({values})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({values})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_selector(selector: dict[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: the selector string, `<none>` when it selects everything."""
    return selector_string(selector) or NONE


def go_value(value: Any) -> str:
    """Go's `fmt.Sprint` of a JSON value: `true`, `3`, `0.5`, `map[a:b]`, `[x y]`, `<nil>`."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    return str(value)


def go_float(value: float) -> str:
    """Go's %v of a float64 (strconv 'g' with the shortest representation)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    return text


def go_json(value: Any) -> str:
    """Go's json.Marshal (compact, sorted keys, HTML characters escaped)."""
    return html_escape(json.dumps(value, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False))


def html_escape(text: str) -> str:
    """Go's encoder escapes these even outside HTML; users' scripts see `\\u003c`."""
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def controller_of(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with controller=true, as metav1.GetControllerOf."""
    for ref in as_list(dig(obj, "metadata", "ownerReferences")):
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def condition(obj: Obj, ctype: str) -> dict[str, Any] | None:
    for cond in as_list(dig(obj, "status", "conditions")):
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def condition_true(obj: Obj, ctype: str) -> bool:
    cond = condition(obj, ctype)
    return cond is not None and cond.get("status") == "True"


def int_or_string(value: Any) -> str:
    """An IntOrString as its String(): `25%` or `1`."""
    if value is None:
        return ""
    return str(value)


def quantity(value: Any) -> str:
    """A Quantity as stored; missing is Go's zero Quantity, `0`."""
    if value is None or value == "":
        return "0"
    return go_value(value)
