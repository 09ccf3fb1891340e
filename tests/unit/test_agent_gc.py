"""Garbage collection plans, as kubelet's container and image GC would decide them."""

from __future__ import annotations

import pytest

from node.agent.gc import (
    ContainerGCPolicy,
    GarbageCollector,
    ImageGCPolicy,
    ImageRecord,
    images_in_use,
    plan_container_gc,
    plan_image_gc,
    track_images,
)
from node.runtime.fake import FakeRuntime
from node.runtime.interface import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    ImageInfo,
    PodRef,
    SandboxConfig,
    SandboxState,
    SandboxStatus,
)

NOW = 1_800_000_000.0
IMAGE = "jota/busybox:latest"
MIN = 60.0
GiB = 1 << 30


def ctr(cid: str, name: str = "app", *, pod: str = "u1", age: float = 600,
        state: ContainerState = ContainerState.EXITED, sandbox: str = "s1",
        exit_code: int = 1, image: str = "busybox", image_ref: str = "") -> ContainerStatus:
    return ContainerStatus(id=cid, sandbox_id=sandbox, pod=PodRef(pod, "ns", pod), name=name,
                           attempt=0, state=state, image=image, image_ref=image_ref,
                           created_at=NOW - age, exit_code=exit_code)


def sbx(sid: str, *, pod: str = "u1", age: float = 600, ready: bool = False) -> SandboxStatus:
    return SandboxStatus(id=sid, pod=PodRef(pod, "ns", pod), attempt=0,
                         state=SandboxState.READY if ready else SandboxState.NOTREADY,
                         created_at=NOW - age)


RUNNING = ContainerState.RUNNING


# ---- containers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("containers", "gone", "policy", "removed"), [
    # A crash-looping container keeps its newest dead instance (its lastState); the
    # running one is never touched.
    ([ctr("run", state=RUNNING, age=10), ctr("d1", age=100), ctr("d2", age=200),
      ctr("d3", age=300)], set(), ContainerGCPolicy(), ["d3", "d2"]),
    # One unit per (pod, container name): each keeps its own newest.
    ([ctr("a1", "a", age=100), ctr("a2", "a", age=200), ctr("b1", "b", age=300)], set(),
     ContainerGCPolicy(), ["a2"]),
    # A pod gone from the node loses every dead container; a running one waits for its
    # pod worker to stop it.
    ([ctr("x1", pod="gone", age=100), ctr("x2", pod="gone", age=200),
      ctr("xr", pod="gone", state=RUNNING), ctr("k1", age=100)], {"gone"},
     ContainerGCPolicy(), ["x2", "x1"]),
    # MinAge: younger dead containers are not yet evictable.
    ([ctr("new", age=30), ctr("old1", age=120), ctr("old2", age=200)], set(),
     ContainerGCPolicy(min_age=MIN), ["old2"]),
    # Keep more per container when asked.
    ([ctr("d1", age=100), ctr("d2", age=200), ctr("d3", age=300)], set(),
     ContainerGCPolicy(max_per_pod_container=2), ["d3"]),
    # MaxContainers: each unit cut to an equal share (at least 1), then oldest first.
    ([ctr("a1", "a", age=100), ctr("a2", "a", age=200), ctr("b1", "b", age=300),
      ctr("c1", "c", age=400)], set(),
     ContainerGCPolicy(max_per_pod_container=-1, max_containers=2), ["a2", "c1"]),
    ([ctr("a1", "a", age=100), ctr("a2", "a", age=200), ctr("a3", "a", age=300),
      ctr("b1", "b", age=150), ctr("b2", "b", age=250)], set(),
     ContainerGCPolicy(max_per_pod_container=-1, max_containers=4), ["a3"]),
    ([ctr("a1", "a", age=100), ctr("a2", "a", age=200), ctr("a3", "a", age=300),
      ctr("b1", "b", age=150), ctr("b2", "b", age=250)], set(),
     ContainerGCPolicy(max_per_pod_container=-1, max_containers=3), ["a3", "a2", "b2"]),
    # No limits: nothing goes.
    ([ctr("d1", age=100), ctr("d2", age=200)], set(),
     ContainerGCPolicy(max_per_pod_container=-1), []),
    # A container created a moment ago is about to start: not garbage even at MinAge 0.
    ([ctr("fresh", state=ContainerState.CREATED, exit_code=0, age=5), ctr("d1", age=100),
      ctr("d2", age=200)], set(), ContainerGCPolicy(), ["d2"]),
])
def test_container_gc(containers: list[ContainerStatus], gone: set[str],
                      policy: ContainerGCPolicy, removed: list[str]) -> None:
    plan = plan_container_gc(containers, [], gone=gone, now=NOW, policy=policy)
    assert sorted(plan.containers) == sorted(removed)
    assert bool(plan) == bool(removed)


