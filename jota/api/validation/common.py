"""Small helpers every rule module shares: safe readers and error builders.

Rules run on documents that may be wrong in every way (the schema check
reports type errors separately), so readers never assume a type: `obj_at`
gives `{}` for anything that is not a dict, `int_at` gives None for anything
that is not an int, and a rule simply skips what it cannot read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from jota.api import errors
from jota.api.errors import FieldError
from jota.api.schema import shown_value

Errs = list[FieldError]


def obj(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def arr(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def as_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def as_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: Any) -> str:
    return f"{path}[{k}]"


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return errors.invalid(path, shown_value(value), detail)


def each(path: str, value: Any, messages: Iterable[str]) -> Errs:
    """One Invalid error per message of a names.is_* check, as Kubernetes reports them."""
    return [invalid(path, value, m) for m in messages]


def check_name(path: str, value: Any, check: Callable[[Any], list[str]]) -> Errs:
    return each(path, value, check(value)) if isinstance(value, str) else []


def nonnegative(path: str, value: Any) -> Errs:
    n = as_int(value)
    if n is not None and n < 0:
        return [invalid(path, n, "must be greater than or equal to 0")]
    return []


def positive(path: str, value: Any) -> Errs:
    n = as_int(value)
    if n is not None and n <= 0:
        return [invalid(path, n, "must be greater than 0")]
    return []


def one_of(path: str, value: Any, allowed: list[str], *, required: bool = False) -> Errs:
    """An enum field; absent is fine unless `required` (defaults normally fill it)."""
    if value is None or value == "":
        return [errors.required(path)] if required else []
    if isinstance(value, str) and value not in allowed:
        return [errors.unsupported(path, value, allowed)]
    return []


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, _quote(value), type="Duplicate value", has_value=False)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, _quote(value), type="Not found", has_value=False)


def _quote(value: Any) -> str:
    try:
        return json.dumps(shown_value(value))
    except (TypeError, ValueError):
        return repr(value)


def go_invalid(path: str, value: Any, rendered: str, detail: str) -> FieldError:
    """An Invalid error whose value is shown as Go's %#v, as kubectl prints maps and
    selectors (`map[string]string{"app":"web"}`)."""
    return FieldError(path, f"{rendered}: {detail}", type="Invalid value", value=value,
                      has_value=False)


def go_string(s: Any) -> str:
    return json.dumps(s if isinstance(s, str) else str(s), ensure_ascii=False)


def go_string_map(m: Any) -> str:
    if m is None:
        return "map[string]string(nil)"
    items = sorted(obj(m).items(), key=lambda kv: str(kv[0]))
    inner = ", ".join(f"{go_string(k)}:{go_string(v)}" for k, v in items)
    return f"map[string]string{{{inner}}}"


def go_selector(sel: Any) -> str:
    """`v1.LabelSelector{MatchLabels:map[string]string{...}, MatchExpressions:...}`."""
    s = obj(sel)
    labels = go_string_map(s.get("matchLabels")) if s.get("matchLabels") is not None else (
        "map[string]string(nil)")
    exprs = arr(s.get("matchExpressions"))
    if not exprs:
        rendered_exprs = "[]v1.LabelSelectorRequirement(nil)"
    else:
        parts = []
        for e in exprs:
            e = obj(e)
            values = arr(e.get("values"))
            vals = ("[]string{" + ", ".join(go_string(v) for v in values) + "}") if values else (
                "[]string(nil)")
            parts.append(f"v1.LabelSelectorRequirement{{Key:{go_string(e.get('key', ''))}, "
                         f"Operator:{go_string(e.get('operator', ''))}, Values:{vals}}}")
        rendered_exprs = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    return f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{rendered_exprs}}}"


def immutable(path: str, new: Any, old: Any, rendered: str | None = None) -> Errs:
    """`field is immutable` when an update changes what must not change."""
    if new == old:
        return []
    if rendered is not None:
        return [go_invalid(path, new, rendered, "field is immutable")]
    return [invalid(path, new, "field is immutable")]


def int_or_percent(path: str, value: Any) -> Errs:
    """maxSurge/maxUnavailable/minAvailable: an int >= 0 or `N%` (ValidatePositiveIntOrPercent)."""
    if isinstance(value, str):
        digits = value[:-1]
        if not value.endswith("%") or not digits.isdigit() or not digits.isascii():
            return [invalid(path, value,
                            "a valid percent string must be a numeric string followed by an "
                            "ending '%' (e.g. '1%',  or '93%', regex used for validation is "
                            "'[0-9]+%')")]
        return []
    return nonnegative(path, value)


def percent_or_int_value(value: Any) -> int | None:
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return int(value[:-1])
    return as_int(value)


def not_more_than_100_percent(path: str, value: Any) -> Errs:
    pct = value[:-1] if isinstance(value, str) and value.endswith("%") else ""
    if pct.isdigit() and int(pct) > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []
