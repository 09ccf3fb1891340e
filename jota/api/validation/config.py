"""Rules for ConfigMaps and Secrets: key names, base64 data, size, and `immutable`."""

from __future__ import annotations

from typing import Any

from jota.api import errors, names
from jota.api.meta import Obj
from jota.api.validation.common import Errs, each, immutable, invalid, key, obj

MAX_SIZE = 1024 * 1024
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_IMMUTABLE_DETAIL = "field is immutable when `immutable` is set"
# Secret types whose data must carry certain keys (ValidateSecret).
_REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def base64_error(text: str) -> str | None:
    """Go's `illegal base64 data at input byte N` (StdEncoding: padded, newlines ignored)."""
    data = text.replace("\r", "").replace("\n", "")
    body = data.rstrip("=")
    pad = len(data) - len(body)
    for i, ch in enumerate(body):
        if ch not in _B64:
            return f"illegal base64 data at input byte {i}"
    if pad > 2 or len(data) % 4:
        return f"illegal base64 data at input byte {len(data) - len(data) % 4}"
    if pad and len(body) % 4 == 1:
        return f"illegal base64 data at input byte {len(body)}"
    return None


def _size(*maps: dict[str, Any]) -> int:
    return sum(len(str(k)) + (len(v) if isinstance(v, str) else 0)
               for m in maps for k, v in m.items())


def _keys(data: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    for k in data:
        errs += each(key(path, k), k, names.is_config_map_key(k))
    return errs


def _base64_values(data: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    for k, v in data.items():
        if isinstance(v, str) and (msg := base64_error(v)):
            errs.append(errors.FieldError(key(path, k), msg, type="Invalid value",
                                          has_value=False))
    return errs


def _immutability(o: Obj, old: Obj, fields: tuple[str, ...]) -> Errs:
    if old.get("immutable") is not True:
        return []
    errs: Errs = []
    if o.get("immutable") is not True:
        errs.append(errors.forbidden("immutable", _IMMUTABLE_DETAIL))
    for field in fields:
        if (o.get(field) or {}) != (old.get(field) or {}):
            errs.append(errors.forbidden(field, _IMMUTABLE_DETAIL))
    return errs


def validate_config_map(o: Obj, old: Obj | None) -> Errs:
    data, binary = obj(o.get("data")), obj(o.get("binaryData"))
    errs = _keys(data, "data") + _keys(binary, "binaryData")
    for k in data:
        if k in binary:
            errs.append(invalid(key("data", k), k, "duplicate of key present in binaryData"))
    errs += _base64_values(binary, "binaryData")
    if _size(data, binary) > MAX_SIZE:
        errs.append(errors.too_long("data", MAX_SIZE))
    if old is not None:
        errs += _immutability(o, old, ("data", "binaryData"))
    return errs


def validate_secret(o: Obj, old: Obj | None) -> Errs:
    data, string_data = obj(o.get("data")), obj(o.get("stringData"))
    errs = _keys(data, "data") + _keys(string_data, "stringData")
    errs += _base64_values(data, "data")
    if _size(data, string_data) > MAX_SIZE:
        errs.append(errors.too_long("data", MAX_SIZE))
    stype = o.get("type")
    present = set(data) | set(string_data)
    for required in _REQUIRED_KEYS.get(stype, ()) if isinstance(stype, str) else ():
        if required not in present:
            errs.append(errors.required(key("data", required)))
    if stype == "kubernetes.io/basic-auth" and not present & {"username", "password"}:
        errs += [errors.required(key("data", "username")),
                 errors.required(key("data", "password"))]
    if stype == "kubernetes.io/service-account-token":
        annotations = obj(obj(o.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(errors.required(
                "metadata.annotations[kubernetes.io/service-account.name]"))
    if old is not None:
        if old.get("type") and stype != old.get("type"):
            errs += immutable("type", stype, old.get("type"))
        errs += _immutability(o, old, ("data",))
    return errs
