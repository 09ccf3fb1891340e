"""How an object becomes bytes in etcd and back.

resourceVersion is never stored: it is the key's etcd mod_revision, set on the
way out, so it can never disagree with etcd. A `Transformer` sits between the
JSON and etcd so that encryption at rest (Secrets) slots in without touching
callers.
"""

from __future__ import annotations

import json
from typing import Protocol

from jota.api import errors
from jota.api.meta import Obj


class Transformer(Protocol):
    def to_storage(self, data: bytes, key: bytes) -> bytes: ...
    def from_storage(self, data: bytes, key: bytes) -> bytes: ...


class Identity:
    def to_storage(self, data: bytes, key: bytes) -> bytes:
        return data

    def from_storage(self, data: bytes, key: bytes) -> bytes:
        return data


class Codec:
    def __init__(self, transformer: Transformer | None = None) -> None:
        self.transformer: Transformer = transformer or Identity()

    def encode(self, obj: Obj, key: bytes) -> bytes:
        md = obj.get("metadata") or {}
        rv = md.pop("resourceVersion", None)
        try:
            data = json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()
        finally:
            if rv is not None:
                md["resourceVersion"] = rv
        return self.transformer.to_storage(data, key)

    def decode(self, data: bytes, key: bytes, mod_revision: int) -> Obj:
        try:
            obj: Obj = json.loads(self.transformer.from_storage(data, key))
        except (ValueError, UnicodeDecodeError) as e:
            raise errors.InternalError(
                f"cannot decode {key.decode(errors='replace')}: {e}") from None
        obj.setdefault("metadata", {})["resourceVersion"] = str(mod_revision)
        return obj
