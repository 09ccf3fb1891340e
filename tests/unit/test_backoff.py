"""CrashLoopBackOff windows, as kubelet's flowcontrol.Backoff shows them to a user."""

from __future__ import annotations

import pytest

from node.agent import backoff

T = 1_800_000_000.0


@pytest.mark.parametrize(("restarts", "expected"), [
    (0, 0.0), (1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (5, 160.0), (6, 300.0), (7, 300.0),
    (60, 300.0),
])
def test_ladder_by_restart_count(restarts: int, expected: float) -> None:
    assert backoff.ladder(restarts) == expected


@pytest.mark.parametrize(("gap", "applied"), [
    (0.3, 0.0), (9.4, 10.0), (10.6, 10.0), (19.9, 20.0), (25.0, 20.0), (41.0, 40.0),
    (170.0, 160.0), (301.0, 300.0), (5000.0, 300.0),
])
def test_applied_window_read_back_from_the_gap(gap: float, applied: float) -> None:
    assert backoff.applied_window(gap) == applied


@pytest.mark.parametrize(("case", "restarts", "ran", "previous_gap", "expected"), [
    ("first failure restarts at once", 0, 1.0, None, 0.0),
    ("second failure waits 10s", 1, 1.0, 0.4, 10.0),
    ("then 20s", 2, 1.0, 10.3, 20.0),
    ("then 40s", 3, 1.0, 20.5, 40.0),
    ("then 80s", 4, 1.0, 40.2, 80.0),
    ("capped at 5 minutes", 7, 1.0, 300.4, 300.0),
    ("160 doubles to the cap", 6, 1.0, 160.4, 300.0),
    ("a run over 10 minutes resets: immediate", 5, 601.0, 80.0, 0.0),
    ("after a reset the next window is 10s", 6, 2.0, 0.5, 10.0),
    ("previous attempt gone: the ladder by count", 3, 1.0, None, 40.0),
])
def test_window(case: str, restarts: int, ran: float, previous_gap: float | None,
                expected: float) -> None:
    started = T
    previous = None if previous_gap is None else started - previous_gap
    assert backoff.window(restarts, started, started + ran, previous) == expected, case


@pytest.mark.parametrize(("seconds", "text"), [
    (10, "10s"), (20, "20s"), (40, "40s"), (80, "1m20s"), (160, "2m40s"), (300, "5m0s"),
    (3725, "1h2m5s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert backoff.go_duration(seconds) == text


def test_message_in_kubelets_words() -> None:
    assert backoff.message(20, "app", "web", "default", "u-1") == (
        "back-off 20s restarting failed container=app pod=web_default(u-1)")


def test_remaining() -> None:
    assert backoff.remaining(10, T, T + 4) == 6
    assert backoff.remaining(10, T, T + 11) == -1
