"""Label selectors (`-l`, metav1.LabelSelector) and field selectors (`--field-selector`)."""

from __future__ import annotations

from typing import Any

import pytest

from jota.api import errors
from jota.api.selectors import (
    LabelSelector,
    field_selector_fields,
    field_set,
    from_label_selector_object,
    from_set,
    labels_to_string,
    parse_field_selector,
    parse_label_selector,
    selector_to_string,
)

WEB = {"app": "web", "tier": "frontend", "version": "3"}

MATCH_CASES: list[tuple[str, dict[str, str], bool]] = [
    ("", WEB, True),
    ("", {}, True),
    ("app=web", WEB, True),
    ("app==web", WEB, True),
    ("app=db", WEB, False),
    ("app!=db", WEB, True),
    ("app!=web", WEB, False),
    ("missing!=x", WEB, True),
    ("app=web,tier=frontend", WEB, True),
    ("app=web,tier=backend", WEB, False),
    ("app in (web,db)", WEB, True),
    ("app in (db, cache)", WEB, False),
    ("app notin (db)", WEB, True),
    ("app notin (web)", WEB, False),
    ("missing notin (web)", WEB, True),
    ("missing in (web)", WEB, False),
    ("app", WEB, True),
    ("missing", WEB, False),
    ("!missing", WEB, True),
    ("!app", WEB, False),
    ("version>2", WEB, True),
    ("version<2", WEB, False),
    ("app>2", WEB, False),
    ("empty=", {"empty": ""}, True),
    ("empty=", {}, False),
    ("in=notin", {"in": "notin"}, True),
    ("  app = web ,  !gone ", WEB, True),
    ("example.com/owner=ops", {"example.com/owner": "ops"}, True),
]


@pytest.mark.parametrize(("text", "labels", "matches"), MATCH_CASES)
def test_label_selector_matches(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_label_selector(text).matches(labels) is matches


@pytest.mark.parametrize(("text", "rendered"), [
    ("tier=fe,app=web", "app=web,tier=fe"),
    ("app in (b, a)", "app in (a,b)"),
    ("app notin (x)", "app notin (x)"),
    ("app==web", "app==web"),
    ("!canary,app", "app,!canary"),
    ("n>1", "n>1"),
    ("", ""),
])
def test_label_selector_string(text: str, rendered: str) -> None:
    assert str(parse_label_selector(text)) == rendered


LABEL_ERRORS: list[tuple[str, str]] = [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("=x", "found '=', expected: !, identifier, or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("-bad=x", 'unable to parse requirement: key: Invalid value: "-bad": name part must '
               "consist of alphanumeric characters"),
    ("a=-x", 'unable to parse requirement: values[0][a]: Invalid value: "-x": a valid label '
             "must be an empty string"),
    ("n>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' "
            "operators, the value must be an integer"),
]


@pytest.mark.parametrize(("text", "message"), LABEL_ERRORS)
def test_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        parse_label_selector(text)
    assert caught.value.message.startswith(message), caught.value.message


OBJECT_CASES: list[tuple[Any, dict[str, str], bool]] = [
    (None, WEB, False),
    (None, {}, False),
    ({}, WEB, True),
    ({}, {}, True),
    ({"matchLabels": {"app": "web"}}, WEB, True),
    ({"matchLabels": {"app": "db"}}, WEB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]},
     WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]},
     WEB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, WEB, False),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "version", "operator": "In", "values": ["1", "2"]}]},
     WEB, False),
]


@pytest.mark.parametrize(("sel", "labels", "matches"), OBJECT_CASES)
def test_label_selector_object(sel: Any, labels: dict[str, str], matches: bool) -> None:
    assert from_label_selector_object(sel).matches(labels) is matches


def test_everything_and_nothing_are_explicit() -> None:
    assert LabelSelector.everything().matches({}) and LabelSelector.everything().empty
    assert not LabelSelector.none().matches({"a": "b"}) and not LabelSelector.none().empty
    assert from_set({}).matches(WEB)
    assert from_set({"app": "web"}).matches(WEB)
    assert not from_set({"app": "web", "x": "y"}).matches(WEB)


@pytest.mark.parametrize(("sel", "message"), [
    ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
     '"Gt" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     "values set must be empty"),
    ({"matchLabels": {"a": "b c"}}, "a valid label must be an empty string"),
    ({"matchLabels": ["a"]}, "matchLabels must be a map"),
    ("app=web", "is not an object"),
])
def test_label_selector_object_errors(sel: Any, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message):
        from_label_selector_object(sel)


@pytest.mark.parametrize(("sel", "text"), [
    ({"matchLabels": {"pod-template-hash": "abc", "app": "web"}}, "app=web,pod-template-hash=abc"),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["qa", "dev"]},
                           {"key": "canary", "operator": "DoesNotExist"}]},
     "app=web,!canary,env notin (dev,qa)"),
    ({}, "<none>"),
    (None, "<none>"),
    ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, "<error>"),
])
def test_selector_to_string(sel: Any, text: str) -> None:
    assert selector_to_string(sel) == text


