"""Kubernetes' strategic merge patch: a merge patch that knows which lists are keyed.

A plain merge patch replaces lists whole, so patching one container's image
would need the full container list. The schema marks some lists as mergeable by
a key (`x-kubernetes-patch-strategy: merge` + `x-kubernetes-patch-merge-key`):
containers by `name`, ports by `containerPort`, env by `name`... Those merge
element by element; every other list is replaced. Directives in the patch say
what a partial document cannot:

    {"$patch": "replace" | "delete" | "merge"}     on a map or as a list element
    "$deleteFromPrimitiveList/finalizers": [...]   remove values from a list of scalars
    "$setElementOrder/containers": [...]           the order of a merged list
    "$retainKeys": [...]                           clear every other field of a map

This module applies such a patch (`strategic_merge_patch`, what the apiserver
does on PATCH) and computes one (`create_two_way_patch` and `diff`, what
`jota edit`, `jota diff` and `jota apply` send). It follows apimachinery's
`strategicpatch` package; where that code is known to keep junk (a directive
left in a new list element), we drop it instead.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, replace
from typing import Any

from jota.api import schema_data
from jota.api.errors import BadRequest
from jota.api.meta import Obj
from jota.api.patch import json_equal
from jota.api.registry import ResourceType

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"
_ITEMS = "[]"  # a path step into the elements of a list


# --- schema lookup ----------------------------------------------------------------------


@dataclass(frozen=True)
class PatchMeta:
    """How one field merges: its strategies and, for keyed lists, the key."""

    strategies: frozenset[str] = frozenset()
    merge_key: str | None = None

    @property
    def merge(self) -> bool:
        return "merge" in self.strategies

    @property
    def replace(self) -> bool:
        return "replace" in self.strategies

    @property
    def retain_keys(self) -> bool:
        return "retainKeys" in self.strategies


_NO_META = PatchMeta()


@dataclass(frozen=True)
class Schema:
    """A position in a kind's OpenAPI schema: the root definition and the path to it.

    Lookups are cached per (definition, path), so walking a Deployment resolves
    `spec.template.spec.containers[]` once per process, not once per patch.
    An unknown kind (`root=None`) has no patch metadata: every list is replaced.
    """

    root: str | None
    path: tuple[str, ...] = ()

    @classmethod
    def of(cls, rt: ResourceType) -> Schema:
        try:
            return cls(schema_data.definition_name(rt.kind, rt.group, rt.version))
        except KeyError:
            return cls(None)

    def child(self, field: str) -> Schema:
        return Schema(self.root, (*self.path, field))

    def items(self) -> Schema:
        return Schema(self.root, (*self.path, _ITEMS))

    def meta(self, field: str) -> PatchMeta:
        if self.root is None:
            return _NO_META
        return _meta_at(self.root, self.path, field)


def _deref(node: Any) -> dict[str, Any] | None:
    """Follow `$ref` (and a single-element `allOf`) to the definition it names."""
    while isinstance(node, dict):
        if "$ref" in node:
            node = schema_data.definitions().get(schema_data.ref_name(node["$ref"]))
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node
    return None


def _property(node: dict[str, Any] | None, step: str) -> Any:
    """The raw (un-dereferenced) schema of `step` inside `node`."""
    if node is None:
        return None
    if step == _ITEMS:
        return node.get("items")
    prop = (node.get("properties") or {}).get(step)
    if prop is None and isinstance(node.get("additionalProperties"), dict):
        prop = node["additionalProperties"]
    return prop


@functools.lru_cache(maxsize=8192)
def _schema_at(root: str, path: tuple[str, ...]) -> dict[str, Any] | None:
    if not path:
        return _deref(schema_data.definitions().get(root))
    return _deref(_property(_schema_at(root, path[:-1]), path[-1]))


@functools.lru_cache(maxsize=8192)
def _meta_at(root: str, path: tuple[str, ...], field: str) -> PatchMeta:
    prop = _property(_schema_at(root, path), field)
    if not isinstance(prop, dict):
        return _NO_META
    strategy = prop.get("x-kubernetes-patch-strategy") or ""
    strategies = frozenset(s for s in strategy.split(",") if s)
    merge_key = prop.get("x-kubernetes-patch-merge-key")
    if not strategies and merge_key is None:
        return _NO_META
    return PatchMeta(strategies, merge_key)


# --- applying a patch ---------------------------------------------------------------------


def strategic_merge_patch(obj: Obj, patch: Any, rt: ResourceType) -> Obj:
    """Apply a strategic merge patch to `obj` (of type `rt`), returning a new object."""
    if not isinstance(patch, dict):
        raise BadRequest("a strategic merge patch must be a JSON object, got "
                         f"{type(patch).__name__}")
    if not isinstance(obj, dict):
        raise BadRequest("a strategic merge patch can only be applied to a JSON object")
    return _merge_map(copy.deepcopy(obj), copy.deepcopy(patch), Schema.of(rt))


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any],
               schema: Schema) -> dict[str, Any]:
    """Merge `patch` into `original`; both are private copies and may be mutated."""
    directive = patch.pop(PATCH, None)
    if directive == "replace":
        return _merge_map({}, patch, schema)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise BadRequest(f"Unknown patch type: {directive} in map: {json.dumps(patch)}")
    if original is None:
        original = {}

    _retain_keys(original, patch)
    orders = _pop_prefixed(patch, SET_ELEMENT_ORDER)
    for field, values in _pop_prefixed(patch, DELETE_FROM_PRIMITIVE_LIST).items():
        if field in original:
            original[field] = _delete_from_list(original[field], values, field)

    for key, value in patch.items():
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict):
            current = original.get(key)
            keep = current if isinstance(current, dict) and not schema.meta(key).replace else None
            original[key] = _merge_map(keep, value, schema.child(key))
        elif isinstance(value, list):
            current = original.get(key)
            meta = schema.meta(key)
            if meta.merge:
                merged = _merge_list(current if isinstance(current, list) else [], value,
                                     schema.child(key), meta.merge_key, orders.pop(key, None))
                only_directives = bool(value) and all(_is_directive(v) for v in value)
                if key in original or not only_directives:
                    original[key] = merged  # deleting from an absent list adds no list
            else:
                original[key] = _clean_list(value, schema.child(key))
        else:
            original[key] = value

    for field, order in orders.items():  # an order with no list of changes beside it
        if isinstance(original.get(field), list) and schema.meta(field).merge:
            original[field] = _merge_list(original[field], [], schema.child(field),
                                          schema.meta(field).merge_key, order)
    return original


def _pop_prefixed(patch: dict[str, Any], prefix: str) -> dict[str, Any]:
    found = {k[len(prefix):]: patch.pop(k) for k in [k for k in patch if k.startswith(prefix)]}
    for field, values in found.items():
        if not isinstance(values, list):
            raise BadRequest(f"invalid patch: {prefix}{field} must be a list")
    return found


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """`$retainKeys`: drop every field of `original` the list does not name."""
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise BadRequest("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in keep:
            raise BadRequest(f"invalid patch format of retainKeys: {key!r} is not in "
                             f"the retainKeys list {keep}")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _is_directive(value: Any) -> bool:
    return isinstance(value, dict) and PATCH in value


def _delete_from_list(current: Any, values: list[Any], field: str) -> list[Any]:
    if not isinstance(current, list):
        raise BadRequest(f"{DELETE_FROM_PRIMITIVE_LIST}{field}: {field} is not a list")
    return [v for v in current if not any(json_equal(v, d) for d in values)]


def _clean_list(values: list[Any], schema: Schema) -> list[Any]:
    """A replaced list, with directives and nulls stripped from its maps."""
    items = schema.items()
    return [_merge_map({}, v, items) if isinstance(v, dict) else v for v in values]


def _merge_list(original: list[Any], patch: list[Any], schema: Schema,
                merge_key: str | None, order: list[Any] | None) -> list[Any]:
    """Merge a `merge`-strategy list: maps by their merge key, scalars as a set."""
    if any(isinstance(v, dict) for v in (*original, *patch, *(order or ()))):
        if not merge_key:
            raise BadRequest(f"cannot merge lists without merge key for {_dotted(schema)}")
        merged = _merge_list_of_maps(original, patch, schema.items(), merge_key)
    else:
        merged = []
        for value in (*original, *patch):
            if not any(json_equal(value, m) for m in merged):
                merged.append(value)

    def identity(v: Any) -> str:
        if isinstance(v, dict):
            return json.dumps(v.get(merge_key or ""), sort_keys=True)
        return json.dumps(v, sort_keys=True)

    return _normalize_order(merged, order if order is not None else patch, original, identity)


def _merge_list_of_maps(original: list[Any], patch: list[Any], items: Schema,
                        merge_key: str) -> list[Any]:
    merged = list(original)
    plain: list[dict[str, Any]] = []
    replace_all = False
    for element in patch:
        if not isinstance(element, dict):
            raise BadRequest(f"cannot merge list {_dotted(items)}: element {json.dumps(element)} "
                             "is not a map")
        directive = element.get(PATCH)
        if directive is None:
            plain.append(element)
        elif directive == "delete":
            if merge_key not in element:
                raise BadRequest(_no_merge_key(element, merge_key))
            merged = [m for m in merged if not _same_key(m, element, merge_key)]
        elif directive == "replace":
            replace_all = True
        elif directive == "merge":
            raise BadRequest("merging lists cannot yet be specified in the patch")
        else:
            raise BadRequest(f"Unknown patch type: {directive} in map: {json.dumps(element)}")
    if replace_all:
        merged = []
    for element in plain:
        if merge_key not in element:
            raise BadRequest(_no_merge_key(element, merge_key))
        for i, existing in enumerate(merged):
            if isinstance(existing, dict) and _same_key(existing, element, merge_key):
                merged[i] = _merge_map(existing, element, items)
                break
        else:
            merged.append(_merge_map({}, element, items))
    return merged


def _normalize_order(merged: list[Any], patch_order: list[Any], server_order: list[Any],
                     identity: Any) -> list[Any]:
    """Order a merged list as apimachinery does: elements the patch names follow the
    patch (or `$setElementOrder`), the others keep their place in the live list."""
    patch_ids = [identity(v) for v in patch_order if not _is_directive(v)]
    server_ids = [identity(v) for v in server_order]
    in_patch = sorted((v for v in merged if identity(v) in patch_ids),
                      key=lambda v: patch_ids.index(identity(v)))
    server_only = sorted((v for v in merged if identity(v) not in patch_ids),
                         key=lambda v: _position(server_ids, identity(v)))
    # Merge the two sorted runs: a live element goes first only when both sides are in
    # the live list and it was earlier there (apimachinery's mergeSortedSlice).
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            result.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            result.append(in_patch[j])
            j += 1
        else:
            left = _position(server_ids, identity(server_only[i]), missing=-1)
            right = _position(server_ids, identity(in_patch[j]), missing=-1)
            if left >= 0 and right >= 0 and left < right:
                result.append(server_only[i])
                i += 1
            else:
                result.append(in_patch[j])
                j += 1
    return result


def _position(ids: list[str], ident: str, missing: int = 1 << 30) -> int:
    return ids.index(ident) if ident in ids else missing


def _same_key(a: dict[str, Any], b: dict[str, Any], merge_key: str) -> bool:
    return merge_key in a and json_equal(a[merge_key], b.get(merge_key))


def _no_merge_key(element: dict[str, Any], merge_key: str) -> str:
    return f"map: {json.dumps(element)} does not contain declared merge key: {merge_key}"


def _dotted(schema: Schema) -> str:
    return ".".join(step for step in schema.path if step != _ITEMS) or "<root>"


# --- computing a patch --------------------------------------------------------------------


@dataclass(frozen=True)
class DiffOptions:
    """What `diff` leaves out; kubectl's apply diffs twice with opposite options."""

    ignore_deletions: bool = False
    ignore_changes_and_additions: bool = False
    set_element_order: bool = True
    build_retain_keys: bool = False


