"""`-o yaml|json|name|jsonpath=|custom-columns=` output, byte for byte as kubectl's.

Several objects are wrapped in a `List` (`apiVersion: v1, kind: List, items, metadata:
{resourceVersion: ""}`) exactly as `kubectl get` does, so templates written for
kubectl (`{.items[*].metadata.name}`) work unchanged. Keys are sorted in both
YAML and JSON: kubectl prints objects it read from the server as unstructured
maps, which Go marshals in sorted order (YAML with go-yaml's "natural" order,
where `a2` comes before `a10`).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml

from jota.api.errors import BadRequest
from jota.api.meta import Obj, name_of
from jota.api.registry import ResourceType, by_kind
from jota.cli.context import UsageError
from jota.cli.printers import jsonpath
from jota.cli.printers.fields import go_value, html_escape
from jota.cli.printers.table import render

ALLOWED_FORMATS = ("custom-columns,custom-columns-file,go-template,go-template-file,json,"
                   "jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,"
                   "yaml")
TABLE_FORMATS = ("", "wide")


def is_table_format(fmt: str) -> bool:
    """`-o wide` and no `-o` print tables (print_table); everything else goes here."""
    return fmt in TABLE_FORMATS


def as_list(objs: list[Obj]) -> Obj:
    """The `List` kubectl wraps several objects in."""
    return {"apiVersion": "v1", "items": list(objs), "kind": "List",
            "metadata": {"resourceVersion": ""}}


def format_output(fmt: str, rt: ResourceType | None, objs: list[Obj], *, single: bool,
                  no_headers: bool = False) -> str:
    """Print `objs` in the `-o` format `fmt`. `single` is kubectl's "one object was named"
    (`get pod web`), which prints the object itself instead of a List.

    Raises BadRequest with kubectl's words for an unknown format or a bad template."""
    name, _, arg = fmt.partition("=")
    data: Any = objs[0] if single and len(objs) == 1 else as_list(objs)
    if name == "yaml":
        return to_yaml(data)
    if name == "json":
        return to_json(data)
    if name == "name":
        return "".join(f"{resource_name(rt, o)}\n" for o in objs)
    if name in ("jsonpath", "jsonpath-file", "jsonpath-as-json"):
        template = _read_file(arg) if name == "jsonpath-file" else arg
        if not arg:
            raise UsageError("template format specified but no template given")
        return run_jsonpath(template, data, as_json=name == "jsonpath-as-json")
    if name in ("custom-columns", "custom-columns-file"):
        if name == "custom-columns-file":
            columns = _columns_from_file(_read_file(arg))
        else:
            if not arg:
                raise UsageError("custom-columns format specified but no custom columns given")
            columns = parse_custom_columns(arg)
        return custom_columns(columns, objs, no_headers=no_headers)
    if name in ("go-template", "go-template-file", "template", "templatefile"):
        raise UsageError(f'output format "{name}" is not supported by jota; '
                         "use jsonpath or custom-columns")
    raise UsageError(f'unable to match a printer suitable for the output format "{fmt}", '
                     f"allowed formats are: {ALLOWED_FORMATS}")


def resource_name(rt: ResourceType | None, obj: Obj) -> str:
    """`deployment.apps/web`, `pod/web-1`: kubectl's `-o name`."""
    if rt is None:
        try:
            rt = by_kind(str(obj.get("kind", "")))
        except BadRequest:
            kind = str(obj.get("kind", "")).lower()
            group = str(obj.get("apiVersion", "")).rpartition("/")[0]
            return f"{kind}.{group}/{name_of(obj)}" if group else f"{kind}/{name_of(obj)}"
    return f"{rt.display}/{name_of(obj)}"


# --- YAML and JSON -------------------------------------------------------------------------

class _GoYAMLDumper(yaml.SafeDumper):
    """SafeDumper that quotes as go-yaml does: double quotes for strings that would read
    as another type (`"123"`, `""`, `"true"`), literal blocks for multi-line strings."""


