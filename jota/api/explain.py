"""`jota explain KIND[.field.path]`: kubectl explain, read from the same schemas we
validate with, so the documentation of a field can never disagree with its rules."""

from __future__ import annotations

import textwrap
from typing import Any

from jota.api import errors
from jota.api.registry import ResourceType, resolve
from jota.api.schema_data import definition_name, definitions, ref_name

_WIDTH = 80
_SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "Quantity",
}


def explain(path: str, recursive: bool = False) -> str:
    """The text kubectl prints for `kubectl explain path [--recursive]`."""
    rt, fields = _split(path)
    defs = definitions()
    root = defs[definition_name(rt.kind, rt.group, rt.version)]
    schema, field_name, field_schema = root, "", root
    for name in fields:
        props = _resolve(schema).get("properties") or {}
        if name not in props:
            raise errors.NotFound(f'field "{name}" does not exist')
        field_name, field_schema = name, props[name]
        schema = _element(field_schema)
    lines = []
    if rt.group:
        lines.append(f"GROUP:      {rt.group}")
    lines += [f"KIND:       {rt.kind}", f"VERSION:    {rt.version}", ""]
    if field_name:
        lines += [f"FIELD: {field_name} <{type_name(field_schema)}>", ""]
    enum = _enum(field_name, field_schema)
    if field_name and enum:
        lines += ["ENUM:"] + [f"    {v}" for v in enum] + [""]
    lines.append("DESCRIPTION:")
    description = field_schema.get("description") or _resolve(field_schema).get("description")
    lines += _wrap(description or "<empty>", 4)
    lines.append("")
    props = _resolve(schema).get("properties") or {}
    if props:
        lines.append("FIELDS:")
        required = set(_resolve(schema).get("required") or ())
        if recursive:
            lines += _recursive(schema, 1, set())
        else:
            for name in sorted(props):
                lines.append(_field_line(name, props[name], required, 1))
                field_enum = _enum(name, props[name])
                if field_enum:
                    lines.append("  enum: " + ", ".join(str(v) for v in field_enum))
                lines += _wrap(props[name].get("description") or
                               _resolve(props[name]).get("description") or "<no description>", 4)
                lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _enum(name: str, schema: dict[str, Any]) -> list[Any]:
    """Allowed values; not for apiVersion/kind, whose enum our schema source adds."""
    if name in ("apiVersion", "kind"):
        return []
    return list(_resolve(schema).get("enum") or schema.get("enum") or ())


def _split(path: str) -> tuple[ResourceType, list[str]]:
    parts = [p for p in path.strip().split(".") if p]
    if not parts:
        raise errors.BadRequest("you must specify the type of resource to explain")
    last_error: errors.APIError | None = None
    for n in (3, 2, 1):
        if n > len(parts):
            continue
        try:
            return resolve(".".join(parts[:n])), parts[n:]
        except errors.APIError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = definitions()[ref_name(schema["$ref"])]
    return schema


def _element(schema: dict[str, Any]) -> dict[str, Any]:
    """Where a path continues: into the items of an array, the values of a map."""
    s = _resolve(schema)
    while True:
        if isinstance(s.get("items"), dict):
            s = _resolve(s["items"])
        elif isinstance(s.get("additionalProperties"), dict) and not s.get("properties"):
            s = _resolve(s["additionalProperties"])
        else:
            return s


def type_name(schema: dict[str, Any]) -> str:
    """kubectl's `<type>`: `string`, `integer`, `[]Container`, `map[string]string`,
    `ObjectMeta`, `IntOrString`, `Quantity`, `Object`."""
    if "$ref" in schema:
        name = ref_name(schema["$ref"])
        if name in _SPECIAL:
            return _SPECIAL[name]
        target = definitions()[name]
        if target.get("properties") or "object" in _types(target):
            return name.rsplit(".", 1)[-1]
        return type_name(target)
    types = _types(schema)
    if "array" in types:
        items = schema.get("items")
        return "[]" + (type_name(items) if isinstance(items, dict) else "Object")
    if "object" in types:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return "map[string]" + type_name(extra)
        return "Object"
    for t in ("string", "integer", "boolean", "number"):
        if t in types:
            return t
    return "Object"


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    return [t] if isinstance(t, str) else list(t or ())


def _field_line(name: str, schema: dict[str, Any], required: set[str], depth: int) -> str:
    line = "  " * depth + f"{name}\t<{type_name(schema)}>"
    return line + " -required-" if name in required else line


def _recursive(schema: dict[str, Any], depth: int, seen: set[str]) -> list[str]:
    s = _resolve(schema)
    required = set(s.get("required") or ())
    lines = []
    for name, prop in sorted((s.get("properties") or {}).items()):
        lines.append(_field_line(name, prop, required, depth))
        ref = _element_ref(prop)
        if ref is not None and ref not in seen:
            lines += _recursive({"$ref": f"#/$defs/{ref}"}, depth + 1, seen | {ref})
    return lines


def _element_ref(schema: dict[str, Any]) -> str | None:
    s = schema
    for key in ("items", "additionalProperties"):
        if isinstance(s.get(key), dict):
            s = s[key]
    if "$ref" in s:
        name = ref_name(s["$ref"])
        return name if definitions()[name].get("properties") else None
    return None


def _wrap(text: str, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for paragraph in text.split("\n"):
        if not paragraph.strip():
            out.append(pad.rstrip())
            continue
        out += textwrap.wrap(paragraph, width=_WIDTH - indent, initial_indent=pad,
                             subsequent_indent=pad, break_on_hyphens=False,
                             break_long_words=False) or [pad]
    return out
