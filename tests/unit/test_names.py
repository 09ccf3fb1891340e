"""Name syntax checks return Kubernetes' exact messages."""

from __future__ import annotations

import pytest

from jota.api import names

LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@pytest.mark.parametrize("value,expected", [
    ("web", []),
    ("a" * 63, []),
    ("a" * 64, ["must be no more than 63 characters"]),
    ("123-abc", []),
    ("Web", [LABEL_MSG]),
    ("-web", [LABEL_MSG]),
    ("web-", [LABEL_MSG]),
    ("", [LABEL_MSG]),
    ("my.name", ["must not contain dots"]),
    (42, ["must be a string"]),
])
def test_dns1123_label(value: object, expected: list[str]) -> None:
    assert names.is_dns1123_label(value) == expected


@pytest.mark.parametrize("value,expected", [
    ("example.com", []),
    ("a" * 253, []),
    (".".join(["a" * 63] * 4)[:253], []),
    ("a" * 254, ["must be no more than 253 characters"]),
    ("Example.com", [SUBDOMAIN_MSG]),
    ("a..b", [SUBDOMAIN_MSG]),
    ("web_1", [SUBDOMAIN_MSG]),
])
def test_dns1123_subdomain(value: str, expected: list[str]) -> None:
    assert names.is_dns1123_subdomain(value) == expected


def test_dns1035_label_must_start_with_a_letter() -> None:
    assert names.is_dns1035_label("my-svc") == []
    assert names.is_dns1035_label("1svc") == [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
        "with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]


QNAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize("value,expected", [
    ("app", []),
    ("app.kubernetes.io/name", []),
    ("My_Name.1", []),
    ("-app", [QNAME_MSG]),
    ("/app", ["prefix part must be non-empty"]),
    ("example.com/", ["name part must be non-empty", QNAME_MSG]),
    ("a" * 64, ["name part must be no more than 63 characters"]),
    ("Example.com/app", ["prefix part " + SUBDOMAIN_MSG]),
])
def test_qualified_name(value: str, expected: list[str]) -> None:
    assert names.is_qualified_name(value) == expected


def test_qualified_name_with_two_slashes() -> None:
    (msg,) = names.is_qualified_name("a/b/c")
    assert msg.startswith("a qualified name must consist of alphanumeric characters")
    assert msg.endswith("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")


@pytest.mark.parametrize("value,ok", [
    ("", True), ("nginx", True), ("1.14.2", True), ("a" * 63, True), ("a" * 64, False),
    ("-x", False), ("x y", False),
])
def test_label_value(value: str, ok: bool) -> None:
    assert (names.is_valid_label_value(value) == []) is ok


def test_label_value_message() -> None:
    assert names.is_valid_label_value("bad value") == [
        "a valid label must be an empty string or consist of alphanumeric characters, '-', "
        "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
        "or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    ]


@pytest.mark.parametrize("value,expected", [
    ("http", []),
    ("metrics-port-15", []),
    ("metrics-port-156", ["must be no more than 15 characters"]),
    ("HTTP", ["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
              "must contain at least one letter (a-z)"]),
    ("80", ["must contain at least one letter (a-z)"]),
    ("a--b", ["must not contain consecutive hyphens"]),
    ("-ab", ["must not begin or end with a hyphen"]),
])
def test_port_name(value: str, expected: list[str]) -> None:
    assert names.is_valid_port_name(value) == expected


@pytest.mark.parametrize("value,ok", [
    ("game.properties", True), ("KEY_NAME", True), (".secret-file", True), ("a b", False),
    ("..", False), ("..a", False), ("a/b", False),
])
def test_config_map_key(value: str, ok: bool) -> None:
    assert (names.is_config_map_key(value) == []) is ok