def test_oldest_removed_first() -> None:
    plan = plan_container_gc([ctr("d1", age=100), ctr("d2", age=200), ctr("d3", age=300)], [],
                             gone=set(), now=NOW)
    assert plan.containers == ("d3", "d2")


@pytest.mark.parametrize(("sandboxes", "containers", "gone", "removed"), [
    # A pod keeps its newest sandbox; older dead ones without containers go.
    ([sbx("s3", age=100, ready=True), sbx("s2", age=200), sbx("s1", age=300)], [],
     set(), ["s1", "s2"]),
    # A dead sandbox still holding a kept container stays (removing it would take the
    # container with it).
    ([sbx("s2", age=100, ready=True), sbx("s1", age=300)],
     [ctr("d1", sandbox="s1", age=250)], set(), []),
    # ... but one whose containers are all collected in the same pass goes.
    ([sbx("s2", age=100, ready=True), sbx("s1", age=300)],
     [ctr("d1", sandbox="s2", age=50), ctr("d0", sandbox="s1", age=250)], set(), ["s1"]),
    # A gone pod loses all its dead sandboxes, the newest too; a ready one waits.
    ([sbx("g2", pod="gone", age=100), sbx("g1", pod="gone", age=200)], [], {"gone"},
     ["g1", "g2"]),
    ([sbx("g2", pod="gone", age=100, ready=True)], [], {"gone"}, []),
    # The only sandbox of a live pod stays even when dead (the pod may be done).
    ([sbx("s1", age=300)], [], set(), []),
])
def test_sandbox_gc(sandboxes: list[SandboxStatus], containers: list[ContainerStatus],
                    gone: set[str], removed: list[str]) -> None:
    plan = plan_container_gc(containers, sandboxes, gone=gone, now=NOW)
    assert sorted(plan.sandboxes) == sorted(removed)


# ---- images ------------------------------------------------------------------------------------


def img(iid: str, *tags: str, size: int = GiB) -> ImageInfo:
    return ImageInfo(id=iid, tags=list(tags), size=size)


def test_tracking_remembers_first_seen_and_last_used() -> None:
    images = [img("sha256:a", "a:1"), img("sha256:b", "b:1")]
    first = track_images({}, images, {"a:1"}, NOW - 100)
    assert first["sha256:a"] == ImageRecord(NOW - 100, NOW - 100, GiB)
    assert first["sha256:b"] == ImageRecord(NOW - 100, 0.0, GiB)
    second = track_images(first, images[1:], {"sha256:b"}, NOW)
    assert second == {"sha256:b": ImageRecord(NOW - 100, NOW, GiB)}  # a is gone: forgotten


def test_images_in_use_by_id_and_name() -> None:
    used = images_in_use([ctr("c1", image="a:1", image_ref="sha256:a"),
                          ctr("c2", image="b:1", state=RUNNING)])
    assert used == {"a:1", "sha256:a", "b:1"}


DAY = 24 * 3600.0


