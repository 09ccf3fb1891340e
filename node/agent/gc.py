"""Garbage collection of dead containers and unused images, as kubelet's.

Pure planning, the agent carries the plans out (`Agent._collect_garbage`):

- `plan_container_gc` is kuberuntime_gc.go's evictContainers + evictSandboxes.
  A dead container (not running, older than MinAge) belongs to an evict unit,
  (pod uid, container name). Units of pods gone from the node lose everything;
  the others keep their newest MaxPerPodContainer dead containers (1: the one a
  container's lastState shows); then, if more than MaxContainers dead ones are
  left on the node, each unit is cut to an equal share and the oldest go first.
  Sandboxes holding no container and not ready go too, except a pod's newest.
- `track_images` + `plan_image_gc` are image_gc_manager.go: each image is
  remembered from when the agent first saw it and when it last saw a container
  use it (in memory, as kubelet: a restart starts the clocks again). An image in
  use or pinned (the pause image) is never removed. Above HighThresholdPercent
  of disk use, unused images older than MinAge go, least recently used first,
  until use is back under LowThresholdPercent; independently, images unused for
  longer than MaxAge go.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from node.runtime.interface import (
    ContainerState,
    ContainerStatus,
    ImageInfo,
    PodRef,
    Runtime,
    RuntimeCallError,
    SandboxState,
    SandboxStatus,
)

logger = logging.getLogger(__name__)

CONTAINER_GC_PERIOD = 60.0  # kubelet's ContainerGCPeriod
IMAGE_GC_PERIOD = 300.0  # kubelet's ImageGCPeriod
_NO_TAG = "<none>:<none>"
# A container created but not started yet is left alone this long, whatever MinAge says:
# the pod worker creates, then starts.
CREATED_GRACE = 60.0


# ---- containers and sandboxes ----------------------------------------------------------------


@dataclass(frozen=True)
class ContainerGCPolicy:
    """kubelet's --minimum-container-ttl-duration, --maximum-dead-containers-per-container
    and --maximum-dead-containers (negative: no limit)."""

    min_age: float = 0.0
    max_per_pod_container: int = 1
    max_containers: int = -1


@dataclass(frozen=True)
class ContainerGCPlan:
    containers: tuple[str, ...] = ()  # ids, oldest first within each reason
    sandboxes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.containers or self.sandboxes)


def _evictable(containers: Iterable[ContainerStatus], now: float, min_age: float
               ) -> dict[tuple[str, str], list[ContainerStatus]]:
    """Dead containers old enough, by (pod uid, container name), newest first."""
    units: dict[tuple[str, str], list[ContainerStatus]] = {}
    for c in containers:
        if c.state in (ContainerState.RUNNING, ContainerState.UNKNOWN):
            continue
        age = now - c.created_at if c.created_at else float("inf")
        if age < min_age:
            continue
        if c.state == ContainerState.CREATED and c.exit_code == 0 and age < CREATED_GRACE:
            continue  # created a moment ago, its start is on its way
        units.setdefault((c.pod.uid, c.name), []).append(c)
    for items in units.values():
        items.sort(key=lambda c: (c.created_at, c.attempt), reverse=True)
    return units


def _cut(units: dict[tuple[str, str], list[ContainerStatus]], keep: int) -> list[str]:
    """Remove all but the newest `keep` of each unit; returns the ids removed."""
    removed: list[str] = []
    for key, items in units.items():
        if len(items) > keep:
            removed += [c.id for c in reversed(items[keep:])]
            units[key] = items[:keep]
    return removed


def plan_container_gc(containers: Collection[ContainerStatus],
                      sandboxes: Collection[SandboxStatus], *, gone: Collection[str],
                      now: float, policy: ContainerGCPolicy | None = None) -> ContainerGCPlan:
    """What to remove. `gone` are the uids of pods whose content may all go (deleted from
    the API, no longer this node's); containers and sandboxes of other pods are kept
    within the policy's counts."""
    policy = policy or ContainerGCPolicy()
    gone = set(gone)
    units = _evictable(containers, now, policy.min_age)
    removed: list[str] = []
    for key in [k for k in units if k[0] in gone]:
        removed += [c.id for c in reversed(units.pop(key))]
    if policy.max_per_pod_container >= 0:
        removed += _cut(units, policy.max_per_pod_container)
    total = sum(len(items) for items in units.values())
    if policy.max_containers >= 0 and total > policy.max_containers:
        share = max(policy.max_containers // max(len(units), 1), 1)
        removed += _cut(units, share)
        left = sorted((c for items in units.values() for c in items),
                      key=lambda c: (c.created_at, c.attempt))
        excess = len(left) - policy.max_containers
        if excess > 0:
            removed += [c.id for c in left[:excess]]
    gone_ids = set(removed)
    holding = {c.sandbox_id for c in containers if c.id not in gone_ids}
    by_pod: dict[str, list[SandboxStatus]] = {}
    for s in sandboxes:
        by_pod.setdefault(s.pod.uid, []).append(s)
    doomed: list[str] = []
    for uid, items in by_pod.items():
        items.sort(key=lambda s: (s.created_at, s.attempt), reverse=True)
        candidates = items if uid in gone else items[1:]
        doomed += [s.id for s in reversed(candidates)
                   if s.state != SandboxState.READY and s.id not in holding]
    return ContainerGCPlan(tuple(removed), tuple(doomed))


# ---- images ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageGCPolicy:
    """kubelet's --image-gc-high-threshold, --image-gc-low-threshold,
    --image-minimum-gc-age and --image-maximum-gc-age (0: off). Kubelet leaves the
    maximum age off; Jota removes what no container used for a day."""

    high_threshold_percent: int = 85
    low_threshold_percent: int = 80
    min_age: float = 120.0
    max_age: float = 24 * 3600.0


@dataclass(frozen=True)
class ImageRecord:
    first_detected: float
    last_used: float = 0.0
    size: int = 0

    @property
    def unused_since(self) -> float:
        return self.last_used or self.first_detected


@dataclass(frozen=True)
class ImageGCPlan:
    images: tuple[str, ...] = ()  # image ids, in the order to remove them
    refs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # id -> names to remove by
    bytes_to_free: int = 0

    def __bool__(self) -> bool:
        return bool(self.images)


def images_in_use(containers: Iterable[ContainerStatus]) -> set[str]:
    """Image ids (and names) any container, dead or alive, was made from: such an image
    cannot go while the container exists."""
    used: set[str] = set()
    for c in containers:
        used.update(x for x in (c.image_ref, c.image) if x)
    return used


def _used(image: ImageInfo, in_use: Collection[str]) -> bool:
    return image.id in in_use or any(t in in_use for t in image.tags)


def _pinned(image: ImageInfo, pinned: Collection[str]) -> bool:
    return image.id in pinned or any(t in pinned for t in image.tags)


def track_images(records: Mapping[str, ImageRecord], images: Iterable[ImageInfo],
                 in_use: Collection[str], now: float) -> dict[str, ImageRecord]:
    """kubelet's detectImages: records for the images present now (others are forgotten),
    with last_used moved to `now` for the ones a container uses."""
    out: dict[str, ImageRecord] = {}
    for image in images:
        record = records.get(image.id) or ImageRecord(first_detected=now)
        record = dataclasses.replace(record, size=image.size)
        if _used(image, in_use):
            record = dataclasses.replace(record, last_used=now)
        out[image.id] = record
    return out


def plan_image_gc(images: Collection[ImageInfo], records: Mapping[str, ImageRecord], *,
                  in_use: Collection[str], pinned: Collection[str], now: float,
                  capacity: int, available: int,
                  policy: ImageGCPolicy | None = None) -> ImageGCPlan:
    """Images to remove now. `capacity`/`available` are the image filesystem's bytes."""
    policy = policy or ImageGCPolicy()
    candidates: list[tuple[ImageRecord, ImageInfo]] = []
    for image in images:
        record = records.get(image.id)
        if record is None or _used(image, in_use) or _pinned(image, pinned):
            continue
        candidates.append((record, image))
    # Least recently used first, then the ones seen first (kubelet's byLastUsedAndDetected).
    candidates.sort(key=lambda ri: (ri[0].unused_since, ri[0].first_detected, ri[1].id))
    chosen: list[ImageInfo] = []
    if policy.max_age > 0:
        chosen += [image for record, image in candidates
                   if now - record.unused_since > policy.max_age]
    to_free = 0
    if capacity > 0 and policy.high_threshold_percent < 100:
        used_percent = (capacity - available) * 100 // capacity
        if used_percent >= policy.high_threshold_percent:
            to_free = capacity * (100 - policy.low_threshold_percent) // 100 - available
            freed = sum(i.size for i in chosen)
            for record, image in candidates:
                if freed >= to_free:
                    break
                if image in chosen or now - record.first_detected < policy.min_age:
                    continue
                chosen.append(image)
                freed += image.size
    refs = {i.id: tuple(t for t in i.tags if t != _NO_TAG) or (i.id,) for i in chosen}
    return ImageGCPlan(tuple(i.id for i in chosen), refs, max(to_free, 0))


# ---- the periodic task -------------------------------------------------------------------------


Keep = Callable[[PodRef], Awaitable[bool]]
Mine = Callable[[Mapping[str, str]], bool]


class GarbageCollector:
    """Runs the plans above every minute (containers) and five minutes (images).

    `known()` are the uids the agent has pods or workers for; for any other uid,
    `keep(ref)` says whether the pod still exists (on another node sharing this
    engine, or not yet in the agent's cache): only pods it denies are gone.
    `mine(labels)` filters out what another cluster's agent made in the same engine.
    """

    def __init__(self, runtime: Runtime, *, known: Callable[[], Collection[str]], keep: Keep,
                 mine: Mine, disk_usage: Callable[[], tuple[int, int]],
                 pinned: Collection[str] = (),
                 containers: ContainerGCPolicy | None = None,
                 images: ImageGCPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.known = known
        self.keep = keep
        self.mine = mine
        self.disk_usage = disk_usage
        self.pinned = set(pinned)
        self.container_policy = containers or ContainerGCPolicy()
        self.image_policy = images or ImageGCPolicy()
        self.clock = clock
        self.records: dict[str, ImageRecord] = {}

    async def run(self) -> None:
        last_images = self.clock()
        while True:
            await asyncio.sleep(CONTAINER_GC_PERIOD)
            try:
                await self.collect_containers()
                if self.clock() - last_images >= IMAGE_GC_PERIOD:
                    last_images = self.clock()
                    await self.collect_images()
                else:
                    await self.detect_images()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a runtime hiccup: try again next period
                logger.warning("garbage collection failed: %s", e)

    async def collect_containers(self) -> ContainerGCPlan:
        containers = [c for c in await self.runtime.list_containers() if self.mine(c.labels)]
        sandboxes = [s for s in await self.runtime.list_pod_sandboxes() if self.mine(s.labels)]
        known = set(self.known())
        pods = [c.pod for c in containers] + [s.pod for s in sandboxes]
        refs = {ref.uid: ref for ref in pods if ref.uid not in known}
        gone = {uid for uid, ref in refs.items() if not await self.keep(ref)}
        plan = plan_container_gc(containers, sandboxes, gone=gone, now=self.clock(),
                                 policy=self.container_policy)
        for cid in plan.containers:
            with contextlib.suppress(RuntimeCallError):
                await self.runtime.remove_container(cid)
        for sid in plan.sandboxes:
            with contextlib.suppress(RuntimeCallError):
                await self.runtime.remove_pod_sandbox(sid)
        if plan:
            logger.info("garbage collected %d containers and %d sandboxes",
                        len(plan.containers), len(plan.sandboxes))
        return plan

    async def detect_images(self) -> tuple[list[ImageInfo], set[str]]:
        images = await self.runtime.list_images()
        in_use = images_in_use(await self.runtime.list_containers())
        self.records = track_images(self.records, images, in_use, self.clock())
        return images, in_use

    async def collect_images(self) -> ImageGCPlan:
        images, in_use = await self.detect_images()
        capacity, available = await asyncio.to_thread(self.disk_usage)
        plan = plan_image_gc(images, self.records, in_use=in_use, pinned=self.pinned,
                             now=self.clock(), capacity=capacity, available=available,
                             policy=self.image_policy)
        for image_id in plan.images:
            for ref in plan.refs.get(image_id, (image_id,)):
                try:
                    await self.runtime.remove_image(ref)
                except RuntimeCallError as e:  # in use by a container not ours, say
                    logger.info("cannot remove image %s: %s", ref, e.message)
                    break
            else:
                self.records.pop(image_id, None)
                logger.info("garbage collected image %s", image_id)
        return plan
