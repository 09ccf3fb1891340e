"""Quantities parse and print as Kubernetes' resource.Quantity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jota.api.quantity import (
    FORMAT_ERROR,
    cpu_millis,
    format_quantity,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize("text,value", [
    ("250m", Decimal("0.25")),
    ("1.5", Decimal("1.5")),
    ("128Mi", Decimal(128 * 1024**2)),
    ("1G", Decimal(10**9)),
    ("1e3", Decimal(1000)),
    ("1E3", Decimal(1000)),
    ("2Ki", Decimal(2048)),
    ("100n", Decimal("0.0000001")),
    ("5u", Decimal("0.000005")),
    ("-1", Decimal(-1)),
    ("+2k", Decimal(2000)),
    (".5", Decimal("0.5")),
    ("1Ei", Decimal(2**60)),
    (3, Decimal(3)),
    (0.5, Decimal("0.5")),
])
def test_parse_valid(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text,message", [
    ("12ZZ", FORMAT_ERROR),
    ("", FORMAT_ERROR),
    (".", FORMAT_ERROR),
    ("1.2.3", FORMAT_ERROR),
    ("Mi", FORMAT_ERROR),
    ("1Kii", "unable to parse quantity's suffix"),
    ("1m5", "unable to parse quantity's suffix"),
])
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_quantity(text)
    assert str(exc.value) == message


def test_format_error_names_the_regex() -> None:
    assert FORMAT_ERROR == (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize("bad", [True, None, [1], {"a": 1}, float("nan"), float("inf")])
def test_parse_rejects_non_quantities(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("value,style,text", [
    (Decimal(128 * 1024**2), "binary", "128Mi"),
    (Decimal(1536 * 1024**2), "binary", "1536Mi"),
    (Decimal(10**9), "binary", "1G"),
    (Decimal(10**9), "decimal", "1G"),
    (Decimal(1024), "decimal", "1024"),
    (Decimal(2000), "binary", "2k"),
    (Decimal(512), "binary", "512"),
    (Decimal("0.25"), "decimal", "250m"),
    (Decimal("0.000005"), "decimal", "5u"),
    (Decimal("-0.5"), "decimal", "-500m"),
    (Decimal(0), "binary", "0"),
])
def test_format(value: Decimal, style: str, text: str) -> None:
    assert format_quantity(value, style) == text


def test_format_round_trips() -> None:
    for text in ("250m", "128Mi", "1G", "3", "1500m"):
        assert parse_quantity(format_quantity(parse_quantity(text))) == parse_quantity(text)


@pytest.mark.parametrize("text,millis", [("250m", 250), ("1.5", 1500), ("2", 2000),
                                         ("0.0001", 1), (1, 1000)])
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize("text,size", [("128Mi", 134217728), ("1G", 10**9), ("1e3", 1000),
                                       ("1.5Ki", 1536), ("0.5", 1)])
def test_memory_bytes(text: str, size: int) -> None:
    assert memory_bytes(text) == size
