"""`python -m bench` (`make bench`): run every benchmark, then write BENCHMARKS.md.

The file records the exact command and the machine, because a benchmark figure
is only worth what its conditions are worth.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench import Section, Table
from bench import api as api_bench
from bench import deploy as deploy_bench
from bench import dns as dns_bench
from bench import local_cluster as cluster_bench
from bench import metrics as metrics_bench
from bench import network as network_bench
from bench import node as node_bench
from bench import proxy as proxy_bench
from bench import scheduler as scheduler_bench

BENCHMARKS: dict[str, Callable[[bool], Coroutine[Any, Any, Section]]] = {
    "api": api_bench.run, "scheduler": scheduler_bench.run, "node": node_bench.run,
    "proxy": proxy_bench.run, "metrics": metrics_bench.run, "deploy": deploy_bench.run,
    "dns": dns_bench.run, "network": network_bench.run, "cluster": cluster_bench.run}
REPO = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench",
                                description="Run Jota's benchmarks and write BENCHMARKS.md.")
    p.add_argument("--only", choices=sorted(BENCHMARKS), action="append",
                   help="run only this benchmark (repeatable)")
    p.add_argument("--quick", action="store_true",
                   help="fewer samples: a smoke run in under a minute")
    p.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md",
                   help="where to write the report (default: BENCHMARKS.md at the repo root)")
    return p


def command_line(argv: list[str]) -> str:
    """What a reader types to reproduce the figures."""
    if os.environ.get("MAKELEVEL") and not argv:
        return "make bench"
    return " ".join([".venv/bin/python -m bench", *argv])


def _meminfo_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _etcd_version() -> str:
    etcd = shutil.which("etcd")
    if etcd is None:
        return "not installed"
    out = subprocess.run([etcd, "--version"], capture_output=True, text=True, timeout=30)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].replace("etcd Version:", "").strip() if first else "unknown"


def machine(load: tuple[float, float, float]) -> list[tuple[str, str]]:
    return [
        ("CPU cores (nproc)", str(os.cpu_count())),
        ("CPU", _cpu_model()),
        ("Memory", _meminfo_gib()),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", platform.python_version()),
        ("etcd", _etcd_version()),
        ("Load average when the run began (1, 5, 15 min)", ", ".join(f"{x:.2f}" for x in load)),
    ]


def render_table(table: Table) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [f"### {table.title}", "", line(table.headers),
           line(["---"] * len(table.headers))]
    out += [line(row) for row in table.rows]
    out += [""] + [f"{note}\n" for note in table.notes]
    return out


def render(sections: list[Section], command: str, seconds: float, quick: bool,
           load: tuple[float, float, float]) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Jota benchmarks", "",
        "Each figure is measured against a baseline in the same run on the same machine: "
        "the ratio is the figure to read, not the absolute numbers. Regenerate this file "
        "with the command below.", "",
        f"Command: `{command}`"
        + (" (what `make bench` runs, after `make deps`)" if command.endswith("bench") else "")
        + f". Run {when}; took {seconds:.0f} s"
        + (" (quick mode: fewer samples, rough figures)." if quick else "."), "",
        "## Machine", "",
    ]
    out += [f"- {name}: {value}" for name, value in machine(load)]
    for section in sections:
        out += ["", f"## {section.title}", "", section.intro, ""]
        for table in section.tables:
            out += render_table(table)
    verdicts = [v for s in sections for v in s.verdicts]
    if verdicts:
        out += ["## Verdict against the aims", ""]
        for v in verdicts:
            out.append(f"- **{'Met' if v.met else 'Not met'}**: {v.aim}. {v.detail}")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    names = args.only or list(BENCHMARKS)
    start = time.monotonic()
    load = os.getloadavg()
    sections: list[Section] = []
    for name in names:
        print(f"running the {name} benchmark{' (quick)' if args.quick else ''}...",
              file=sys.stderr, flush=True)
        sections.append(asyncio.run(BENCHMARKS[name](args.quick)))
    text = render(sections, command_line(argv), time.monotonic() - start, args.quick, load)
    args.output.write_text(text)
    print(text)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