@pytest.mark.parametrize(("records", "in_use", "free", "expected"), [
    # Disk is fine: only images unused for longer than MaxAge go.
    ({"sha256:old": ImageRecord(NOW - 2 * DAY), "sha256:new": ImageRecord(NOW - 3600)},
     set(), 50, ["sha256:old"]),
    # In use, or pinned (the pause image): never.
    ({"sha256:old": ImageRecord(NOW - 2 * DAY), "sha256:pause": ImageRecord(NOW - 2 * DAY)},
     {"sha256:old"}, 50, []),
    # Last use counts, not first sight.
    ({"sha256:old": ImageRecord(NOW - 3 * DAY, last_used=NOW - 600)}, set(), 50, []),
    # Over the high threshold (90% used): least recently used first until under the low
    # threshold (80%): 10 GiB must go; images seen for less than MinAge stay.
    ({"sha256:a": ImageRecord(NOW - 3600, last_used=NOW - 600, size=6 * GiB),
      "sha256:b": ImageRecord(NOW - 3600, last_used=NOW - 1200, size=6 * GiB),
      "sha256:c": ImageRecord(NOW - 3600, last_used=NOW - 300, size=6 * GiB),
      "sha256:young": ImageRecord(NOW - 60, size=6 * GiB)},
     set(), 10, ["sha256:b", "sha256:a"]),
])
def test_image_gc(records: dict[str, ImageRecord], in_use: set[str], free: int,
                  expected: list[str]) -> None:
    images = [img(iid, iid.replace("sha256:", "") + ":1", size=r.size or GiB)
              for iid, r in records.items() if iid != "sha256:pause"]
    images.append(img("sha256:pause", "jota/pause:3.9"))
    plan = plan_image_gc(images, records, in_use=in_use, pinned={"jota/pause:3.9"}, now=NOW,
                         capacity=100 * GiB, available=free * GiB)
    assert list(plan.images) == expected


def test_image_gc_removes_by_every_tag_and_dangling_by_id() -> None:
    records = {"sha256:t": ImageRecord(NOW - 2 * DAY), "sha256:d": ImageRecord(NOW - 2 * DAY)}
    images = [img("sha256:t", "x:1", "x:latest"), img("sha256:d", "<none>:<none>")]
    plan = plan_image_gc(images, records, in_use=set(), pinned=set(), now=NOW,
                         capacity=100 * GiB, available=50 * GiB,
                         policy=ImageGCPolicy(max_age=DAY))
    assert plan.refs == {"sha256:t": ("x:1", "x:latest"), "sha256:d": ("sha256:d",)}


def test_max_age_zero_is_off() -> None:
    records = {"sha256:old": ImageRecord(NOW - 30 * DAY)}
    plan = plan_image_gc([img("sha256:old", "old:1")], records, in_use=set(), pinned=set(),
                         now=NOW, capacity=100 * GiB, available=50 * GiB,
                         policy=ImageGCPolicy(max_age=0))
    assert not plan


# ---- the collector against the fake runtime ----------------------------------------------------


async def test_collector_removes_only_garbage_of_this_cluster() -> None:
    rt = FakeRuntime()
    sc = SandboxConfig(pod=PodRef("live", "ns", "live"))
    sid = await rt.run_pod_sandbox(sc)
    ids = []
    for attempt in range(3):
        cid = await rt.create_container(sid, ContainerConfig("app", IMAGE, attempt=attempt),
                                        sc)
        await rt.start_container(cid)
        await rt.stop_container(cid, 0)
        ids.append(cid)
    foreign = SandboxConfig(pod=PodRef("other", "ns", "other"), labels={"cluster": "b"})
    fid = await rt.run_pod_sandbox(foreign)
    await rt.stop_pod_sandbox(fid)

    async def keep(ref: PodRef) -> bool:
        return False

    collector = GarbageCollector(rt, known=lambda: {"live"}, keep=keep,
                                 mine=lambda labels: labels.get("cluster") != "b",
                                 disk_usage=lambda: (100, 50), clock=lambda: NOW + 3600)
    plan = await collector.collect_containers()
    left = {c.id for c in await rt.list_containers()}
    assert set(plan.containers) == set(ids) - left and len(left) == 1
    assert fid in {s.id for s in await rt.list_pod_sandboxes()}
