"""Structural validation of a document against its kind's Kubernetes schema.

Two validators, one job each: a compiled fastjsonschema validator answers
"is this valid?" in microseconds on every write; only when it says no do we
run `jsonschema`, which is ~100x slower but lists *every* error with its path,
so a user fixes a manifest in one round trip. Errors come out in kubectl's
words: `unknown field "spec.contaners"`, `must be of type int32`, ...

The schemas are Kubernetes' own OpenAPI definitions (`schema_data`), lightly
rewritten once per process (`_prepare`): descriptions and extensions are
dropped, IntOrString and Quantity become one `type` list (their `oneOf` of two
nullable types rejects `null` and would report two errors for one mistake).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import fastjsonschema
import jsonschema

from jota.api import errors
from jota.api.errors import FieldError
from jota.api.meta import Obj
from jota.api.quantity import FORMAT_ERROR as QUANTITY_FORMAT_ERROR
from jota.api.registry import ResourceType
from jota.api.schema_data import definition_name, definitions

_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_MARK = "x-jota-type"
_DROP = ("description",)
_MAX_SHOWN = 200
_REQUIRED_RE = re.compile(r"^'(.*)' is a required property$")


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _strip(v) if k != "properties" else {pk: _strip(pv) for pk, pv in v.items()}
            for k, v in node.items()
            if k not in _DROP and not k.startswith("x-kubernetes-")
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


@functools.cache
def prepared_definitions() -> dict[str, Any]:
    """Kubernetes' definitions as our validators use them (see the module docstring)."""
    defs = {name: _strip(schema) for name, schema in definitions().items()}
    defs[_INT_OR_STRING] = {"type": ["string", "integer", "null"], _MARK: "int-or-string"}
    defs[_QUANTITY] = {"type": ["string", "number", "null"], _MARK: "quantity"}
    return defs


def _definition_for(rt: ResourceType, obj: Obj) -> str:
    api_version = obj.get("apiVersion") if isinstance(obj, dict) else None
    if isinstance(api_version, str) and api_version in rt.also_versions:
        group, _, version = api_version.rpartition("/")
        try:
            return definition_name(rt.kind, group, version)
        except KeyError:
            pass
    return definition_name(rt.kind, rt.group, rt.version)


def _root(name: str) -> dict[str, Any]:
    defs = prepared_definitions()
    return {**defs[name], "$defs": defs}


@functools.cache
def _fast(name: str) -> Callable[[Any], Any]:
    return fastjsonschema.compile(  # type: ignore[no-any-return]
        _root(name), use_default=False, use_formats=False, detailed_exceptions=False
    )


@functools.cache
def _slow(name: str) -> Any:
    return jsonschema.Draft202012Validator(_root(name))


def warm_up(rt: ResourceType) -> None:
    """Compile the validator of a kind ahead of its first write (compiling takes ~1 s)."""
    _fast(definition_name(rt.kind, rt.group, rt.version))


def check_schema(rt: ResourceType, obj: Obj) -> list[FieldError]:
    """Every structural error in `obj`, or [] when it fits the kind's schema."""
    if not isinstance(obj, dict):
        return [errors.invalid("<root>", shown_value(obj), "must be of type object")]
    name = _definition_for(rt, obj)
    try:
        _fast(name)(obj)
        return []
    except fastjsonschema.JsonSchemaValueException as exc:
        first = exc
    except RecursionError:
        return [errors.invalid("<root>", "<nested too deeply>", "object is nested too deeply")]
    try:
        found = _dedupe(_translate_all(_slow(name).iter_errors(obj)))
    except RecursionError:
        found = []
    return found or [_from_fast(first)]


def _translate_all(errs: Iterable[Any]) -> list[FieldError]:
    out: list[FieldError] = []
    for err in errs:
        out.extend(_translate(err))
    return out


def _dedupe(found: list[FieldError]) -> list[FieldError]:
    seen: set[str] = set()
    out = []
    for fe in found:
        key = f"{fe.type}|{fe.path}|{fe.detail}"
        if key not in seen:
            seen.add(key)
            out.append(fe)
    return out


def _translate(err: Any) -> list[FieldError]:
    path = render_path(list(err.absolute_path), list(err.absolute_schema_path))
    schema = err.schema if isinstance(err.schema, dict) else {}
    instance = err.instance
    rule = err.validator
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties") or {}
        return [errors.unknown_field(_join(path, str(k))) for k in instance if k not in known]
    if rule == "required":
        m = _REQUIRED_RE.match(err.message)
        missing = [m.group(1)] if m else [
            r for r in err.validator_value if isinstance(instance, dict) and r not in instance
        ]
        return [errors.required(_join(path, r)) for r in missing]
    if rule == "type":
        return [_type_error(path, instance, schema)]
    if rule == "enum":
        return [errors.unsupported(path, shown_value(instance),
                                   [str(v) for v in err.validator_value])]
    return [errors.invalid(path, shown_value(instance), err.message)]


def _type_error(path: str, instance: Any, schema: dict[str, Any]) -> FieldError:
    mark = schema.get(_MARK)
    if mark == "quantity":
        return errors.invalid(path, shown_value(instance), QUANTITY_FORMAT_ERROR)
    if mark:
        return errors.invalid(path, shown_value(instance), f"must be of type {mark}")
    types = schema.get("type")
    names = [types] if isinstance(types, str) else [t for t in types or () if t != "null"]
    wanted = names[0] if names else "object"
    if wanted == "integer":
        fmt = schema.get("format")
        wanted = fmt if fmt in ("int32", "int64") else "integer"
    elif wanted == "number":
        wanted = "float64" if schema.get("format") == "double" else "number"
    return errors.invalid(path, shown_value(instance), f"must be of type {wanted}")


def render_path(instance_path: list[Any], schema_path: list[Any]) -> str:
    """kubectl's field path (`spec.containers[0].image`, `metadata.labels[app]`).

    The schema path tells a field name (after `properties`) from a map key (after
    `additionalProperties`), which the instance path alone cannot."""
    out = ""
    i = k = 0
    while k < len(schema_path) and i < len(instance_path):
        tok = schema_path[k]
        more = k + 1 < len(schema_path)
        if tok == "properties" and more:
            out += f".{instance_path[i]}"
            i, k = i + 1, k + 2
        elif tok in ("additionalProperties", "items") and more:
            out += f"[{instance_path[i]}]"
            i, k = i + 1, k + 1
        elif tok in ("oneOf", "anyOf", "allOf", "prefixItems") and more:
            k += 2
        else:
            k += 1
    for el in instance_path[i:]:
        out += f"[{el}]" if isinstance(el, int) else f".{el}"
    return out.lstrip(".") or "<root>"


def _join(path: str, field: str) -> str:
    return field if path == "<root>" else f"{path}.{field}"


def shown_value(value: Any) -> Any:
    """A value FieldError can render: big or odd documents are summarised, not dumped."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    try:
        if len(json.dumps(value)) <= _MAX_SHOWN:
            return value
    except (TypeError, ValueError, RecursionError):
        pass
    return "<object>" if isinstance(value, dict) else "<array>" if isinstance(value, list) else (
        repr(value)[:_MAX_SHOWN])


def _from_fast(exc: Any) -> FieldError:
    """Only used if jsonschema disagrees with fastjsonschema (it should not)."""
    raw = str(getattr(exc, "name", "") or "")
    path = raw.removeprefix("data").lstrip(".") or "<root>"
    return errors.invalid(path, shown_value(getattr(exc, "value", None)),
                          str(getattr(exc, "message", exc)).replace(raw, "", 1).strip())
