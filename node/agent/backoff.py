"""CrashLoopBackOff: how long a failed container waits before its next start.

Kubelet keeps an in-memory `flowcontrol.Backoff` per container (initial 10 s,
max 300 s) and, on each restart decision, asks `IsInBackOffSince(finishedAt)`
then calls `Next`. Its observable rule, which this module reproduces:

- the first restart of a container is immediate (there is no backoff entry yet);
  `Next` then opens a 10 s window;
- each later restart waits the current window after the last exit, and the
  window doubles (10, 20, 40, 80, 160, 300, 300...);
- the entry is dropped (`hasExpired`: the exit came more than 2 x max = 600 s
  after the last restart) when the container ran longer than 10 minutes: the
  restart is immediate again and the next window is 10 s.

Jota's pod worker is pure and the runtime is the only record, so the window is
derived from the containers themselves instead of remembered: the gap between
the previous attempt's exit and the last attempt's start is the window that was
applied last time (rounded down to a rung of the ladder, with a second of
slack for clock jitter), and the next window is its double. The pod worker keeps
the two newest containers of each name for this. When the previous attempt is
gone (removed by hand, a runtime reset) the window falls back to the ladder by
restart count, which is kubelet's answer for a container that never ran long.
"""

from __future__ import annotations

INITIAL = 10.0
MAX = 300.0
# Kubelet's hasExpired: an exit more than 2 x maxDuration after the last restart resets.
RESET_AFTER = 2 * MAX
# Slack when reading back a window from runtime timestamps (start latency, clock jitter).
TOLERANCE = 1.0

LADDER: tuple[float, ...] = (0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0)


def ladder(restarts: int) -> float:
    """The window before restart number `restarts + 1` of a container that never ran long:
    0 for the first restart, then 10 s doubling to 300 s."""
    if restarts <= 0:
        return 0.0
    return min(INITIAL * float(2 ** min(restarts - 1, 16)), MAX)


def applied_window(gap: float) -> float:
    """The rung of the ladder a restart that came `gap` seconds after the exit waited for."""
    best = 0.0
    for rung in LADDER:
        if rung <= gap + TOLERANCE:
            best = rung
    return best


def window(restarts: int, started_at: float, finished_at: float,
           previous_finished_at: float | None) -> float:
    """Seconds to wait after `finished_at` before starting the container again.

    `restarts` is the attempt number of the container that just exited (0 for the
    first run); `started_at`/`finished_at` are its run; `previous_finished_at` is when
    the attempt before it exited, if that container is still known.
    """
    if restarts <= 0:
        return 0.0
    if finished_at - started_at > RESET_AFTER:
        return 0.0
    if previous_finished_at is None or previous_finished_at <= 0 or started_at <= 0:
        return ladder(restarts)
    last = applied_window(started_at - previous_finished_at)
    return INITIAL if last == 0 else min(last * 2, MAX)


def remaining(window_s: float, finished_at: float, now: float) -> float:
    """Seconds left in the window (<= 0: the container may start now)."""
    return finished_at + window_s - now


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it (`10s`, `1m20s`, `5m0s`), as kubelet's
    CrashLoopBackOff message shows it."""
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s"


def message(window_s: float, container: str, pod_name: str, namespace: str, uid: str) -> str:
    """Kubelet's waiting message for a container in CrashLoopBackOff."""
    return (f"back-off {go_duration(window_s)} restarting failed container={container} "
            f"pod={pod_name}_{namespace}({uid})")
