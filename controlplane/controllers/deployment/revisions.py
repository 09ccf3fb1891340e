"""Which ReplicaSet is whose revision: the template hash, revision annotations, history.

Each distinct pod template of a Deployment gets one ReplicaSet named
`<deployment>-<pod-template-hash>`, whose pods carry the `pod-template-hash` label
so that ReplicaSets of one Deployment never select each other's pods.

The hash, as Kubernetes' `controller.ComputeHash`: FNV-32a over the template,
then, if the Deployment's `status.collisionCount` is set, its value as 8
little-endian bytes (uint32 then four zero bytes, as `binary.LittleEndian.PutUint32`
into an 8-byte slice); the 32-bit sum printed in decimal and each digit mapped
through `rand.SafeEncodeString` (alphabet `bcdfghjklmnpqrstvwxz2456789`, no vowels
so no words). Kubernetes feeds FNV the Go struct as printed by spew; Jota, whose
objects are JSON documents, feeds it the template as canonical JSON (keys sorted,
no spaces). So names look like Kubernetes' (`web-7d4b9c8f5`) but are not the same
strings for the same template. A collision (a ReplicaSet of that name already
exists with another template) bumps collisionCount and gives a new hash.

Revisions: the new ReplicaSet gets `deployment.kubernetes.io/revision` = highest
old revision + 1; rolling back to an old template moves that ReplicaSet to the
new number and remembers the old one in `deployment.kubernetes.io/revision-history`.
The Deployment's annotations (e.g. `kubernetes.io/change-cause`) are copied onto
its new ReplicaSet, which is what `rollout history` shows.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from controlplane.controllers.replicaset import created_at, is_deleting, spec_replicas
from jota.api.meta import Obj

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
MAX_REV_HISTORY_CHARS = 2000

# Deployment annotations that are the controller's, never copied to a ReplicaSet.
SKIP_COPY = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
                       MAX_REPLICAS, ROLLBACK_TO})

_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(s: str) -> str:
    """rand.SafeEncodeString: each character mapped into a vowel-free alphabet."""
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in s)


def compute_hash(template: Any, collision_count: int | None = None) -> str:
    """The pod-template-hash of `template` (see the module docstring)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    return safe_encode_string(str(fnv32a(data)))


def template_without_hash(template: Any) -> Obj:
    t: Obj = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
        if not labels:
            t["metadata"].pop("labels")
    return t


def equal_ignore_hash(a: Any, b: Any) -> bool:
    """Templates equal but for the pod-template-hash label (EqualIgnoreHash)."""
    return template_without_hash(a) == template_without_hash(b)


def annotation_map(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def revision_of(obj: Obj) -> int:
    try:
        return int(annotation_map(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: list[Obj]) -> int:
    return max((revision_of(rs) for rs in rss), default=0)


def by_creation(rss: list[Obj]) -> list[Obj]:
    """Oldest first, ties by name (ReplicaSetsByCreationTimestamp)."""
    return sorted(rss, key=lambda rs: (created_at(rs), rs["metadata"].get("name", "")))


def find_new_replica_set(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's (FindNewReplicaSet)."""
    template = (d.get("spec") or {}).get("template")
    for rs in by_creation(rss):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_old_replica_sets(d: Obj, rss: list[Obj]) -> list[Obj]:
    new = find_new_replica_set(d, rss)
    return [rs for rs in rss if new is None or rs["metadata"].get("uid") !=
            new["metadata"].get("uid")]


def new_replica_set(d: Obj, collision_count: int | None) -> Obj:
    """The ReplicaSet for the Deployment's current template (replicas still 0)."""
    spec = d.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    h = compute_hash(template, collision_count)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: h}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: h}
    md = d["metadata"]
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{md['name']}-{h}", "namespace": md.get("namespace", ""),
                     "labels": dict(tmeta["labels"]),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": md["name"], "uid": md.get("uid", ""),
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"replicas": 0, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                 "selector": selector, "template": template},
    }


def _set_annotations(obj: Obj, values: dict[str, str]) -> None:
    md = obj.setdefault("metadata", {})
    if values:
        md["annotations"] = values
    else:
        md.pop("annotations", None)


def copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the Deployment's own annotations onto `rs`; True if anything changed."""
    rs_ann = annotation_map(rs)
    changed = False
    for k, v in annotation_map(d).items():
        if k in SKIP_COPY or rs_ann.get(k) == v:
            continue
        rs_ann[k] = v
        changed = True
    if changed:
        _set_annotations(rs, rs_ann)
    return changed


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = annotation_map(rs)
    if ann.get(DESIRED_REPLICAS) == str(desired) and ann.get(MAX_REPLICAS) == str(max_replicas):
        return False
    ann[DESIRED_REPLICAS], ann[MAX_REPLICAS] = str(desired), str(max_replicas)
    _set_annotations(rs, ann)
    return True


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = annotation_map(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(
        max_replicas)


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool,
                           max_surge: int, limit_chars: int = MAX_REV_HISTORY_CHARS) -> bool:
    """SetNewReplicaSetAnnotations: copy annotations, move the revision forward (keeping
    the old number in revision-history: a rollback), and on creation the replica
    annotations. True if `rs` changed."""
    changed = copy_deployment_annotations(d, rs)
    ann = annotation_map(rs)
    old_raw = ann.get(REVISION)
    old = revision_of(rs)
    if old < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old_raw:
            history = [r for r in ann.get(REVISION_HISTORY, "").split(",") if r] + [old_raw]
            while len(",".join(history)) > limit_chars and len(history) > 1:
                history.pop(0)
            ann[REVISION_HISTORY] = ",".join(history)
        _set_annotations(rs, ann)
    if not exists:
        desired = spec_replicas(d)
        if set_replicas_annotations(rs, desired, desired + max_surge):
            changed = True
    return changed


def set_deployment_revision(d: Obj, revision: str) -> bool:
    ann = annotation_map(d)
    if not revision or ann.get(REVISION) == revision:
        return False
    ann[REVISION] = revision
    _set_annotations(d, ann)
    return True


def replica_sets_to_clean(d: Obj, old_rss: list[Obj]) -> list[Obj]:
    """Old ReplicaSets beyond revisionHistoryLimit, lowest revisions first, that are
    fully scaled down and settled (cleanupDeployment)."""
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    if not isinstance(limit, int):
        return []
    alive = [rs for rs in old_rss if not is_deleting(rs)]
    diff = len(alive) - limit
    if diff <= 0:
        return []
    ordered = sorted(alive, key=lambda rs: (revision_of(rs), created_at(rs)))
    victims = []
    for rs in ordered[:diff]:
        status = rs.get("status") or {}
        if status.get("replicas", 0) != 0 or spec_replicas(rs) != 0:
            continue
        if int(rs["metadata"].get("generation") or 0) > int(
                status.get("observedGeneration") or 0):
            continue
        victims.append(rs)
    return victims
