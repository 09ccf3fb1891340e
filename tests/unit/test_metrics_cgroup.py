"""Reading containers' cgroups: v1 (recorded on a machine with cpu and cpuacct mounted
apart, then rearranged as mounted together) and v2 (written from the kernel's docs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from node.metrics import procfs
from node.metrics.cgroup import (
    CgroupReader,
    Cpu,
    Hierarchies,
    Memory,
    Spec,
    parse_blkio,
    parse_cpu_max,
    parse_io_stat,
    parse_mountinfo,
    weight_to_shares,
)
from node.metrics.collector import Collector, Machine, node_usage
from node.runtime.interface import ContainerState, ContainerStatus, PodRef, SandboxStatus

FIXTURES = Path(__file__).parent / "fixtures" / "cgroup"
V1 = FIXTURES / "v1"
V2 = FIXTURES / "v2"
V1_ID = "1f232b44da2cf1aceef493123d3fb41493a57dcbd96629be3eab9ef0a74b075b"
V2_ID = "2b8e5ad1c1f84b2f9a6c3d4e5f60718293a4b5c6d7e8f90112233445566778899"
CONTROLLERS = ("cpu", "cpuacct", "memory", "blkio", "pids")

# The recorded container: `--cpus 0.5 --memory 64m`, busy looping after writing 8 MiB
# to a file (page cache, inactive).
V1_CPU = Cpu(usage_ns=7_145_548_479, user_ns=7_080_000_000, system_ns=50_000_000,
             periods=143, throttled_periods=141, throttled_ns=6_923_580_259)
V1_MEMORY = Memory(usage=8_962_048, working_set=8_962_048 - 8_388_608, rss=61_440,
                   cache=8_392_704, failcnt=0, oom_kills=0)
V1_SPEC = Spec(cpu_quota=50_000, cpu_period=100_000, cpu_shares=1024, memory_limit=67_108_864)


def split_v1() -> Hierarchies:
    return Hierarchies(v1={c: V1 / c for c in CONTROLLERS})


def joint_v1(tmp_path: Path) -> Hierarchies:
    """cpu and cpuacct in one hierarchy, as most distributions mount them."""
    joint = tmp_path / "cpu,cpuacct"
    for controller in ("cpu", "cpuacct"):
        shutil.copytree(V1 / controller, joint, dirs_exist_ok=True)
    v1 = {c: V1 / c for c in ("memory", "blkio", "pids")}
    return Hierarchies(v1={**v1, "cpu": joint, "cpuacct": joint})


@pytest.mark.parametrize("layout", ["apart", "together"])
def test_v1_container(layout: str, tmp_path: Path) -> None:
    reader = CgroupReader(split_v1() if layout == "apart" else joint_v1(tmp_path))
    rel = reader.locate(V1_ID)
    assert rel == f"docker/{V1_ID}"
    usage = reader.usage(rel)
    assert usage.cpu == V1_CPU
    assert usage.memory == V1_MEMORY
    assert usage.spec == V1_SPEC
    assert usage.io == {}  # the recorded file says only "Total 0"
    assert (usage.processes, usage.threads) == (1, 1)
    assert reader.first_pid(rel) == 20694


def test_v1_root_is_the_node(tmp_path: Path) -> None:
    reader = CgroupReader(split_v1())
    root = reader.root_usage()
    assert root.cpu.usage_ns > V1_CPU.usage_ns
    assert root.memory.working_set == root.memory.usage - 393_748_480  # total_inactive_file


def test_v2_container() -> None:
    reader = CgroupReader(Hierarchies(v2=V2))
    rel = reader.locate(V2_ID)
    assert rel == f"system.slice/docker-{V2_ID}.scope"
    usage = reader.usage(rel)
    assert usage.cpu == Cpu(usage_ns=2_500_000_000, user_ns=2_000_000_000,
                            system_ns=500_000_000, periods=40, throttled_periods=10,
                            throttled_ns=750_000_000)
    assert usage.memory == Memory(usage=73_400_320, working_set=73_400_320 - 8_388_608,
                                  rss=62_914_560, cache=10_485_760, failcnt=7, oom_kills=1)
    assert usage.spec == Spec(cpu_quota=50_000, cpu_period=100_000, cpu_shares=998,
                              memory_limit=134_217_728)
    assert usage.io == {"254:0": (1_459_200, 314_773_504), "253:0": (4096, 0)}
    assert (usage.processes, usage.threads) == (2, 5)
    assert reader.first_pid(rel) == 4242


def test_v2_root_memory_comes_from_meminfo() -> None:
    root = CgroupReader(Hierarchies(v2=V2)).root_usage()
    assert root.cpu.usage_ns == 900_000_000_000
    meminfo = procfs.parse_meminfo((FIXTURES / "proc" / "meminfo").read_text())
    node = node_usage(root, meminfo)
    used = meminfo["MemTotal"] - meminfo["MemFree"]
    assert node.memory.usage == used
    assert node.memory.working_set == used - meminfo["Inactive(file)"]
    assert node.cpu == root.cpu


def test_a_gone_container_is_not_found(tmp_path: Path) -> None:
    assert CgroupReader(split_v1()).locate("0" * 64) is None
    assert CgroupReader(Hierarchies()).locate(V1_ID) is None  # nothing mounted


def test_a_container_under_another_parent_is_found(tmp_path: Path) -> None:
    parent = tmp_path / "memory" / "jota-pods" / V1_ID
    parent.mkdir(parents=True)
    reader = CgroupReader(Hierarchies(v1={"memory": tmp_path / "memory"}))
    assert reader.locate(V1_ID) == f"jota-pods/{V1_ID}"


@pytest.mark.parametrize(("text", "quota", "period"), [
    ("max 100000\n", 0, 100_000),
    ("50000 100000\n", 50_000, 100_000),
    ("200000 250000", 200_000, 250_000),
    ("", 0, 100_000),
])
def test_cpu_max(text: str, quota: int, period: int) -> None:
    assert parse_cpu_max(text) == (quota, period)


@pytest.mark.parametrize(("weight", "shares"), [
    (1, 2), (100, 2597), (39, 998), (10_000, 262_144), (0, 0), (10_001, 0),
])
def test_weight_to_shares_as_cadvisor(weight: int, shares: int) -> None:
    assert weight_to_shares(weight) == shares


def test_blkio_and_io_stat() -> None:
    blkio = ("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n"
             "8:0 Total 12288\n8:16 Read 1\n8:16 Write 2\nTotal 12291\n")
    assert parse_blkio(blkio) == {"8:0": (4096, 8192), "8:16": (1, 2)}
    assert parse_blkio("Total 0\n") == {}
    assert parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n") == {
        "8:0": (10, 20)}


def test_mountinfo_finds_hierarchies() -> None:
    text = "\n".join([
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
        "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct",
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    ])
    h = parse_mountinfo(text)
    assert h.v1 == {"cpu": Path("/sys/fs/cgroup/cpu"), "cpuacct": Path("/sys/fs/cgroup/cpuacct"),
                    "memory": Path("/sys/fs/cgroup/memory")}
    assert h.v2 == Path("/sys/fs/cgroup/unified")
    assert not h.unified  # hybrid: resources are in v1
    joint = parse_mountinfo(
        "30 23 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct")
    assert joint.v1["cpu"] == joint.v1["cpuacct"] == Path("/sys/fs/cgroup/cpu,cpuacct")
    pure = parse_mountinfo("25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate")
    assert pure.unified and pure.v2 == Path("/sys/fs/cgroup")


def test_net_dev_leaves_loopback_out() -> None:
    interfaces = procfs.parse_net_dev((FIXTURES / "proc" / "net_dev").read_text())
    assert interfaces == {"eth0": procfs.Interface(586, 7, 0, 0, 0, 0, 0, 0)}


def _listing() -> tuple[list[SandboxStatus], list[ContainerStatus]]:
    pod = PodRef(uid="u", namespace="ns", name="web")
    return [], [ContainerStatus(id=V2_ID, sandbox_id="s", pod=pod, name="app", attempt=0,
                                state=ContainerState.RUNNING, image="img", created_at=5.0),
                ContainerStatus(id="f" * 64, sandbox_id="s", pod=pod, name="gone", attempt=0,
                                state=ContainerState.RUNNING, image="img")]


def test_collector_snapshots_what_has_a_cgroup() -> None:
    collector = Collector(_listing, Machine(cpus=2, memory_bytes=1 << 30),
                          reader=CgroupReader(Hierarchies(v2=V2)))
    snap = collector.snapshot()
    assert [(s.target.container, s.cgroup) for s in snap.samples] == [
        ("app", f"/system.slice/docker-{V2_ID}.scope")]  # "gone" exited since the listing
    assert snap.samples[0].usage.memory.failcnt == 7
    assert not snap.error
    assert collector.snapshot() is snap  # one snapshot serves scrapes within max_age


def test_collector_reports_a_failed_listing_as_a_scrape_error() -> None:
    def broken() -> tuple[list[SandboxStatus], list[ContainerStatus]]:
        raise TimeoutError("the agent did not answer")

    snap = Collector(broken, Machine(cpus=2, memory_bytes=1), max_age=0,
                     reader=CgroupReader(Hierarchies(v2=V2))).snapshot()
    assert snap.error and snap.samples == []
