"""What cgroups do not hold: a pod's network counters, the machine's memory, disk names.

A pod's containers share its sandbox's network namespace, so its interfaces'
counters are read once per pod from `/proc/<pid>/net/dev` of a process in the
sandbox, as cAdvisor reads them for the container that owns the namespace.
Loopback is left out, as cAdvisor leaves it out. Parsers are pure; the readers
return empty results for processes that have gone.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Interface:
    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


IGNORED_INTERFACES = ("lo",)


def parse_net_dev(text: str) -> dict[str, Interface]:
    """/proc/<pid>/net/dev -> counters per interface (loopback left out)."""
    out: dict[str, Interface] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        name = name.strip()
        values = rest.split()
        if not sep or len(values) < 16 or name in IGNORED_INTERFACES:
            continue
        n = [int(v) for v in values]
        out[name] = Interface(rx_bytes=n[0], rx_packets=n[1], rx_errors=n[2], rx_dropped=n[3],
                              tx_bytes=n[8], tx_packets=n[9], tx_errors=n[10], tx_dropped=n[11])
    return out


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo -> bytes per field ("MemTotal", "Inactive(file)", ...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def network(pid: int) -> dict[str, Interface]:
    """The interfaces of `pid`'s network namespace; empty for the host's own namespace
    (a hostNetwork pod has no counters of its own, as in cAdvisor) or a gone process."""
    if pid <= 0:
        return {}
    try:
        if os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            return {}
        return parse_net_dev(Path(f"/proc/{pid}/net/dev").read_text())
    except OSError:
        return {}


def meminfo() -> dict[str, int]:
    try:
        return parse_meminfo(Path("/proc/meminfo").read_text())
    except OSError:
        return {}


_device_names: dict[str, str] = {}


def device_name(dev: str) -> str:
    """"254:0" -> "/dev/vda" (cAdvisor's `device` label); the numbers if unknown."""
    name = _device_names.get(dev)
    if name is None:
        name = dev
        with contextlib.suppress(OSError):
            for line in Path(f"/sys/dev/block/{dev}/uevent").read_text().splitlines():
                if line.startswith("DEVNAME="):
                    name = "/dev/" + line.partition("=")[2]
        _device_names[dev] = name
    return name
