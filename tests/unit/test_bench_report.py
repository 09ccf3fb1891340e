"""BENCHMARKS.md after `python -m bench --only NAME`: that benchmark's section is new, and
every other figure is still there (a partial run once wrote a file holding only its own)."""

from __future__ import annotations

from pathlib import Path

from bench import Section, Table, Verdict
from bench.__main__ import merge, render

REPORT = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"


def section(title: str, figure: str, aim: str = "", met: bool = True) -> Section:
    table = Table("Timing", ["Part", "Seconds"], [["start", figure]])
    return Section(title, f"The {title} benchmark.", [table],
                   [Verdict(aim, met, f"figure {figure}")] if aim else [])


def report() -> str:
    return render([section("API", "1.0", "creates are fast"),
                   section("A local cluster", "16.3", "starts quickly", met=False)],
                  "make bench", 60, False, (0.1, 0.1, 0.1))


def test_the_run_section_replaces_its_namesake_and_the_rest_stays() -> None:
    merged = merge(report(), [section("A local cluster", "5.9", "starts quickly")],
                   "This section comes from its own run.")
    assert "| start | 5.9 |" in merged and "16.3" not in merged
    assert "The A local cluster benchmark. This section comes from its own run." in merged
    assert "## API" in merged and "| start | 1.0 |" in merged  # the other's figures stay
    assert "## Machine" in merged and "Command: `make bench`" in merged
    verdicts = merged.split("## Verdict against the aims")[1]
    assert "- **Met**: creates are fast. figure 1.0" in verdicts
    assert "- **Met**: starts quickly. figure 5.9" in verdicts
    assert "Not met" not in verdicts
    assert merged.index("## A local cluster") < merged.index("## Verdict against the aims")


def test_a_section_new_to_the_report_goes_before_the_verdicts() -> None:
    merged = merge(report(), [section("DNS", "0.2", "answers quickly")], "")
    assert merged.index("## A local cluster") < merged.index("## DNS") < \
        merged.index("## Verdict against the aims")
    assert merged.rstrip().endswith("- **Met**: answers quickly. figure 0.2")


def test_merging_nothing_changes_nothing() -> None:
    assert merge(report(), [], "") == report()
    text = REPORT.read_text()
    assert merge(text, [], "") == text
