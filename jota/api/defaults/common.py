"""Helpers for defaulting malformed documents safely: only fill what is absent,
only descend into what is really a dict or a list (validation reports the rest)."""

from __future__ import annotations

from typing import Any


def sub(d: Any, key: str, *, create: bool = True) -> dict[str, Any] | None:
    """`d[key]` when it is a dict; created empty when absent (and `create`)."""
    if not isinstance(d, dict):
        return None
    v = d.get(key)
    if v is None and create:
        v = d[key] = {}
    return v if isinstance(v, dict) else None


def items(d: Any, key: str) -> list[dict[str, Any]]:
    """The dict entries of the list `d[key]` (others are skipped)."""
    if not isinstance(d, dict) or not isinstance(d.get(key), list):
        return []
    return [x for x in d[key] if isinstance(x, dict)]


def fill(d: dict[str, Any] | None, **defaults: Any) -> None:
    if d is None:
        return
    for k, v in defaults.items():
        if d.get(k) is None:
            d[k] = v
