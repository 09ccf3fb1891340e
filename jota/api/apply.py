"""kubectl's classic client-side apply: the three-way strategic merge patch.

`jota apply -f web.yaml` must change what the manifest changed and nothing
else. Three documents take part:

* last applied: the manifest of the previous apply, kept in the
  `kubectl.kubernetes.io/last-applied-configuration` annotation;
* modified: the manifest being applied now (with that annotation updated);
* live: the object on the server, with status, server defaults and whatever
  others changed (`jota label`, `jota scale`, controllers).

The patch is the union of two diffs, as in apimachinery's
CreateThreeWayMergePatch:

* deletions (last applied -> modified, deletions only): a field, label or list
  element the manifest used to set and no longer does is removed;
* delta (live -> modified, changes and additions only): the manifest wins on
  every field it sets; fields it never set are left alone.

An empty patch (`{}`) means the object already matches, and the CLI prints
`unchanged`. Applying the patch is `strategic.strategic_merge_patch`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from jota.api.errors import BadRequest
from jota.api.meta import Obj
from jota.api.registry import ResourceType
from jota.api.strategic import PATCH, DiffOptions, Schema, diff

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def annotate_last_applied(modified: Obj) -> Obj:
    """A copy of the manifest carrying itself, as compact JSON, in the annotation.

    The recorded manifest never contains the annotation itself (kubectl strips it
    first, leaving `"annotations":{}`), so applying the same file twice records the
    same text. Keys are sorted and a newline ends it, as Go's JSON encoder writes.
    """
    if not isinstance(modified.get("metadata", {}), dict):
        raise BadRequest("cannot record the last-applied configuration: "
                         "metadata must be an object")
    result = copy.deepcopy(modified)
    recorded = copy.deepcopy(modified)
    if recorded.get("metadata") is None:
        recorded["metadata"] = {}
    annotations = recorded["metadata"].get("annotations")
    annotations = dict(annotations) if isinstance(annotations, dict) else {}
    annotations.pop(LAST_APPLIED, None)
    recorded["metadata"]["annotations"] = annotations
    text = json.dumps(recorded, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n"
    if result.get("metadata") is None:
        result["metadata"] = {}
    metadata = result["metadata"]
    if not isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = {}
    metadata["annotations"][LAST_APPLIED] = text
    return result


def last_applied_of(live: Obj) -> Obj | None:
    """The manifest recorded by the last apply, or None if it was never applied
    (or the annotation is not a JSON object, which kubectl also treats as absent)."""
    metadata = live.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not isinstance(text, str) or not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def three_way_patch(last_applied: Obj | None, modified: Obj, live: Obj,
                    rt: ResourceType) -> Obj:
    """The strategic merge patch `jota apply` sends; `{}` when nothing changes.

    `modified` is the manifest; if it lacks the last-applied annotation it is
    added here (`annotate_last_applied`), so the next apply sees this one.
    """
    for name, doc in (("modified", modified), ("live", live)):
        if not isinstance(doc, dict):
            raise BadRequest(f"cannot compute an apply patch: the {name} object is not a map")
    if last_applied is not None and not isinstance(last_applied, dict):
        raise BadRequest("cannot compute an apply patch: the last-applied configuration "
                         "is not a map")
    annotations = (modified.get("metadata") or {}).get("annotations") if isinstance(
        modified.get("metadata"), dict) else None
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        modified = annotate_last_applied(modified)
    schema = Schema.of(rt)
    deletions = diff(last_applied or {}, modified, schema,
                     DiffOptions(ignore_changes_and_additions=True))
    delta = diff(live, modified, schema, DiffOptions(ignore_deletions=True))
    return _combine(deletions, delta, schema)


def _combine(deletions: dict[str, Any], delta: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """Join the two halves of an apply patch into one document.

    They rarely touch the same field; when they do (one container loses an env
    entry and changes its image) the maps merge, and keyed lists merge by key.
    """
    result = dict(deletions)
    for key, value in delta.items():
        existing = result.get(key)
        meta = schema.meta(key)
        if isinstance(existing, dict) and isinstance(value, dict):
            result[key] = _combine(existing, value, schema.child(key))
        elif (isinstance(existing, list) and isinstance(value, list)
              and meta.merge and meta.merge_key):
            result[key] = _combine_lists(existing, value, schema.child(key).items(),
                                         meta.merge_key)
        else:
            result[key] = value
    return result


def _combine_lists(deletions: list[Any], delta: list[Any], items: Schema,
                   merge_key: str) -> list[Any]:
    """Elements of the delta first, each joined with its deletions-side twin;
    then the deletions-only elements (`$patch: delete` directives and the like)."""
    remaining = list(deletions)
    result: list[Any] = []
    for element in delta:
        twin = next((d for d in remaining if isinstance(d, dict) and isinstance(element, dict)
                     and PATCH not in d and merge_key in d
                     and d[merge_key] == element.get(merge_key)), None)
        if twin is None:
            result.append(element)
        else:
            remaining.remove(twin)
            result.append(_combine(twin, element, items))
    return result + remaining
