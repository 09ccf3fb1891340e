"""`-o yaml|json|name|jsonpath|custom-columns`: what scripts written for kubectl parse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jota.api.registry import by_kind
from jota.cli.context import UsageError
from jota.cli.printers import format_output, is_table_format

POD = by_kind("Pod")


def pod(name: str, phase: str = "Running", ready: str = "True") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "42",
                     "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"},
                                {"name": "log", "image": "busybox:1.36"}]},
        "status": {"phase": phase, "conditions": [{"type": "Initialized", "status": "True"},
                                                  {"type": "Ready", "status": ready}]},
    }


PODS = [pod("web-1"), pod("web-2", "Pending", "False")]


def test_yaml_single_object() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "cfg", "resourceVersion": "123", "creationTimestamp":
                        "2024-05-01T11:55:00Z", "labels": {}},
           "data": {"a10": "1", "a9": "true", "a_b": "", "aB": "x: y", "conf": "k=v\nz=1\n",
                    "port": "8080", "note": "plain text", "ratio": "1e3", "nul": "null"}}
    assert format_output("yaml", by_kind("ConfigMap"), [obj], single=True) == (
        "apiVersion: v1\n"
        "data:\n"
        '  a_b: ""\n'
        '  a9: "true"\n'
        '  a10: "1"\n'
        "  aB: 'x: y'\n"
        "  conf: |\n"
        "    k=v\n"
        "    z=1\n"
        "  note: plain text\n"
        '  nul: "null"\n'
        '  port: "8080"\n'
        '  ratio: "1e3"\n'
        "kind: ConfigMap\n"
        "metadata:\n"
        '  creationTimestamp: "2024-05-01T11:55:00Z"\n'
        "  labels: {}\n"
        "  name: cfg\n"
        '  resourceVersion: "123"\n'
    )


def test_yaml_several_objects_are_a_list() -> None:
    small = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
             for n in ("a", "b")]
    assert format_output("yaml", by_kind("Namespace"), small, single=False) == (
        "apiVersion: v1\n"
        "items:\n"
        "- apiVersion: v1\n"
        "  kind: Namespace\n"
        "  metadata:\n"
        "    name: a\n"
        "- apiVersion: v1\n"
        "  kind: Namespace\n"
        "  metadata:\n"
        "    name: b\n"
        "kind: List\n"
        "metadata:\n"
        '  resourceVersion: ""\n'
    )
    assert format_output("yaml", POD, [], single=False) == (
        'apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ""\n')


def test_json() -> None:
    obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cfg"},
           "data": {"html": "<b>&</b>", "unicode": "é"}, "binaryData": {}}
    assert format_output("json", None, [obj], single=True) == (
        "{\n"
        '    "apiVersion": "v1",\n'
        '    "binaryData": {},\n'
        '    "data": {\n'
        '        "html": "\\u003cb\\u003e\\u0026\\u003c/b\\u003e",\n'
        '        "unicode": "é"\n'
        "    },\n"
        '    "kind": "ConfigMap",\n'
        '    "metadata": {\n'
        '        "name": "cfg"\n'
        "    }\n"
        "}\n"
    )
    assert format_output("json", None, [], single=False) == (
        '{\n    "apiVersion": "v1",\n    "items": [],\n    "kind": "List",\n'
        '    "metadata": {\n        "resourceVersion": ""\n    }\n}\n')


def test_name() -> None:
    assert format_output("name", POD, PODS, single=False) == "pod/web-1\npod/web-2\n"
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    assert format_output("name", by_kind("Deployment"), [deploy], single=True) == (
        "deployment.apps/web\n")
    # Mixed kinds (from `apply -f`): each object's own kind and group.
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert format_output("name", None, [deploy, widget], single=False) == (
        "deployment.apps/web\nwidget.example.com/w\n")


@pytest.mark.parametrize(("template", "single", "expected"), [
    ("{.metadata.name}", True, "web-1"),
    ("{.items[*].metadata.name}", False, "web-1 web-2"),
    ("{.items[0].metadata.name}", False, "web-1"),
    ("{.items[-1:].metadata.name}", False, "web-2"),
    ("{.items[-1].status.phase}", False, "Pending"),
    ("{.items[0:2:1].metadata.name}", False, "web-1 web-2"),
    ("{.items[0,1].metadata.name}", False, "web-1 web-2"),
    ("{.spec.containers[*].image}", True, "nginx:1.25 busybox:1.36"),
    ("{.spec.containers[*]['name']}", True, "web log"),
    ('{.status.conditions[?(@.type=="Ready")].status}', True, "True"),
    ("{.items[?(@.status.phase=='Pending')].metadata.name}", False, "web-2"),
    ('{.items[?(@.status.phase!="Pending")].metadata.name}', False, "web-1"),
    ("{.status.conditions[?(@.reason)].type}", True, ""),
    ("{.metadata.labels}", True, '{"app":"web"}'),
    ("{.spec.containers[0]}", True, '{"image":"nginx:1.25","name":"web"}'),
    ("{.metadata.missing}", True, ""),
    ("name={.metadata.name} rv={.metadata.resourceVersion}", True, "name=web-1 rv=42"),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}', False,
     "web-1\tRunning\nweb-2\tPending\n"),
    ("{range .items[*]}[{range .spec.containers[*]}{.name},{end}]{end}", False,
     "[web,log,][web,log,]"),
    ("{..image}", True, "nginx:1.25 busybox:1.36"),
    ("{.metadata.*}", True, '{"app":"web"} web-1 default 42'),
    ("{.metadata.labels.app\\.kubernetes\\.io/name}", True, ""),
    ("{$.kind}", True, "Pod"),
])
def test_jsonpath(template: str, single: bool, expected: str) -> None:
    objs = PODS[:1] if single else PODS
    assert format_output(f"jsonpath={template}", POD, objs, single=single) == expected


def test_jsonpath_numbers_and_bools() -> None:
    obj = {"kind": "Deployment", "spec": {"replicas": 3, "paused": False, "ratio": 0.5,
                                          "big": 2.0}}
    out = format_output("jsonpath={.spec.replicas} {.spec.paused} {.spec.ratio} {.spec.big}",
                        None, [obj], single=True)
    assert out == "3 false 0.5 2"


def test_jsonpath_as_json_and_file(tmp_path: Path) -> None:
    assert format_output("jsonpath-as-json={.items[*].metadata.name}", POD, PODS,
                         single=False) == '[\n    "web-1",\n    "web-2"\n]\n'
    template = tmp_path / "t.txt"
    template.write_text("{.metadata.name}")
    assert format_output(f"jsonpath-file={template}", POD, PODS[:1], single=True) == "web-1"


@pytest.mark.parametrize(("fmt", "message"), [
    ("jsonpath={.foo", "error parsing jsonpath {.foo, unclosed action"),
    ("jsonpath={.items[}", "error parsing jsonpath {.items[}, unterminated array"),
    ("jsonpath={.a[x]}", "error parsing jsonpath {.a[x]}, invalid array index x"),
    ("jsonpath={#}", "error parsing jsonpath {#}, unrecognized character in action: "
                     "U+0023 '#'"),
    ("jsonpath=", "template format specified but no template given"),
    ("foo", 'unable to match a printer suitable for the output format "foo", allowed formats '
            "are: custom-columns,custom-columns-file,go-template,go-template-file,json,"
            "jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml"),
    ("custom-columns=NAME", "unexpected custom-columns spec: NAME, expected "
                            "<header>:<json-path-expr>"),
    ("custom-columns=", "custom-columns format specified but no custom columns given"),
])
def test_bad_formats(fmt: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        format_output(fmt, POD, PODS, single=False)
    assert str(err.value) == message


def test_jsonpath_execution_errors() -> None:
    with pytest.raises(UsageError) as err:
        format_output("jsonpath={.items[5].metadata.name}", POD, PODS, single=False)
    assert str(err.value).startswith(
        'error executing jsonpath "{.items[5].metadata.name}": Error executing template: '
        "array index out of bounds: index 5, length 2. Printing more information")
    with pytest.raises(UsageError) as err:
        format_output("jsonpath={end}", POD, PODS, single=False)
    assert "not in range, nothing to end" in str(err.value)


def test_custom_columns() -> None:
    out = format_output("custom-columns=NAME:.metadata.name,IMAGES:.spec.containers[*].image,"
                        "NODE:.spec.nodeName,LABELS:metadata.labels,READY:"
                        '{.status.conditions[?(@.type=="Ready")].status}', POD, PODS,
                        single=False)
    assert out == (
        "NAME    IMAGES                    NODE     LABELS         READY\n"
        "web-1   nginx:1.25,busybox:1.36   <none>   map[app:web]   True\n"
        "web-2   nginx:1.25,busybox:1.36   <none>   map[app:web]   False\n"
    )
    assert format_output("custom-columns=NAME:.metadata.name", POD, PODS[:1], single=True,
                         no_headers=True) == "web-1\n"
    assert format_output("custom-columns=NAME:.metadata.name", POD, [], single=False) == "NAME\n"


def test_custom_columns_file(tmp_path: Path) -> None:
    spec = tmp_path / "cols.txt"
    spec.write_text("NAME          PHASE\n.metadata.name   .status.phase\n")
    assert format_output(f"custom-columns-file={spec}", POD, PODS, single=False) == (
        "NAME    PHASE\nweb-1   Running\nweb-2   Pending\n")
    spec.write_text("NAME PHASE\n.metadata.name\n")
    with pytest.raises(UsageError) as err:
        format_output(f"custom-columns-file={spec}", POD, PODS, single=False)
    assert str(err.value) == "number of headers (2) and field specifications (1) don't match"


def test_table_formats_are_not_handled_here() -> None:
    assert is_table_format("") and is_table_format("wide")
    assert not is_table_format("yaml")
