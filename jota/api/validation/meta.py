"""Rules for metadata, labels, annotations and label selectors (ValidateObjectMeta).

Which syntax a kind's name must follow lives in `NAME_RULES` beside the rules:
most kinds take a DNS-1123 subdomain; kinds whose name becomes a DNS label or
a hostname (Namespace, Service) take a label; RBAC kinds take a path segment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jota.api import errors, names
from jota.api.validation.common import (
    Errs,
    arr,
    as_str,
    check_name,
    child,
    each,
    immutable,
    index,
    invalid,
    key,
    obj,
)

TOTAL_ANNOTATION_SIZE = 256 * 1024
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

NAME_RULES: dict[str, Callable[[Any], list[str]]] = {
    "Namespace": names.is_dns1123_label,
    "Service": names.is_dns1035_label,
    "Role": names.is_path_segment_name,
    "RoleBinding": names.is_path_segment_name,
    "ClusterRole": names.is_path_segment_name,
    "ClusterRoleBinding": names.is_path_segment_name,
}


def _prefix_ok(check: Callable[[Any], list[str]]) -> Callable[[Any], list[str]]:
    """generateName is a prefix: a trailing '-' is fine, as maskTrailingDash allows."""
    def run(prefix: Any) -> list[str]:
        if isinstance(prefix, str) and len(prefix) > 1 and prefix.endswith("-"):
            prefix = prefix[:-1] + "a"
        return check(prefix)
    return run


def validate_object_meta(kind: str, md: Any, *, namespaced: bool,
                         path: str = "metadata") -> Errs:
    if not isinstance(md, dict):
        return []
    check = NAME_RULES.get(kind, names.is_dns1123_subdomain)
    errs: Errs = []
    name, generate = md.get("name"), md.get("generateName")
    if generate:
        errs += check_name(child(path, "generateName"), generate, _prefix_ok(check))
    if not name and not generate:
        errs.append(errors.required(child(path, "name"), "name or generateName is required"))
    elif name:
        errs += check_name(child(path, "name"), name, check)
    ns = md.get("namespace")
    if namespaced and ns:
        errs += check_name(child(path, "namespace"), ns, names.is_dns1123_label)
    elif not namespaced and ns:
        errs.append(errors.forbidden(child(path, "namespace"), "not allowed on this type"))
    errs += validate_labels(md.get("labels"), child(path, "labels"))
    errs += validate_annotations(md.get("annotations"), child(path, "annotations"))
    errs += _owner_references(md.get("ownerReferences"), child(path, "ownerReferences"))
    for i, fin in enumerate(arr(md.get("finalizers"))):
        errs += check_name(index(child(path, "finalizers"), i), fin, names.is_qualified_name)
    return errs


def validate_object_meta_update(md: Any, old_md: Any) -> Errs:
    new, old = obj(md), obj(old_md)
    errs: Errs = []
    for field in ("name", "namespace", "uid"):
        n, o = new.get(field), old.get(field)
        if n and o and n != o:
            errs += immutable(f"metadata.{field}", n, o)
    return errs


def validate_labels(labels: Any, path: str) -> Errs:
    errs: Errs = []
    for k, v in obj(labels).items():
        errs += each(path, k, names.is_qualified_name(k))
        if isinstance(v, str):
            errs += each(key(path, k), v, names.is_valid_label_value(v))
    return errs


def validate_annotations(annotations: Any, path: str) -> Errs:
    errs: Errs = []
    total = 0
    for k, v in obj(annotations).items():
        errs += each(path, k, names.is_qualified_name(k.lower() if isinstance(k, str) else k))
        total += _bytes(str(k)) + (_bytes(v) if isinstance(v, str) else 0)
    if total > TOTAL_ANNOTATION_SIZE:
        errs.append(errors.too_long(path, TOTAL_ANNOTATION_SIZE))
    return errs


def _bytes(s: str) -> int:
    return len(s.encode(errors="surrogatepass"))


def _owner_references(refs: Any, path: str) -> Errs:
    errs: Errs = []
    controllers = 0
    for ref in arr(refs):
        ref = obj(ref)
        api_version = as_str(ref.get("apiVersion")) or ""
        if not api_version.rpartition("/")[2]:
            errs.append(invalid(child(path, "apiVersion"), api_version,
                                "version must not be empty"))
        for field, what in (("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not ref.get(field):
                errs.append(invalid(child(path, field), ref.get(field) or "",
                                    f"{what} must not be empty"))
        if ref.get("controller") is True:
            controllers += 1
    if controllers > 1:
        errs.append(invalid(path, "<ownerReferences>",
                            "Only one reference can have Controller set to true"))
    return errs


def validate_label_selector(sel: Any, path: str) -> Errs:
    if not isinstance(sel, dict):
        return []
    errs = validate_labels(sel.get("matchLabels"), child(path, "matchLabels"))
    for i, req in enumerate(arr(sel.get("matchExpressions"))):
        errs += _requirement(obj(req), index(child(path, "matchExpressions"), i))
    return errs


def _requirement(req: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    op, values = req.get("operator"), arr(req.get("values"))
    if op in ("In", "NotIn"):
        if not values:
            errs.append(errors.required(child(path, "values"),
                                        "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(errors.forbidden(
                child(path, "values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif isinstance(op, str) or op is None:
        errs.append(invalid(child(path, "operator"), op or "", "not a valid selector operator"))
    errs += check_name(child(path, "key"), req.get("key", ""), names.is_qualified_name)
    for i, v in enumerate(values):
        errs += check_name(index(child(path, "values"), i), v, names.is_valid_label_value)
    return errs


def selector_is_empty(sel: Any) -> bool:
    s = obj(sel)
    return not obj(s.get("matchLabels")) and not arr(s.get("matchExpressions"))


def selector_matches(sel: Any, labels: Any) -> bool:
    """Does a LabelSelector select these labels? (An empty selector selects everything.)"""
    s, have = obj(sel), obj(labels)
    for k, v in obj(s.get("matchLabels")).items():
        if have.get(k) != v:
            return False
    for raw in arr(s.get("matchExpressions")):
        req = obj(raw)
        name, op, values = req.get("key"), req.get("operator"), arr(req.get("values"))
        present = isinstance(name, str) and name in have
        value = have.get(name) if isinstance(name, str) else None
        if op == "In" and not (present and value in values):
            return False
        if op == "NotIn" and present and value in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True