def test_labels_to_string() -> None:
    assert labels_to_string({"b": "2", "a": "1"}) == "a=1,b=2"
    assert labels_to_string({}) == "<none>"
    assert labels_to_string(None) == "<none>"


# --- field selectors ----------------------------------------------------------------------

RUNNING_POD: dict[str, Any] = {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "prod"},
               "spec": {"nodeName": "n1", "restartPolicy": "Always"},
               "status": {"phase": "Running", "podIPs": [{"ip": "10.244.1.5"}],
                          "podIP": "10.244.1.5"}}
PENDING_POD: dict[str, Any] = {"kind": "Pod", "metadata": {"name": "web-2", "namespace": "prod"},
               "spec": {}, "status": {"phase": "Pending"}}
EVENT: dict[str, Any] = {"kind": "Event", "metadata": {"name": "e1", "namespace": "prod"},
         "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "prod"},
         "reason": "Scheduled", "type": "Normal", "source": {"component": "scheduler"}}
NODE: dict[str, Any] = {"kind": "Node", "metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
SECRET: dict[str, Any] = {"kind": "Secret", "metadata": {"name": "s", "namespace": "a"},
          "type": "kubernetes.io/tls"}

FIELD_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("", RUNNING_POD, True),
    ("metadata.name=web-1", RUNNING_POD, True),
    ("metadata.name==web-1", RUNNING_POD, True),
    ("metadata.name!=web-1", RUNNING_POD, False),
    ("metadata.namespace=prod,status.phase=Running", RUNNING_POD, True),
    ("spec.nodeName=n1", RUNNING_POD, True),
    ("spec.nodeName=", PENDING_POD, True),
    ("spec.nodeName!=", PENDING_POD, False),
    ("status.phase!=Running", PENDING_POD, True),
    ("status.podIP=10.244.1.5", RUNNING_POD, True),
    ("spec.restartPolicy=Always", RUNNING_POD, True),
    ("spec.hostNetwork=false", RUNNING_POD, True),
    ("involvedObject.name=web-1,involvedObject.kind=Pod", EVENT, True),
    ("reason=Scheduled,type=Normal,source=scheduler", EVENT, True),
    ("involvedObject.name=web-2", EVENT, False),
    ("spec.unschedulable=true", NODE, True),
    ("type=kubernetes.io/tls", SECRET, True),
]


@pytest.mark.parametrize(("text", "obj", "matches"), FIELD_CASES)
def test_field_selector_matches(text: str, obj: dict[str, Any], matches: bool) -> None:
    assert parse_field_selector(text, kind=obj["kind"]).matches(obj) is matches


@pytest.mark.parametrize(("text", "kind", "message"), [
    ("foo=bar", "Pod", "field label not supported: foo"),
    ("spec.nodeName=n1", "Service", "field label not supported: spec.nodeName"),
    ("type=Opaque", "ConfigMap", "field label not supported: type"),
    ("metadata.name", "Pod", "invalid selector: 'metadata.name'; can't understand "
                             "'metadata.name'"),
    ("metadata.name=a=b", "Pod", "invalid field selector: unescaped character in value: ="),
    ("metadata.name=a\\x", "Pod", "invalid field selector: invalid escape sequence: \\x"),
])
def test_field_selector_errors(text: str, kind: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        parse_field_selector(text, kind=kind)
    assert caught.value.message == message


def test_field_selector_escapes_and_string() -> None:
    selector = parse_field_selector("metadata.name=a\\,b\\=c\\\\d")
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}})
    assert str(selector) == "metadata.name=a\\,b\\=c\\\\d"
    assert str(parse_field_selector("status.phase!=Failed,spec.nodeName=n1")) == (
        "spec.nodeName=n1,status.phase!=Failed")


@pytest.mark.parametrize(("text", "field", "value"), [
    ("spec.nodeName=n1", "spec.nodeName", "n1"),
    ("spec.nodeName==n1,status.phase=Running", "spec.nodeName", "n1"),
    ("spec.nodeName=", "spec.nodeName", ""),
    ("spec.nodeName!=n1", "spec.nodeName", None),
    ("status.phase=Running", "spec.nodeName", None),
    ("", "spec.nodeName", None),
])
def test_field_selector_exact(text: str, field: str, value: str | None) -> None:
    assert parse_field_selector(text).exact(field) == value


def test_field_selector_fields() -> None:
    assert {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase",
            "spec.restartPolicy", "spec.schedulerName",
            "status.podIP"} <= field_selector_fields("Pod")
    assert field_selector_fields("ConfigMap") == {"metadata.name", "metadata.namespace"}
    assert "spec.unschedulable" in field_selector_fields("Node")
    assert {"type", "reason", "involvedObject.uid"} <= field_selector_fields("Event")
    assert "type" in field_selector_fields("Secret")


def test_field_set_covers_every_supported_field() -> None:
    for obj in (RUNNING_POD, EVENT, NODE, SECRET):
        assert set(field_set(obj)) == field_selector_fields(obj["kind"])
