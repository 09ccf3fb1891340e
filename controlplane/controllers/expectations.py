"""Expectations: what a controller has asked for and not yet seen in its cache.

A controller that creates three pods and syncs again before its informer has
seen them would count too few pods and create three more. So before it creates
(or deletes) it *expects* them; the pod informer's handlers *observe* each one
as it arrives; and `satisfied_expectations(key)` stays False, which makes the
controller skip creating and deleting for that key, until every expected
event has been seen, or five minutes have passed (a lost event must not wedge
the controller forever). This is client-go's `ControllerExpectations` with the
`UIDTrackingControllerExpectations` refinement for deletions: deletions are
tracked by pod key, so a pod seen deleted twice (updated with a
deletionTimestamp, then gone) lowers the count only once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

EXPECTATIONS_TIMEOUT = 5 * 60.0

Clock = Callable[[], float]


@dataclass
class ControlleeExpectations:
    """Creations and deletions one controller (one key) still waits for."""

    add: int
    delete: int
    timestamp: float

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """Expectations per controller key ("ns/name"), with deletions tracked by pod key."""

    def __init__(self, clock: Clock = time.monotonic,
                 timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self._clock = clock
        self.timeout = timeout
        self._store: dict[str, ControlleeExpectations] = {}
        self._deleting: dict[str, set[str]] = {}

    def get(self, key: str) -> ControlleeExpectations | None:
        return self._store.get(key)

    def satisfied_expectations(self, key: str) -> bool:
        """True when the controller may create or delete again for `key`."""
        exp = self._store.get(key)
        if exp is None:
            return True  # a new controller, or one whose expectations were deleted
        if exp.fulfilled():
            return True
        if self._clock() - exp.timestamp > self.timeout:
            logger.info("expectations expired", extra={"key": key, "add": exp.add,
                                                        "del": exp.delete})
            return True
        return False

    def set_expectations(self, key: str, add: int, delete: int) -> None:
        self._store[key] = ControlleeExpectations(add, delete, self._clock())

    def expect_creations(self, key: str, adds: int) -> None:
        self.set_expectations(key, adds, 0)

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Expect these pods (by "ns/name") to be deleted."""
        keys = set(pod_keys)
        self._deleting[key] = keys
        self.set_expectations(key, 0, len(keys))

    def lower_expectations(self, key: str, add: int, delete: int) -> None:
        exp = self._store.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def raise_expectations(self, key: str, add: int, delete: int) -> None:
        self.lower_expectations(key, -add, -delete)

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """A pod of `key`'s is gone (or going): count it once, if it was expected."""
        deleting = self._deleting.get(key)
        if deleting is not None and pod_key in deleting:
            deleting.discard(pod_key)
            self.lower_expectations(key, 0, 1)

    def deleting(self, key: str) -> set[str]:
        """Pod keys `key` still expects to see deleted."""
        return set(self._deleting.get(key, ()))

    def delete_expectations(self, key: str) -> None:
        """The controller itself is gone: forget what it waited for."""
        self._store.pop(key, None)
        self._deleting.pop(key, None)
