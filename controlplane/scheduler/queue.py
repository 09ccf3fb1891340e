"""The scheduling queue: which pending pod is tried next, and when a failed one again.

As kube-scheduler's PriorityQueue, three places:

- active: a heap, highest priority first, then oldest;
- backoff: pods that failed, waiting 1 s, 2 s, 4 s... (at most 10 s) per attempt;
- unschedulable: pods no node fits. They wait for a cluster event that could make
  them fit (a node added or changed, an assigned pod deleted, ...) and then go back
  to active (or to backoff, if their backoff has not run out); after five minutes
  without such an event they are retried anyway.

A pod that fails while an event arrived during its own cycle goes to backoff, not
unschedulable: the event might have been the one it needed. Pure: the clock is a
function passed in, and nothing here awaits.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from jota.api.meta import Obj

Clock = Callable[[], float]

# Cluster events that move unschedulable pods (framework.ClusterEvent labels).
NODE_ADD = "NodeAdd"
NODE_UPDATE = "NodeUpdate"
ASSIGNED_POD_ADD = "AssignedPodAdd"
ASSIGNED_POD_UPDATE = "AssignedPodUpdate"
ASSIGNED_POD_DELETE = "AssignedPodDelete"
PVC_CHANGE = "PersistentVolumeClaimChange"
PV_CHANGE = "PersistentVolumeChange"
STORAGE_CLASS_CHANGE = "StorageClassChange"
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"


def pod_key(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def creation_time(pod: Obj) -> float:
    ts = (pod.get("metadata") or {}).get("creationTimestamp")
    if not ts:
        return 0.0
    try:
        return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@dataclass(eq=False)
class QueuedPodInfo:
    pod: Obj
    priority: int = 0
    attempts: int = 0
    timestamp: float = 0.0  # when it last entered the queue (or last failed)
    initial_attempt: float | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    cycle_start: float = 0.0  # perf_counter() when its current attempt began (metrics)

    @property
    def key(self) -> str:
        return pod_key(self.pod)


def spec_changed(old: Obj, new: Obj) -> bool:
    """isPodUpdated: anything but status and bookkeeping metadata changed."""
    def strip(p: Obj) -> Obj:
        md = {k: v for k, v in (p.get("metadata") or {}).items()
              if k not in ("resourceVersion", "generation", "managedFields")}
        return {**{k: v for k, v in p.items() if k != "status"}, "metadata": md}
    return strip(old) != strip(new)


class SchedulingQueue:
    def __init__(self, clock: Clock, *, initial_backoff: float = 1.0,
                 max_backoff: float = 10.0, max_unschedulable: float = 300.0) -> None:
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []
        self._active_info: dict[str, tuple[int, QueuedPodInfo]] = {}
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_info: dict[str, tuple[int, QueuedPodInfo]] = {}
        self.unschedulable: dict[str, QueuedPodInfo] = {}
        self.in_flight: set[str] = set()
        self.scheduling_cycle = 0
        self.move_request_cycle = -1

    # -- the three places --

    def _push_active(self, info: QueuedPodInfo) -> None:
        key = info.key
        seq = next(self._seq)
        self._backoff_info.pop(key, None)
        self.unschedulable.pop(key, None)
        self._active_info[key] = (seq, info)
        heapq.heappush(self._active, (-info.priority, creation_time(info.pod), seq, key))

    def _push_backoff(self, info: QueuedPodInfo) -> None:
        key = info.key
        seq = next(self._seq)
        self._active_info.pop(key, None)
        self.unschedulable.pop(key, None)
        self._backoff_info[key] = (seq, info)
        heapq.heappush(self._backoff, (self.backoff_expiry(info), seq, key))

    def _find(self, key: str) -> QueuedPodInfo | None:
        for table in (self._active_info, self._backoff_info):
            hit = table.get(key)
            if hit is not None:
                return hit[1]
        return self.unschedulable.get(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def __len__(self) -> int:
        return len(self._active_info) + len(self._backoff_info) + len(self.unschedulable)

    def counts(self) -> dict[str, int]:
        return {"active": len(self._active_info), "backoff": len(self._backoff_info),
                "unschedulable": len(self.unschedulable)}

    def backoff_duration(self, info: QueuedPodInfo) -> float:
        if info.attempts <= 0:
            return 0.0
        return float(min(self.initial_backoff * 2 ** (info.attempts - 1), self.max_backoff))

    def backoff_expiry(self, info: QueuedPodInfo) -> float:
        return info.timestamp + self.backoff_duration(info)

    def backing_off(self, info: QueuedPodInfo) -> bool:
        return self.backoff_expiry(info) > self.clock()

    # -- informer events --

    def add(self, pod: Obj, priority: int = 0) -> None:
        """A new pending pod."""
        key = pod_key(pod)
        if key in self.in_flight or self._find(key) is not None:
            self.update(pod, pod, priority)
            return
        self._push_active(QueuedPodInfo(pod, priority, timestamp=self.clock()))

    def update(self, old: Obj, new: Obj, priority: int = 0) -> None:
        key = pod_key(new)
        info = self._find(key)
        if info is None:
            # In flight: only a real change is worth another try (if this one fails).
            if key not in self.in_flight or spec_changed(old, new):
                self._push_active(QueuedPodInfo(new, priority, timestamp=self.clock()))
            return
        changed = spec_changed(info.pod, new)
        info.pod, info.priority = new, priority
        if key in self._active_info:
            self._push_active(info)  # priority may have changed: re-heap
        elif key in self.unschedulable and changed:
            if self.backing_off(info):
                self._push_backoff(info)
            else:
                self._push_active(info)

    def delete(self, pod: Obj) -> None:
        key = pod_key(pod)
        self._active_info.pop(key, None)
        self._backoff_info.pop(key, None)
        self.unschedulable.pop(key, None)

    # -- the scheduler's side --

    def pop(self) -> QueuedPodInfo | None:
        """The next pod to try, or None when nothing is active right now."""
        self.flush_backoff_completed()
        while self._active:
            _, _, seq, key = heapq.heappop(self._active)
            hit = self._active_info.get(key)
            if hit is None or hit[0] != seq:
                continue  # stale heap entry
            del self._active_info[key]
            info = hit[1]
            info.attempts += 1
            if info.initial_attempt is None:
                info.initial_attempt = self.clock()
            self.scheduling_cycle += 1
            self.in_flight.add(key)
            return info
        return None

    def done(self, key: str) -> None:
        """The pod's cycle ended (bound, requeued, or dropped)."""
        self.in_flight.discard(key)

    def requeue(self, info: QueuedPodInfo, cycle: int, *, unschedulable: bool) -> None:
        """AddUnschedulableIfNotPresent: after a failed attempt."""
        key = info.key
        self.in_flight.discard(key)
        if self._find(key) is not None:
            return  # updated while in flight: already queued again
        info.timestamp = self.clock()
        if not unschedulable or self.move_request_cycle >= cycle:
            self._push_backoff(info)
        else:
            self.unschedulable[key] = info

    def move_all_to_active_or_backoff(self, event: str,
                                      wanted: Callable[[QueuedPodInfo], bool] | None = None
                                      ) -> int:
        """A cluster event that may make unschedulable pods fit; returns how many moved."""
        moved = 0
        for info in list(self.unschedulable.values()):
            if wanted is not None and not wanted(info):
                continue
            if self.backing_off(info):
                self._push_backoff(info)
            else:
                self._push_active(info)
            moved += 1
        self.move_request_cycle = self.scheduling_cycle
        return moved

    def flush_backoff_completed(self) -> None:
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            hit = self._backoff_info.get(key)
            if hit is not None and hit[0] == seq:
                self._push_active(hit[1])

    def flush_unschedulable_left_over(self) -> None:
        now = self.clock()
        for info in list(self.unschedulable.values()):
            if now - info.timestamp > self.max_unschedulable:
                if self.backing_off(info):
                    self._push_backoff(info)
                else:
                    self._push_active(info)

    def next_wakeup(self) -> float | None:
        """When a backing-off pod becomes active (the clock's time), if any."""
        while self._backoff:
            expiry, seq, key = self._backoff[0]
            hit = self._backoff_info.get(key)
            if hit is not None and hit[0] == seq:
                return expiry
            heapq.heappop(self._backoff)
        return None

    def has_active(self) -> bool:
        return bool(self._active_info)
