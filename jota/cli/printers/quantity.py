"""Just enough of resource.Quantity for describe: parse, add, compare and print sums.

Describe prints totals (a node's allocated CPU and memory) and decides a pod's
QoS class, both of which need arithmetic on quantities and kubectl's canonical
way of printing the result (`350m`, `192Mi`, `1500m`, `2`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
            "E": 18}
_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_PATTERN = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    binary: bool = False

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self.binary)

    def __str__(self) -> str:
        return canonical(self.value, self.binary)


ZERO = Quantity(Decimal(0))


def parse(raw: Any) -> Quantity:
    """A quantity from its JSON form (`"250m"`, `"64Mi"`, `2`); unreadable is zero."""
    if raw is None:
        return ZERO
    if isinstance(raw, int | float):
        return Quantity(Decimal(str(raw)))
    match = _PATTERN.match(str(raw).strip())
    if match is None:
        return ZERO
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation:
        return ZERO
    if suffix in _BINARY:
        return Quantity(base * (Decimal(1024) ** _BINARY[suffix]), True)
    if suffix[:1] in ("e", "E"):
        return Quantity(base.scaleb(int(suffix[1:])))
    return Quantity(base.scaleb(_DECIMAL[suffix]))


def canonical(value: Decimal, binary: bool = False) -> str:
    """resource.Quantity.String() for a value and its format."""
    if value == 0:
        return "0"
    if binary and abs(value) >= 1024 and value == value.to_integral_value():
        exp = 0
        while exp < 6 and value % (Decimal(1024) ** (exp + 1)) == 0:
            exp += 1
        mantissa = value / (Decimal(1024) ** exp)
        suffix = {0: ""} | {v: k for k, v in _BINARY.items()}
        return f"{int(mantissa)}{suffix[exp]}"
    # DecimalSI: the largest power of 1000 that leaves an integer (at least milli-units,
    # rounding up beyond that as Kubernetes does).
    best = -9
    for candidate in (18, 15, 12, 9, 6, 3, 0, -3, -6, -9):
        scaled = value.scaleb(-candidate)
        if scaled == scaled.to_integral_value():
            best = candidate
            break
    scaled = value.scaleb(-best).to_integral_value(rounding="ROUND_CEILING")
    return f"{int(scaled)}{_SUFFIX[best]}"
