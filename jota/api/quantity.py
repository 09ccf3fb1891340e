"""Resource quantities (`250m`, `1.5`, `128Mi`, `1G`, `1e3`), as resource.Quantity.

Values are exact `Decimal`s so `0.1 + 0.2` CPUs compare as Kubernetes compares
them; `cpu_millis` and `memory_bytes` round up, as Quantity.MilliValue/Value do,
so a request never shrinks when it is turned into an integer.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, DecimalException, localcontext

QUANTITY_FMT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
FORMAT_ERROR = f"quantities must match the regular expression '{QUANTITY_FMT}'"
SUFFIX_ERROR = "unable to parse quantity's suffix"

_RE = re.compile(QUANTITY_FMT)
_NUMBER_RE = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$")
_EXPONENT_RE = re.compile(r"^[eE]([-+]?[0-9]+)$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
            "E": 18}
# Beyond this exponent a quantity cannot be a real amount of anything (int64 overflows first).
_MAX_EXPONENT = 64


def parse_quantity(s: str | int | float) -> Decimal:
    """The exact value of a quantity; ValueError with Kubernetes' message when malformed."""
    if isinstance(s, bool) or not isinstance(s, str | int | float):
        raise ValueError(FORMAT_ERROR)
    if isinstance(s, int):
        return Decimal(s)
    if isinstance(s, float):
        if s != s or s in (float("inf"), float("-inf")):
            raise ValueError(FORMAT_ERROR)
        return Decimal(repr(s))
    text = s.strip()
    m = _RE.match(text)
    if not m or not _NUMBER_RE.match(m.group(1)):
        raise ValueError(FORMAT_ERROR)
    number, suffix = m.group(1), m.group(2)
    try:
        with localcontext() as ctx:
            ctx.prec = 60
            value = Decimal(number)
            if suffix in _BINARY:
                return value * (Decimal(2) ** _BINARY[suffix])
            if suffix in _DECIMAL:
                return value.scaleb(_DECIMAL[suffix])
            exp = _EXPONENT_RE.match(suffix)
            if exp and abs(int(exp.group(1))) <= _MAX_EXPONENT:
                return value.scaleb(int(exp.group(1)))
    except (DecimalException, ArithmeticError):
        raise ValueError(FORMAT_ERROR) from None
    raise ValueError(SUFFIX_ERROR)


def is_quantity(s: object) -> bool:
    try:
        parse_quantity(s)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def format_quantity(value: Decimal, suffix_style: str = "binary") -> str:
    """The canonical spelling: `1Gi`, `500m`, `2k`; binary style only for whole multiples
    of 1024 (as Kubernetes prints memory), decimal otherwise."""
    if suffix_style not in ("binary", "decimal"):
        raise ValueError(f"unknown suffix style {suffix_style!r}: use 'binary' or 'decimal'")
    value = Decimal(value)
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v == v.to_integral_value():
        n = int(v)
        if suffix_style == "binary" and n >= 1024:
            for suffix, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
                if n % (1 << power) == 0:
                    return f"{sign}{n >> power}{suffix}"
        for suffix in ("E", "P", "T", "G", "M", "k"):
            scale = 10 ** _DECIMAL[suffix]
            if n and n % scale == 0:
                return f"{sign}{n // scale}{suffix}"
        return f"{sign}{n}"
    for suffix in ("m", "u", "n"):
        scaled = v.scaleb(-_DECIMAL[suffix])
        if scaled == scaled.to_integral_value():
            return f"{sign}{int(scaled)}{suffix}"
    return f"{sign}{int(v.scaleb(9).to_integral_value(rounding=ROUND_CEILING))}n"


def cpu_millis(s: str | int | float) -> int:
    """`250m` -> 250, `1.5` -> 1500; rounded up."""
    return int(parse_quantity(s).scaleb(3).to_integral_value(rounding=ROUND_CEILING))


def memory_bytes(s: str | int | float) -> int:
    """`128Mi` -> 134217728, `1G` -> 1000000000; rounded up."""
    return int(parse_quantity(s).to_integral_value(rounding=ROUND_CEILING))
