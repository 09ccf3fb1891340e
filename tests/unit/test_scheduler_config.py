"""The KubeSchedulerConfiguration file: plugins on and off, weights, scoring strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane.scheduler.config import (
    FILTERS,
    SCORE_WEIGHTS,
    ConfigError,
    load_config,
    parse_config,
)
from controlplane.scheduler.main import build_parser


def _doc(plugins: Any = None, plugin_config: Any = None, **top: Any) -> dict[str, Any]:
    prof: dict[str, Any] = {"schedulerName": "default-scheduler"}
    if plugins is not None:
        prof["plugins"] = plugins
    if plugin_config is not None:
        prof["pluginConfig"] = plugin_config
    return {"apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration", "profiles": [prof], **top}


def test_defaults_are_kubernetes_defaults() -> None:
    cfg = load_config(None)
    prof = cfg.profiles[0]
    assert prof.scheduler_name == "default-scheduler"
    assert prof.filters == FILTERS
    assert prof.scores == {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
                           "PodTopologySpread": 2, "InterPodAffinity": 2,
                           "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
    assert prof.fit_strategy == "LeastAllocated"
    assert prof.post_filters == ["DefaultPreemption"]
    assert (cfg.pod_initial_backoff_seconds, cfg.pod_max_backoff_seconds) == (1.0, 10.0)


def test_most_allocated_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "sched.yaml"
    path.write_text("""
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    score:
      enabled:
      - {name: NodeResourcesFit, weight: 5}
      disabled:
      - {name: ImageLocality}
      - {name: PodTopologySpread}
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 2}, {name: memory, weight: 1}]
""")
    prof = load_config(path).profiles[0]
    assert prof.fit_strategy == "MostAllocated"
    assert prof.fit_resources == [("cpu", 2), ("memory", 1)]
    assert prof.scores["NodeResourcesFit"] == 5
    assert "ImageLocality" not in prof.scores and "PodTopologySpread" not in prof.scores
    assert prof.filters == FILTERS  # disabling a score leaves the filter


@pytest.mark.parametrize(("plugins", "filters", "scores", "post"), [
    ({"multiPoint": {"disabled": [{"name": "*"}]}}, [], [], []),
    ({"multiPoint": {"disabled": [{"name": "*"}],
                     "enabled": [{"name": "NodeResourcesFit"}]}},
     ["NodeResourcesFit"], ["NodeResourcesFit"], []),
    ({"filter": {"disabled": [{"name": "TaintToleration"}]}},
     [f for f in FILTERS if f != "TaintToleration"], list(SCORE_WEIGHTS), ["DefaultPreemption"]),
    ({"postFilter": {"disabled": [{"name": "DefaultPreemption"}]}}, FILTERS,
     list(SCORE_WEIGHTS), []),
])
def test_enable_and_disable(plugins: dict[str, Any], filters: list[str], scores: list[str],
                            post: list[str]) -> None:
    prof = parse_config(_doc(plugins)).profiles[0]
    assert (prof.filters, list(prof.scores), prof.post_filters) == (filters, scores, post)


@pytest.mark.parametrize(("doc", "message"), [
    (_doc({"score": {"enabled": [{"name": "Nope"}]}}),
     'profiles[0].plugins.score.enabled[0].name: Invalid value: "Nope": '
     'plugin "Nope" does not exist'),
    (_doc({"score": {"enabled": [{"name": "ImageLocality", "weight": 0}]}}),
     "profiles[0].plugins.score.enabled[0].weight: Invalid value: 0: "
     "must be in the range [1, 100]"),
    (_doc(None, [{"name": "NodeResourcesFit",
                  "args": {"scoringStrategy": {"type": "Random"}}}]),
     'profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "Random": '
     'supported values: "LeastAllocated", "MostAllocated"'),
    (_doc(percentageOfNodesToScore=150),
     "percentageOfNodesToScore: Invalid value: 150: not in valid range [0-100]"),
    ({"kind": "Pod", "apiVersion": "v1"}, 'no kind "Pod" is registered for version "v1"'),
])
def test_bad_config_says_where(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    assert str(e.value) == message


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"failed to read config file '/nope\.yaml'"):
        load_config("/nope.yaml")


def test_command_line() -> None:
    args = build_parser().parse_args(["--apiserver", "h:1", "--config", "c.yaml",
                                      "--leader-elect=false"])
    assert (args.apiserver, args.config, args.leader_elect) == ("h:1", "c.yaml", "false")
