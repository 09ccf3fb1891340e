"""`spec.behavior`: stabilization windows and scaling policies, as upstream's
normalizeDesiredReplicasWithBehaviors, pure over the recommendations and scale
events the controller keeps per HPA.

Defaults (autoscaling/v2): scale up without a window, by at most 4 pods or 100%
per 15 s (the larger); scale down with a 300 s window, by at most 100% per 15 s.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from jota.api.meta import Obj

DEFAULT_SCALE_UP: Obj = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
    {"type": "Pods", "value": 4, "periodSeconds": 15},
    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
DEFAULT_SCALE_DOWN: Obj = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                           "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


@dataclass
class Timestamped:
    value: int  # a recommendation, or a replica change
    at: float
    outdated: bool = False


@dataclass
class History:
    """What upstream's controller keeps in memory per HPA key."""

    recommendations: list[Timestamped] = field(default_factory=list)
    scale_up_events: list[Timestamped] = field(default_factory=list)
    scale_down_events: list[Timestamped] = field(default_factory=list)


@dataclass(frozen=True)
class Normalized:
    replicas: int
    stabilized: int
    able_reason: str
    able_message: str
    limited: bool
    limited_reason: str
    limited_message: str


def rules(behavior: Obj | None, direction: str) -> Obj:
    """The scaleUp/scaleDown rules with upstream's defaults filled in."""
    default = DEFAULT_SCALE_UP if direction == "scaleUp" else DEFAULT_SCALE_DOWN
    given = (behavior or {}).get(direction) or {}
    out = copy.deepcopy(default)
    for k in ("stabilizationWindowSeconds", "selectPolicy", "policies"):
        if given.get(k) is not None:
            out[k] = copy.deepcopy(given[k])
    return out


def _change_in_period(period: float, events: list[Timestamped], now: float) -> int:
    return sum(e.value for e in events if not e.outdated and e.at > now - period)


def scale_up_limit(current: int, events: list[Timestamped], r: Obj, now: float) -> int:
    if r.get("selectPolicy") == "Disabled":
        return current
    pick = min if r.get("selectPolicy") == "Min" else max
    result: int | None = None
    for p in r.get("policies") or []:
        start = current - _change_in_period(float(p["periodSeconds"]), events, now)
        proposed = (start + int(p["value"]) if p["type"] == "Pods"
                    else math.ceil(start * (1 + int(p["value"]) / 100)))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def scale_down_limit(current: int, events: list[Timestamped], r: Obj, now: float) -> int:
    if r.get("selectPolicy") == "Disabled":
        return current
    pick = max if r.get("selectPolicy") == "Min" else min
    result: int | None = None
    for p in r.get("policies") or []:
        start = current + _change_in_period(float(p["periodSeconds"]), events, now)
        proposed = (start - int(p["value"]) if p["type"] == "Pods"
                    else int(start * (1 - int(p["value"]) / 100)))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _stabilize(history: History, up: Obj, down: Obj, current: int, desired: int, now: float
               ) -> tuple[int, str, str]:
    if desired >= current:
        window = float(up["stabilizationWindowSeconds"])
        better: Any = min
        reason = "ScaleUpStabilized"
        message = ("recent recommendations were lower than current one, applying the lowest "
                   "recent recommendation")
    else:
        window = float(down["stabilizationWindowSeconds"])
        better = max
        reason = "ScaleDownStabilized"
        message = ("recent recommendations were higher than current one, applying the "
                   "highest recent recommendation")
    longest = max(float(up["stabilizationWindowSeconds"]),
                  float(down["stabilizationWindowSeconds"]))
    recommendation = desired
    old: int | None = None
    for i, rec in enumerate(history.recommendations):
        if rec.at > now - window:
            recommendation = better(rec.value, recommendation)
        if rec.at < now - longest:
            old = i
    if old is not None:
        history.recommendations[old] = Timestamped(desired, now)
    else:
        history.recommendations.append(Timestamped(desired, now))
    return recommendation, reason, message


def normalize(history: History, behavior: Obj | None, *, current: int, desired: int,
              min_replicas: int, max_replicas: int, now: float) -> Normalized:
    """The replica count to scale to, and the AbleToScale/ScalingLimited verdicts."""
    up, down = rules(behavior, "scaleUp"), rules(behavior, "scaleDown")
    stabilized, reason, message = _stabilize(history, up, down, current, desired, now)
    if stabilized == desired:
        reason, message = "ReadyForNewScale", "recommended size matches current size"
    replicas, lreason, lmessage = stabilized, "DesiredWithinRange", \
        "the desired count is within the acceptable range"
    if stabilized > current:
        limit = max(scale_up_limit(current, history.scale_up_events, up, now), current)
        if max_replicas > limit:
            allowed, why, text = limit, "ScaleUpLimit", \
                "the desired replica count is increasing faster than the maximum scale rate"
        else:
            allowed, why, text = max_replicas, "TooManyReplicas", \
                "the desired replica count is more than the maximum replica count"
        if stabilized > allowed:
            replicas, lreason, lmessage = allowed, why, text
    elif stabilized < current:
        limit = min(scale_down_limit(current, history.scale_down_events, down, now), current)
        if min_replicas < limit:
            allowed, why, text = limit, "ScaleDownLimit", \
                "the desired replica count is decreasing faster than the maximum scale rate"
        else:
            allowed, why, text = min_replicas, "TooFewReplicas", \
                "the desired replica count is less than the minimum replica count"
        if stabilized < allowed:
            replicas, lreason, lmessage = allowed, why, text
    return Normalized(replicas, stabilized, reason, message, replicas != stabilized,
                      lreason, lmessage)


def record_scale(history: History, behavior: Obj | None, previous: int, new: int, now: float
                 ) -> None:
    """storeScaleEvent: remember a change so the policies' periods can count it."""
    direction = "scaleUp" if new > previous else "scaleDown"
    r = rules(behavior, direction)
    longest = max((float(p["periodSeconds"]) for p in r.get("policies") or []), default=0.0)
    events = history.scale_up_events if new > previous else history.scale_down_events
    for e in events:
        if e.at < now - longest:
            e.outdated = True
    change = Timestamped(abs(new - previous), now)
    for i, e in enumerate(events):
        if e.outdated:
            events[i] = change
            return
    events.append(change)
