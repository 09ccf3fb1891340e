"""What a container uses, read from its cgroup files as cAdvisor reads them.

The parsers are pure functions of a file's text, so every format (cgroup v1
with `cpu` and `cpuacct` mounted apart or together, and the unified v2) is
tested from recorded fixtures. `CgroupReader` is the thin part that finds a
container's directories and opens the files; it never asks Docker, so a scrape
costs a few dozen small reads per container rather than one stats call each.

cAdvisor's arithmetic is kept: the working set is usage minus inactive file
pages (`total_inactive_file` in v1, `inactive_file` in v2), a v2 `cpu.weight`
becomes shares as `2 + (weight - 1) * 262142 / 9999`, user and system time of
v1's `cpuacct.stat` are USER_HZ ticks, and a memory limit above 2^62 means none.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

NS = 1_000_000_000
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
UNLIMITED = 1 << 62  # cAdvisor's specMemoryValue: above this a limit is "none" (0)
CGROUP_ROOT = Path("/sys/fs/cgroup")


# ---- the figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    usage_ns: int = 0
    user_ns: int = 0
    system_ns: int = 0
    periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0


@dataclass(frozen=True)
class Memory:
    usage: int = 0
    working_set: int = 0
    rss: int = 0
    cache: int = 0
    failcnt: int = 0
    oom_kills: int = 0


@dataclass(frozen=True)
class Spec:
    cpu_quota: int = 0  # microseconds per period; 0 = no limit
    cpu_period: int = 100_000
    cpu_shares: int = 1024
    memory_limit: int = 0  # bytes; 0 = no limit


@dataclass(frozen=True)
class Usage:
    """One cgroup at one moment."""

    cpu: Cpu = Cpu()
    memory: Memory = Memory()
    spec: Spec = Spec()
    io: dict[str, tuple[int, int]] = field(default_factory=dict)  # "maj:min" -> (read, written)
    processes: int = 0
    threads: int = 0


@dataclass(frozen=True)
class Hierarchies:
    """Where the cgroup file systems are mounted: v1 controllers and the v2 tree."""

    v1: dict[str, Path] = field(default_factory=dict)  # "cpu" -> /sys/fs/cgroup/cpu
    v2: Path | None = None

    @property
    def unified(self) -> bool:
        """Whether resources are accounted in v2 (no v1 memory controller mounted)."""
        return "memory" not in self.v1 and self.v2 is not None


# ---- parsers (pure) ----------------------------------------------------------------------


def parse_int(text: str) -> int:
    """A single-number file; "max" (v2's no limit) and junk are 0."""
    value = text.strip()
    try:
        return int(value)
    except ValueError:
        return 0


def parse_keyed(text: str) -> dict[str, int]:
    """"key value" lines (cpu.stat, memory.stat, cpuacct.stat, memory.events...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value.strip())
    return out


def parse_cpu_max(text: str) -> tuple[int, int]:
    """v2 `cpu.max` ("max 100000" or "50000 100000") -> (quota us or 0, period us)."""
    parts = text.split()
    quota = parse_int(parts[0]) if parts else 0
    period = parse_int(parts[1]) if len(parts) > 1 else 100_000
    return quota, period or 100_000


def weight_to_shares(weight: int) -> int:
    """cAdvisor's convertCPUWeightToCPULimit: the inverse of runc's shares->weight."""
    if not 1 <= weight <= 10_000:
        return 0
    return 2 + ((weight - 1) * 262_142) // 9_999


def parse_blkio(text: str) -> dict[str, tuple[int, int]]:
    """v1 `blkio.throttle.io_service_bytes`: "8:0 Read 1024" lines -> bytes per device."""
    out: dict[str, list[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1] not in ("Read", "Write"):
            continue
        entry = out.setdefault(parts[0], [0, 0])
        entry[0 if parts[1] == "Read" else 1] += parse_int(parts[2])
    return {dev: (r, w) for dev, (r, w) in out.items()}


def parse_io_stat(text: str) -> dict[str, tuple[int, int]]:
    """v2 `io.stat`: "8:0 rbytes=1 wbytes=2 rios=..." lines -> bytes per device."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        dev, *pairs = line.split()
        values = dict(p.partition("=")[::2] for p in pairs)
        out[dev] = (parse_int(values.get("rbytes", "0")), parse_int(values.get("wbytes", "0")))
    return out


def parse_mountinfo(text: str) -> Hierarchies:
    """/proc/self/mountinfo -> where each v1 controller and the v2 tree are mounted."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or not extra:
            continue
        point = Path(fields[4])
        if extra[0] == "cgroup2":
            v2 = point
        elif extra[0] == "cgroup" and len(extra) >= 3:
            for option in extra[2].split(","):
                if option in ("cpu", "cpuacct", "memory", "blkio", "pids", "cpuset"):
                    v1.setdefault(option, point)
    return Hierarchies(v1=v1, v2=v2)


def v1_usage(files: dict[str, str]) -> Usage:
    """A cgroup v1 container from its files' texts (missing files count as empty)."""
    stat = parse_keyed(files.get("cpuacct.stat", ""))
    cfs = parse_keyed(files.get("cpu.stat", ""))
    mem = parse_keyed(files.get("memory.stat", ""))
    usage = parse_int(files.get("memory.usage_in_bytes", ""))
    inactive = mem.get("total_inactive_file", 0)
    quota = parse_int(files.get("cpu.cfs_quota_us", ""))
    limit = parse_int(files.get("memory.limit_in_bytes", ""))
    return Usage(
        cpu=Cpu(usage_ns=parse_int(files.get("cpuacct.usage", "")),
                user_ns=stat.get("user", 0) * NS // USER_HZ,
                system_ns=stat.get("system", 0) * NS // USER_HZ,
                periods=cfs.get("nr_periods", 0), throttled_periods=cfs.get("nr_throttled", 0),
                throttled_ns=cfs.get("throttled_time", 0)),
        memory=Memory(usage=usage, working_set=usage - inactive if inactive < usage else 0,
                      rss=mem.get("total_rss", 0), cache=mem.get("total_cache", 0),
                      failcnt=parse_int(files.get("memory.failcnt", "")),
                      oom_kills=parse_keyed(files.get("memory.oom_control", "")).get(
                          "oom_kill", 0)),
        spec=Spec(cpu_quota=max(quota, 0),
                  cpu_period=parse_int(files.get("cpu.cfs_period_us", "")) or 100_000,
                  cpu_shares=parse_int(files.get("cpu.shares", "")) or 1024,
                  memory_limit=0 if limit > UNLIMITED else limit),
        io=parse_blkio(files.get("blkio.throttle.io_service_bytes", "")),
        processes=_count_lines(files.get("cgroup.procs", "")),
        threads=parse_int(files.get("pids.current", "")))


def v2_usage(files: dict[str, str]) -> Usage:
    """A cgroup v2 container from its files' texts (missing files count as empty)."""
    cpu = parse_keyed(files.get("cpu.stat", ""))
    mem = parse_keyed(files.get("memory.stat", ""))
    events = parse_keyed(files.get("memory.events", ""))
    usage = parse_int(files.get("memory.current", ""))
    inactive = mem.get("inactive_file", 0)
    quota, period = parse_cpu_max(files.get("cpu.max", ""))
    limit = parse_int(files.get("memory.max", ""))
    weight = parse_int(files.get("cpu.weight", ""))
    return Usage(
        cpu=Cpu(usage_ns=cpu.get("usage_usec", 0) * 1000, user_ns=cpu.get("user_usec", 0) * 1000,
                system_ns=cpu.get("system_usec", 0) * 1000, periods=cpu.get("nr_periods", 0),
                throttled_periods=cpu.get("nr_throttled", 0),
                throttled_ns=cpu.get("throttled_usec", 0) * 1000),
        memory=Memory(usage=usage, working_set=usage - inactive if inactive < usage else 0,
                      rss=mem.get("anon", 0), cache=mem.get("file", 0),
                      failcnt=events.get("max", 0), oom_kills=events.get("oom_kill", 0)),
        spec=Spec(cpu_quota=quota, cpu_period=period,
                  cpu_shares=weight_to_shares(weight) if weight else 1024,
                  memory_limit=0 if limit > UNLIMITED else limit),
        io=parse_io_stat(files.get("io.stat", "")),
        processes=_count_lines(files.get("cgroup.procs", "")),
        threads=parse_int(files.get("pids.current", "")))


def _count_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


# Which files each controller's directory holds for us (v1), and the v2 set.
V1_FILES = {
    "cpuacct": ("cpuacct.usage", "cpuacct.stat"),
    "cpu": ("cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"),
    "memory": ("memory.usage_in_bytes", "memory.stat", "memory.failcnt",
               "memory.limit_in_bytes", "memory.oom_control"),
    "blkio": ("blkio.throttle.io_service_bytes",),
    "pids": ("pids.current", "cgroup.procs"),
}
V2_FILES = ("cpu.stat", "cpu.max", "cpu.weight", "memory.current", "memory.stat",
            "memory.events", "memory.max", "io.stat", "pids.current", "cgroup.procs")


# ---- reading (the I/O) -------------------------------------------------------------------


def candidates(container_id: str) -> list[str]:
    """Docker's cgroup paths for a container: the cgroupfs driver's, then systemd's."""
    return [f"docker/{container_id}", f"system.slice/docker-{container_id}.scope"]


def _read(path: Path) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class CgroupReader:
    """Finds containers' cgroups under the mounted hierarchies and reads them."""

    def __init__(self, hierarchies: Hierarchies | None = None) -> None:
        if hierarchies is None:
            hierarchies = parse_mountinfo(_read(Path("/proc/self/mountinfo")))
        self.hierarchies = hierarchies
        self._found: dict[str, str] = {}  # container id -> cgroup path ("docker/<id>")

    @property
    def _reference(self) -> Path | None:
        """The hierarchy that says whether a cgroup exists (memory in v1)."""
        h = self.hierarchies
        return h.v2 if h.unified else h.v1.get("memory") or h.v1.get("cpuacct")

    def locate(self, container_id: str) -> str | None:
        """The container's cgroup path relative to each hierarchy's root, or None."""
        ref = self._reference
        if ref is None:
            return None
        known = self._found.get(container_id)
        if known is not None and (ref / known).is_dir():
            return known
        for rel in candidates(container_id):
            if (ref / rel).is_dir():
                self._found[container_id] = rel
                return rel
        # Any other parent (a cgroup-parent set on the engine): one level down.
        with contextlib.suppress(OSError):
            for parent in ref.iterdir():
                for name in (container_id, f"docker-{container_id}.scope"):
                    if (parent / name).is_dir():
                        rel = f"{parent.name}/{name}"
                        self._found[container_id] = rel
                        return rel
        return None

    def forget_except(self, keep: set[str]) -> None:
        for cid in set(self._found) - keep:
            del self._found[cid]

    def files(self, rel: str) -> dict[str, str]:
        """The texts of the files `v1_usage`/`v2_usage` read, for cgroup path `rel`."""
        h = self.hierarchies
        if h.unified:
            assert h.v2 is not None
            base = h.v2 / rel
            return {name: _read(base / name) for name in V2_FILES}
        out: dict[str, str] = {}
        for controller, names in V1_FILES.items():
            mount = h.v1.get(controller)
            if mount is None:
                continue
            for name in names:
                out[name] = _read(mount / rel / name)
        return out

    def usage(self, rel: str) -> Usage:
        files = self.files(rel)
        return v2_usage(files) if self.hierarchies.unified else v1_usage(files)

    def first_pid(self, rel: str) -> int:
        """A process of the cgroup (its network namespace is the container's)."""
        h = self.hierarchies
        mount = h.v2 if h.unified else h.v1.get("pids") or h.v1.get("memory")
        if mount is None:
            return 0
        for line in _read(mount / rel / "cgroup.procs").split():
            return parse_int(line)
        return 0

    def root_usage(self) -> Usage:
        """The whole machine's root cgroup (the node's figures in /metrics/resource)."""
        return self.usage("")
