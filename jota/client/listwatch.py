"""What the reflector needs from the API: list, then watch from a resourceVersion.

`jota.client.Client` satisfies `ListerWatcher` as it is; tests pass an in-memory
fake. `ListWatch` binds one resource, namespace and selectors to a ListerWatcher,
so the reflector carries one value instead of five.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from jota.api.meta import Obj

WatchEvent = tuple[str, Obj]
"""(type, object): type is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."""

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


class ListerWatcher(Protocol):
    async def list(
        self,
        resource: str,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
    ) -> Obj:
        """A `<Kind>List`; its `metadata.resourceVersion` is where a watch resumes."""
        ...

    def watch(
        self,
        resource: str,
        namespace: str = "",
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        allow_bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]:
        """Events after `resource_version`; raises `errors.Gone` when it is compacted."""
        ...


@dataclass(frozen=True)
class ListWatch:
    """One resource (in one namespace, "" for all) seen through one ListerWatcher."""

    lw: ListerWatcher
    resource: str
    namespace: str = ""
    label_selector: str = ""
    field_selector: str = ""

    async def list(self, resource_version: str = "") -> Obj:
        return await self.lw.list(
            self.resource, self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, resource_version=resource_version)

    def watch(self, resource_version: str) -> AsyncIterator[WatchEvent]:
        return self.lw.watch(
            self.resource, self.namespace, resource_version=resource_version,
            label_selector=self.label_selector, field_selector=self.field_selector,
            allow_bookmarks=True)
