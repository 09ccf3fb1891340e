"""HPA `behavior`: stabilization windows and scaling policies with upstream's defaults
(scale up 4 pods or 100% per 15 s; scale down after a 300 s window)."""

from __future__ import annotations

from controlplane.controllers.podautoscaler.behavior import History, normalize, record_scale


def test_default_scale_up_is_limited_to_four_pods_or_double() -> None:
    n = normalize(History(), None, current=1, desired=10, min_replicas=1, max_replicas=20,
                  now=1000.0)
    assert (n.replicas, n.limited, n.limited_reason) == (5, True, "ScaleUpLimit")
    n = normalize(History(), None, current=6, desired=30, min_replicas=1, max_replicas=20,
                  now=1000.0)
    assert n.replicas == 12


def test_scale_up_counts_changes_made_within_the_period() -> None:
    h = History()
    n = normalize(h, None, current=1, desired=10, min_replicas=1, max_replicas=20, now=1000.0)
    record_scale(h, None, 1, n.replicas, 1000.0)
    # 5 s later the period still holds the +4: the limit is computed from 1 replica.
    n = normalize(h, None, current=5, desired=20, min_replicas=1, max_replicas=20, now=1005.0)
    assert (n.replicas, n.limited_reason) == (5, "ScaleUpLimit")
    # After the 15 s period, it may double again.
    n = normalize(h, None, current=5, desired=20, min_replicas=1, max_replicas=20, now=1016.0)
    assert n.replicas == 10


def test_max_replicas_caps_the_scale_up() -> None:
    n = normalize(History(), None, current=4, desired=20, min_replicas=1, max_replicas=6,
                  now=0.0)
    assert (n.replicas, n.limited, n.limited_reason) == (6, True, "TooManyReplicas")
    assert n.limited_message == "the desired replica count is more than the maximum replica count"


def test_scale_down_waits_for_the_stabilization_window() -> None:
    h = History()
    normalize(h, None, current=5, desired=5, min_replicas=1, max_replicas=10, now=1000.0)
    n = normalize(h, None, current=5, desired=2, min_replicas=1, max_replicas=10, now=1100.0)
    assert (n.replicas, n.able_reason) == (5, "ScaleDownStabilized")
    n = normalize(h, None, current=5, desired=2, min_replicas=1, max_replicas=10, now=1301.0)
    assert (n.replicas, n.able_reason, n.limited) == (2, "ReadyForNewScale", False)
    assert n.limited_reason == "DesiredWithinRange"


def test_short_windows_and_pod_policies_from_the_spec() -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 10,
                              "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    h = History()
    normalize(h, behavior, current=4, desired=4, min_replicas=1, max_replicas=10, now=0.0)
    n = normalize(h, behavior, current=4, desired=1, min_replicas=1, max_replicas=10, now=11.0)
    assert (n.replicas, n.limited_reason) == (3, "ScaleDownLimit")
    record_scale(h, behavior, 4, 3, 11.0)
    n = normalize(h, behavior, current=3, desired=1, min_replicas=1, max_replicas=10, now=30.0)
    assert n.replicas == 3  # one pod per minute already used


def test_min_replicas_and_disabled_policies() -> None:
    n = normalize(History(), {"scaleDown": {"stabilizationWindowSeconds": 0}}, current=3,
                  desired=0, min_replicas=2, max_replicas=5, now=0.0)
    assert (n.replicas, n.limited_reason) == (2, "TooFewReplicas")
    n = normalize(History(), {"scaleUp": {"selectPolicy": "Disabled"}}, current=3, desired=5,
                  min_replicas=1, max_replicas=5, now=0.0)
    assert n.replicas == 3


def test_describe_hpa_in_kubectls_layout() -> None:
    from datetime import UTC, datetime

    from jota.cli.printers.describe_hpa import describe_hpa

    hpa = {"metadata": {"name": "web", "namespace": "default",
                        "creationTimestamp": "2026-11-24T12:00:00Z"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                    "minReplicas": 1, "maxReplicas": 5,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 50}}}]},
           "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
               {"type": "Resource", "resource": {"name": "cpu", "current": {
                   "averageUtilization": 73, "averageValue": "73m"}}}],
               "conditions": [{"type": "AbleToScale", "status": "True",
                               "reason": "SucceededRescale",
                               "message": "the HPA controller was able to update the target "
                                          "scale to 3"}]}}
    text = describe_hpa(hpa, [], datetime(2026, 11, 24, 12, 5, tzinfo=UTC))
    lines = text.splitlines()
    assert lines[5].startswith("Reference:") and lines[5].endswith("Deployment/web")
    assert lines[7] == ("  resource cpu on pods  (as a percentage of request):  73% (73m) / "
                        "50%")
    assert "Deployment pods:                                       2 current / 3 desired" in text
    assert lines[-1] == "Events:       <none>" or lines[-1].startswith("Events:")