_GO_NUMBER = re.compile(r"^[-+]?(\.\d+|\d+(\.\d*)?)([eE][-+]?\d+)?$")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    resolved = dumper.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    if resolved != "tag:yaml.org,2002:str" or _GO_NUMBER.match(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_GoYAMLDumper.add_representer(str, _represent_str)


def _go_key_less(a: str, b: str) -> int:
    """go-yaml's keyList.Less: letters after other characters, digit runs compared as
    numbers. Returns a cmp result for functools.cmp_to_key."""
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        la, lb = ca.isalpha(), cb.isalpha()
        if la and lb:
            return -1 if ca < cb else 1
        if la or lb:
            return -1 if lb else 1
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return -1 if an < bn else 1
        if ai != bi:
            return -1 if ai < bi else 1
        return -1 if ca < cb else 1
    return -1 if len(a) < len(b) else (1 if len(a) > len(b) else 0)


def _go_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=functools.cmp_to_key(lambda x, y: _go_key_less(str(x),
                                                                                 str(y))))
        return {k: _go_sorted(value[k]) for k in keys}
    if isinstance(value, list):
        return [_go_sorted(v) for v in value]
    return value


def to_yaml(data: Any) -> str:
    """`-o yaml`: block style, sorted keys, no document markers."""
    return yaml.dump(_go_sorted(data), Dumper=_GoYAMLDumper, default_flow_style=False,
                     sort_keys=False, allow_unicode=True)


def to_json(data: Any) -> str:
    """`-o json`: 4-space indent, sorted keys, Go's escaping of <, > and &."""
    return html_escape(json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False)) + "\n"


# --- templates -----------------------------------------------------------------------------

def run_jsonpath(template: str, data: Any, *, as_json: bool = False) -> str:
    try:
        jsonpath.parse(template)
    except jsonpath.JSONPathError as e:
        raise UsageError(f"error parsing jsonpath {template}, {e}") from None
    try:
        return jsonpath.execute(template, data, as_json=as_json)
    except jsonpath.JSONPathError as e:
        raise UsageError(f"error executing jsonpath {json.dumps(template)}: Error executing "
                         f"template: {e}. Printing more information for debugging the "
                         f"template:\n\ttemplate was:\n\t\t{template}\n") from None


_RELAXED = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


def relaxed_jsonpath(expr: str) -> str:
    """RelaxedJSONPathExpression: `.a.b`, `a.b`, `{a.b}` all mean `{.a.b}`."""
    if not expr:
        return expr
    match = _RELAXED.match(expr)
    if match is None:
        raise UsageError("unexpected path string, expected a 'name1.name2' or '.name1.name2' "
                         "or '{name1.name2}' or '{.name1.name2}'")
    return "{." + (match.group(1) or match.group(2)) + "}"


def parse_custom_columns(spec: str) -> list[tuple[str, str]]:
    columns = []
    for part in spec.split(","):
        header, sep, expr = part.partition(":")
        if not sep:
            raise UsageError(f"unexpected custom-columns spec: {part}, expected "
                             "<header>:<json-path-expr>")
        columns.append((header, relaxed_jsonpath(expr)))
    return columns


def _columns_from_file(text: str) -> list[tuple[str, str]]:
    lines = text.splitlines()
    hint = ("Expected format is one line of space separated headers, one line of space "
            "separated column specs.")
    if not lines:
        raise UsageError(f"invalid template, missing header line. {hint}")
    if len(lines) < 2:
        raise UsageError(f"invalid template, missing spec line. {hint}")
    headers, specs = lines[0].split(), lines[1].split()
    if len(headers) != len(specs):
        raise UsageError(f"number of headers ({len(headers)}) and field specifications "
                         f"({len(specs)}) don't match")
    return [(h, relaxed_jsonpath(s)) for h, s in zip(headers, specs, strict=True)]


def custom_columns(columns: list[tuple[str, str]], objs: list[Obj], *,
                   no_headers: bool = False) -> str:
    """One row per object; a column with several values joins them with commas, a missing
    one prints `<none>`, as kubectl's custom-columns printer."""
    for _, expr in columns:
        try:
            jsonpath.parse(expr)
        except jsonpath.JSONPathError as e:
            raise UsageError(f"error parsing jsonpath {expr}, {e}") from None
    rows: list[list[str]] = [] if no_headers else [[h for h, _ in columns]]
    for obj in objs:
        row = []
        for _, expr in columns:
            try:
                found = jsonpath.find_results(expr, obj)
            except jsonpath.JSONPathError as e:
                raise UsageError(str(e)) from None
            values = [] if found and found[0] else ["<none>"]
            values += [go_value(v) for group in found for v in group]
            row.append(",".join(values))
        rows.append(row)
    return render(rows)


def _read_file(path: str) -> str:
    """The one piece of I/O here: `-o jsonpath-file=`/`custom-columns-file=` name a file."""
    try:
        return Path(path).read_text()
    except OSError as e:
        raise UsageError(f"error reading template {path}, {e}") from None
