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

from bench import Section, Table, Verdict
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
                   help="run only this benchmark (repeatable); its section replaces its "
                        "namesake in --output, the others stay")
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


def render_section(section: Section, provenance: str = "") -> list[str]:
    intro = f"{section.intro} {provenance}".strip()
    out = [f"## {section.title}", "", intro, ""]
    for table in section.tables:
        out += render_table(table)
    return out


def render_verdict(v: Verdict) -> str:
    return f"- **{'Met' if v.met else 'Not met'}**: {v.aim}. {v.detail}"


VERDICTS = "Verdict against the aims"


def render(sections: list[Section], command: str, seconds: float, quick: bool,
           load: tuple[float, float, float]) -> str:
    out = [
        "# Jota benchmarks", "",
        "Each figure is measured against a baseline in the same run on the same machine: "
        "the ratio is the figure to read, not the absolute numbers. Regenerate this file "
        "with the command below.", "",
        f"Command: `{command}`"
        + (" (what `make bench` runs, after `make deps`)" if command.endswith("bench") else "")
        + f". Run {_now()}; took {seconds:.0f} s"
        + (" (quick mode: fewer samples, rough figures)." if quick else "."), "",
        "## Machine", "",
    ]
    out += [f"- {name}: {value}" for name, value in machine(load)]
    for section in sections:
        out += ["", *render_section(section)]
    verdicts = [v for s in sections for v in s.verdicts]
    if verdicts:
        out += [f"## {VERDICTS}", ""]
        out += [render_verdict(v) for v in verdicts]
    return "\n".join(out).rstrip() + "\n"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _chunks(text: str) -> list[tuple[str, list[str]]]:
    """The report cut at its `## ` headings: (title, lines); the part before the first
    heading has the title ""."""
    chunks: list[tuple[str, list[str]]] = [("", [])]
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("## "):
            chunks.append((line[3:].strip(), []))
        chunks[-1][1].append(line)
    return chunks


def merge(report: str, sections: list[Section], provenance: str) -> str:
    """What `--only` writes: the sections run now replace their namesakes in the report
    (each saying which run it comes from, since the file's header names another), and
    their verdicts replace those of the same aim; everything else stays as measured, so
    re-running one benchmark never drops the others' figures."""
    chunks = _chunks(report)
    titles = [title for title, _ in chunks]
    for section in sections:
        lines = [*render_section(section, provenance), ""]
        if section.title in titles:
            chunks[titles.index(section.title)] = (section.title, lines)
        else:
            at = titles.index(VERDICTS) if VERDICTS in titles else len(chunks)
            chunks.insert(at, (section.title, lines))
            titles.insert(at, section.title)
    verdicts = [v for s in sections for v in s.verdicts]
    if verdicts:
        if VERDICTS not in titles:
            chunks.append((VERDICTS, [f"## {VERDICTS}", ""]))
        i = [title for title, _ in chunks].index(VERDICTS)
        lines = chunks[i][1]
        for v in verdicts:
            marker = f"**: {v.aim}. "
            found = [k for k, line in enumerate(lines) if marker in line]
            if found:
                lines[found[0]] = render_verdict(v)
            else:
                lines.append(render_verdict(v))
    out = [line for _, lines in chunks for line in lines]
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
    seconds = time.monotonic() - start
    if args.only and args.output.exists():
        provenance = (f"This section comes from its own run, `{command_line(argv)}` "
                      f"({_now()}, {seconds:.0f} s, load average {load[0]:.2f} at the "
                      f"start); the next `make bench` writes it with the rest.")
        text = merge(args.output.read_text(), sections, provenance)
    else:
        text = render(sections, command_line(argv), seconds, args.quick, load)
    args.output.write_text(text)
    print(text)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