def create_two_way_patch(original: Obj, modified: Obj, rt: ResourceType) -> Obj:
    """The strategic merge patch that turns `original` into `modified`."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        raise BadRequest("a strategic merge patch can only be computed between JSON objects")
    return diff(original, modified, Schema.of(rt), DiffOptions())


def diff(original: dict[str, Any], modified: dict[str, Any], schema: Schema,
         opts: DiffOptions) -> dict[str, Any]:
    """apimachinery's diffMaps: the patch from `original` to `modified`, minus what
    `opts` ignores. Deletions become nulls, list deletions become directives."""
    patch: dict[str, Any] = {}
    adding = not opts.ignore_changes_and_additions
    for key, new in modified.items():
        if key not in original:
            if adding:
                patch[key] = copy.deepcopy(new)
            continue
        old = original[key]
        meta = schema.meta(key)
        if isinstance(old, dict) and isinstance(new, dict) and not meta.replace:
            sub_opts = replace(opts, build_retain_keys=meta.retain_keys)
            sub = diff(old, new, schema.child(key), sub_opts)
            if sub:
                patch[key] = sub
        elif isinstance(old, list) and isinstance(new, list) and meta.merge:
            sub_opts = replace(opts, build_retain_keys=meta.retain_keys)
            additions, deletions, order = _diff_lists(old, new, schema.child(key),
                                                      meta.merge_key, sub_opts)
            if additions:
                patch[key] = additions
            if deletions:
                patch[DELETE_FROM_PRIMITIVE_LIST + key] = deletions
            if order:
                patch[SET_ELEMENT_ORDER + key] = order
        elif adding and not json_equal(old, new):
            patch[key] = copy.deepcopy(new)
    if not opts.ignore_deletions:
        for key in original:
            if key not in modified:
                patch[key] = None
    if opts.build_retain_keys:
        retained = sorted(k for k, v in modified.items() if v is not None)
        cleared = any(v is not None and k not in modified for k, v in original.items())
        if retained and (patch or cleared):
            patch[RETAIN_KEYS] = retained
    return patch


def _diff_lists(original: list[Any], modified: list[Any], schema: Schema,
                merge_key: str | None,
                opts: DiffOptions) -> tuple[list[Any], list[Any], list[Any]]:
    """(patch list, values to delete from a scalar list, $setElementOrder list)."""
    if any(isinstance(v, dict) for v in (*original, *modified)):
        return _diff_lists_of_maps(original, modified, schema, merge_key, opts)
    additions: list[Any] = []
    if not opts.ignore_changes_and_additions:
        for value in modified:
            if not any(json_equal(value, v) for v in (*original, *additions)):
                additions.append(value)
    deletions: list[Any] = []
    if not opts.ignore_deletions:
        for value in original:
            if not any(json_equal(value, v) for v in (*modified, *deletions)):
                deletions.append(value)
        deletions.sort(key=str)
    order: list[Any] = []
    if opts.set_element_order and (
        (not opts.ignore_deletions and deletions)
        or (not opts.ignore_changes_and_additions and not json_equal(original, modified))
    ):
        order = copy.deepcopy(modified)
    return additions, deletions, order


def _diff_lists_of_maps(original: list[Any], modified: list[Any], schema: Schema,
                        merge_key: str | None,
                        opts: DiffOptions) -> tuple[list[Any], list[Any], list[Any]]:
    if not merge_key:
        raise BadRequest(f"cannot merge lists without merge key for {_dotted(schema)}")
    for element in (*original, *modified):
        if not isinstance(element, dict):
            raise BadRequest(f"cannot diff list {_dotted(schema)}: element "
                             f"{json.dumps(element)} is not a map")
        if merge_key not in element:
            raise BadRequest(_no_merge_key(element, merge_key))
    items = schema.items()
    patch_list: list[Any] = []
    for new in modified:
        old = next((o for o in original if _same_key(o, new, merge_key)), None)
        if old is not None:
            sub = diff(old, new, items, opts)
            if sub:
                sub[merge_key] = new[merge_key]
                patch_list.append(sub)
        elif not opts.ignore_changes_and_additions:
            patch_list.append(copy.deepcopy(new))
    if not opts.ignore_deletions:
        gone = [o[merge_key] for o in original
                if not any(_same_key(m, o, merge_key) for m in modified)]
        patch_list += [{PATCH: "delete", merge_key: key} for key in sorted(gone, key=str)]
    same_order = [json.dumps(o[merge_key]) for o in original] == [
        json.dumps(m[merge_key]) for m in modified]
    order: list[Any] = []
    if opts.set_element_order and (
        (not opts.ignore_changes_and_additions and (patch_list or not same_order))
        or (not opts.ignore_deletions and patch_list)
    ):
        order = [{merge_key: m[merge_key]} for m in modified]
    return patch_list, [], order
