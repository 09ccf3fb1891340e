"""The informer's local cache: objects by "ns/name" key, with named indexes.

Controllers read from here instead of the apiserver ("pods on node n1", "pods
owned by ReplicaSet uid u"), so indexes are declared up front by name, each an
`IndexFunc` from an object to the values it is filed under, as client-go's
`Indexer`. Asyncio runs one thing at a time, so a plain dict needs no lock; a
write and the index update that goes with it happen without an `await` between.

Callers must treat returned objects as read-only: they are the cache's own copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jota.api.meta import Obj, key_of, labels_of, namespace_of

KeyFunc = Callable[[Obj], str]
IndexFunc = Callable[[Obj], list[str]]
# `Store.list` shadows the builtin inside the class body, hence these aliases.
_Objs = list[Obj]
_Strs = list[str]

NAMESPACE_INDEX = "namespace"
NODE_NAME_INDEX = "spec.nodeName"
OWNER_UID_INDEX = "ownerReferences.uid"
LABELS_INDEX = "labels"


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """An object that vanished while the watch was down, as its last cached state.

    A relist finds it gone but cannot say what it looked like when deleted, so
    `on_delete` handlers receive this tombstone instead of the object: read `.obj`
    (possibly stale) or `.key`.
    """

    key: str
    obj: Obj


def meta_namespace_key(obj: Obj | DeletedFinalStateUnknown) -> str:
    """The "ns/name" key of an object, or of the object inside a tombstone."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    return key_of(obj)


# ---- index functions -----------------------------------------------------------------


def index_by_namespace(obj: Obj) -> list[str]:
    return [namespace_of(obj)]


def _lookup(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def index_by_field(path: str) -> IndexFunc:
    """Index by a dotted field (`"spec.nodeName"`); objects without it are not indexed."""

    def index(obj: Obj) -> list[str]:
        value = _lookup(obj, path)
        if value is None or value == "":
            return []
        return [str(value)]

    return index


def index_by_label(label: str) -> IndexFunc:
    """Index by the value of one label (`"app"` -> `["web"]`)."""

    def index(obj: Obj) -> list[str]:
        value = labels_of(obj).get(label)
        return [] if value is None else [value]

    return index


def index_by_labels(obj: Obj) -> list[str]:
    """Index by every label pair, filed under `"key=value"`."""
    return [f"{k}={v}" for k, v in sorted(labels_of(obj).items())]


def index_by_owner_uid(obj: Obj) -> list[str]:
    """Index by the uid of every owner, as controllers adopt and the GC walks."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r["uid"]) for r in refs if isinstance(r, dict) and r.get("uid")]


def index_by_controller_uid(obj: Obj) -> list[str]:
    """Index by the uid of the one owner with `controller: true`."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r["uid"]) for r in refs
            if isinstance(r, dict) and r.get("controller") and r.get("uid")]


index_by_node_name = index_by_field("spec.nodeName")

STANDARD_INDEXERS: dict[str, IndexFunc] = {
    NAMESPACE_INDEX: index_by_namespace,
}


# ---- the store -----------------------------------------------------------------------


class Store:
    """A keyed object cache with named indexes (client-go's threadSafeStore + Indexer)."""

    def __init__(self, key_func: KeyFunc = meta_namespace_key,
                 indexers: dict[str, IndexFunc] | None = None) -> None:
        self.key_func = key_func
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = dict(
            indexers if indexers is not None else STANDARD_INDEXERS)
        # index name -> indexed value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}
        self.last_sync_resource_version = ""

    # -- writes --

    def add(self, obj: Obj) -> None:
        self._put(self.key_func(obj), obj)

    def update(self, obj: Obj) -> None:
        self._put(self.key_func(obj), obj)

    def delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else self.key_func(obj)
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)

    def replace(self, items: Iterable[Obj], resource_version: str = "") -> None:
        """Swap in a fresh list (after a relist): what is not in `items` is gone."""
        self._items = {self.key_func(o): o for o in items}
        self._indices = {n: {} for n in self._indexers}
        for key, obj in self._items.items():
            self._index(key, obj)
        self.last_sync_resource_version = resource_version

    def resync(self) -> None:
        """A plain store has nothing to re-deliver; informers override this."""

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Register more indexes; only before the store holds anything, as client-go."""
        if self._items:
            raise ValueError("cannot add indexers to a store that already has items")
        clash = set(indexers) & set(self._indexers)
        if clash:
            raise ValueError(f"indexer conflict: {sorted(clash)}")
        self._indexers.update(indexers)
        for name in indexers:
            self._indices[name] = {}

    # -- reads --

    def get(self, obj: Obj) -> Obj | None:
        return self._items.get(self.key_func(obj))

    def get_by_key(self, key: str) -> Obj | None:
        return self._items.get(key)

    def list(self) -> _Objs:
        return list(self._items.values())

    def list_keys(self) -> _Strs:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def indexers(self) -> dict[str, IndexFunc]:
        return dict(self._indexers)

    def by_index(self, index_name: str, value: str) -> _Objs:
        """Objects filed under `value` in index `index_name` (KeyError if no such index)."""
        return [self._items[k] for k in sorted(self.index_keys(index_name, value))]

    def index_keys(self, index_name: str, value: str) -> _Strs:
        return sorted(self._index_named(index_name).get(value, ()))

    def index(self, index_name: str, obj: Obj) -> _Objs:
        """Objects sharing any value of `index_name` with `obj`."""
        index = self._index_named(index_name)
        keys: set[str] = set()
        for value in self._indexers[index_name](obj):
            keys |= index.get(value, set())
        return [self._items[k] for k in sorted(keys)]

    def list_index_values(self, index_name: str) -> _Strs:
        return sorted(v for v, keys in self._index_named(index_name).items() if keys)

    # -- internals --

    def _index_named(self, name: str) -> dict[str, set[str]]:
        try:
            return self._indices[name]
        except KeyError:
            raise KeyError(f"Index with name {name} does not exist") from None

    def _put(self, key: str, obj: Obj) -> None:
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)

    def _index(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


Indexer = Store
