"""The two schema-free patch formats of `jota patch --type=merge|json`.

* JSON merge patch (RFC 7386): a partial document; maps merge, anything else
  replaces, `null` deletes.
* JSON patch (RFC 6902): a list of operations addressed by JSON pointers.

Both are pure: they return a new object and never touch their inputs, so the
apiserver can apply a patch to the object it read from the cache and still
compare before and after. Errors are `BadRequest` naming the operation and the
path that failed, in the words of the JSON patch library Kubernetes uses.
The schema-aware format (strategic merge patch) lives in `strategic.py`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from jota.api.errors import BadRequest
from jota.api.meta import Obj


def merge_patch(obj: Obj, patch: Any) -> Obj:
    """Apply an RFC 7386 JSON merge patch to `obj`, returning a new object."""
    if not isinstance(patch, dict):
        raise BadRequest(
            f"json: cannot unmarshal {_json_type(patch)} into Go value of type "
            "map[string]interface {}: a merge patch must be a JSON object"
        )
    if not isinstance(obj, dict):
        raise BadRequest("a merge patch can only be applied to a JSON object")
    result = _merge(obj, patch)
    assert isinstance(result, dict)
    return result


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(Target, Patch), without mutating either side."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "value"


# --- JSON patch (RFC 6902) ---------------------------------------------------------------

_OPS = ("add", "remove", "replace", "move", "copy", "test")


def json_patch(obj: Obj, ops: Any) -> Obj:
    """Apply an RFC 6902 JSON patch (a list of operations), returning a new object.

    Operations apply in order on a working copy; one failing operation (or a
    failing `test`) fails the whole patch, so a half-applied patch is never seen.
    """
    if not isinstance(ops, list):
        raise BadRequest(
            f"json: cannot unmarshal {_json_type(ops)} into Go value of type jsonpatch.Patch: "
            "a JSON patch must be a list of operations"
        )
    doc: Any = copy.deepcopy(obj)
    for index, op in enumerate(ops):
        doc = _apply_op(doc, op, index)
    if not isinstance(doc, dict):
        raise BadRequest("jsonpatch: the patched document is not a JSON object")
    return doc


def _apply_op(doc: Any, op: Any, index: int) -> Any:
    if not isinstance(op, dict):
        raise BadRequest(f"jsonpatch: operation {index} is not a JSON object")
    kind = op.get("op")
    if kind not in _OPS:
        raise BadRequest(f"jsonpatch: unexpected operation {kind!r} in operation {index}; "
                         f"supported operations: {', '.join(_OPS)}")
    path = _string_field(op, "path", kind)
    if kind == "remove":
        return _remove(doc, path, kind)[0]
    if kind in ("move", "copy"):
        source = _string_field(op, "from", kind)
        if kind == "move":
            if path != source and path.startswith(source + "/"):
                raise BadRequest(f"jsonpatch move operation does not apply: "
                                 f"cannot move {source} into its own child {path}")
            doc, value = _remove(doc, source, kind, what="from")
        else:
            value = copy.deepcopy(_get(doc, source, kind, what="from"))
        return _add(doc, path, value, kind)
    if "value" not in op:
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         f"missing value for path {path}")
    value = copy.deepcopy(op["value"])
    if kind == "add":
        return _add(doc, path, value, kind)
    if kind == "replace":
        return _replace(doc, path, value)
    current = _get(doc, path, kind)
    if not json_equal(current, value):
        raise BadRequest(f"jsonpatch test operation does not apply: testing value {path} "
                         f"failed: is {json.dumps(current)}, not {json.dumps(value)}")
    return doc


def _string_field(op: dict[str, Any], name: str, kind: str) -> str:
    value = op.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         f"missing or invalid {name!r} field")
    return value


def _split_pointer(pointer: str, kind: str) -> list[str]:
    """`/a/b~1c/0` -> ["a", "b/c", "0"]; "" is the whole document."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         f"invalid JSON pointer {pointer!r}: must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _index(container: list[Any], token: str, pointer: str, kind: str, allow_end: bool) -> int:
    """Turn a pointer token into a list index (`-` is one past the end)."""
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         f"invalid array index {token!r} in {pointer}")
    position = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if position > limit:
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         f"array index {position} out of bounds in {pointer}")
    return position


def _parent(doc: Any, pointer: str, kind: str, what: str) -> tuple[Any, str]:
    """The container holding the last token of `pointer`, and that token."""
    tokens = _split_pointer(pointer, kind)
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, pointer, kind, allow_end=False)]
        else:
            raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                             f"doc is missing {what}: {pointer}")
    if not isinstance(node, dict | list):
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         f"doc is missing {what}: {pointer}")
    return node, tokens[-1]


def _get(doc: Any, pointer: str, kind: str, what: str = "path") -> Any:
    if pointer == "":
        return doc
    node, token = _parent(doc, pointer, kind, what)
    if isinstance(node, list):
        return node[_index(node, token, pointer, kind, allow_end=False)]
    if token not in node:
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         f"doc is missing {what}: {pointer}")
    return node[token]


def _add(doc: Any, pointer: str, value: Any, kind: str) -> Any:
    if pointer == "":
        return value
    node, token = _parent(doc, pointer, kind, "path")
    if isinstance(node, list):
        node.insert(_index(node, token, pointer, kind, allow_end=True), value)
    else:
        node[token] = value
    return doc


def _remove(doc: Any, pointer: str, kind: str, what: str = "path") -> tuple[Any, Any]:
    """Remove the value at `pointer`; returns (document, removed value)."""
    if pointer == "":
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         "cannot remove the whole document")
    node, token = _parent(doc, pointer, kind, what)
    if isinstance(node, list):
        return doc, node.pop(_index(node, token, pointer, kind, allow_end=False))
    if token not in node:
        raise BadRequest(f"jsonpatch {kind} operation does not apply: "
                         f"doc is missing {what}: {pointer}")
    return doc, node.pop(token)


def _replace(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    node, token = _parent(doc, pointer, "replace", "path")
    if isinstance(node, list):
        node[_index(node, token, pointer, "replace", allow_end=False)] = value
    elif token in node:
        node[token] = value
    else:
        raise BadRequest(f"jsonpatch replace operation does not apply: "
                         f"doc is missing key: {pointer}")
    return doc


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: `true` is not `1`, but `1` is `1.0` (Python's `==` says
    `True == 1`, which would make a `test` op or a diff miss a real change)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b
