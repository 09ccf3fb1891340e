"""The scheduler's config file: a KubeSchedulerConfiguration, read as kube-scheduler does.

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    profiles:
    - schedulerName: default-scheduler
      plugins:
        score:
          enabled: [{name: NodeResourcesFit, weight: 5}]
          disabled: [{name: ImageLocality}]
      pluginConfig:
      - name: NodeResourcesFit
        args: {scoringStrategy: {type: MostAllocated}}

Without a file, or for what it leaves out, Kubernetes' defaults apply: the default
plugins in their default order and weights, LeastAllocated scoring, system default
spreading, percentageOfNodesToScore adaptive, backoff 1 s to 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"

FILTERS = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
           "NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity"]
POST_FILTERS = ["DefaultPreemption"]
SCORE_WEIGHTS = {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
                 "PodTopologySpread": 2, "InterPodAffinity": 2,
                 "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
ALL_PLUGINS = ["PrioritySort", "DefaultBinder", "SchedulingGates", *FILTERS, *POST_FILTERS,
               *SCORE_WEIGHTS]
_FILTER_POINTS = ("preFilter", "filter")
_SCORE_POINTS = ("preScore", "score")
_IGNORED_POINTS = ("queueSort", "preEnqueue", "reserve", "permit", "preBind", "bind",
                   "postBind")
STRATEGIES = ("LeastAllocated", "MostAllocated")


class ConfigError(ValueError):
    """The config file is wrong; the message says where."""


@dataclass
class Profile:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    filters: list[str] = field(default_factory=lambda: list(FILTERS))
    post_filters: list[str] = field(default_factory=lambda: list(POST_FILTERS))
    scores: dict[str, int] = field(default_factory=lambda: dict(SCORE_WEIGHTS))
    fit_strategy: str = "LeastAllocated"
    fit_resources: list[tuple[str, int]] = field(
        default_factory=lambda: [("cpu", 1), ("memory", 1)])
    balanced_resources: list[tuple[str, int]] = field(
        default_factory=lambda: [("cpu", 1), ("memory", 1)])
    system_default_spreading: bool = True


@dataclass
class SchedulerConfig:
    profiles: list[Profile] = field(default_factory=lambda: [Profile()])
    percentage_of_nodes_to_score: int = 0
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0


def load_config(path: str | Path | None) -> SchedulerConfig:
    if not path:
        return SchedulerConfig()
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"failed to read config file {str(path)!r}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"failed to parse config file {str(path)!r}: {e}") from None
    return parse_config(doc or {})


def _names(entries: Any, where: str) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    for i, e in enumerate(entries or []):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise ConfigError(f"{where}[{i}].name: Required value")
        name, weight = e["name"], e.get("weight")
        if name != "*" and name not in ALL_PLUGINS:
            raise ConfigError(f'{where}[{i}].name: Invalid value: "{name}": '
                              f'plugin "{name}" does not exist')
        if weight is not None and (not isinstance(weight, int) or weight <= 0
                                   or weight > 100):
            raise ConfigError(f"{where}[{i}].weight: Invalid value: {weight!r}: "
                              f"must be in the range [1, 100]")
        out.append((name, weight))
    return out


def _point(plugins: dict[str, Any], point: str, where: str
           ) -> tuple[list[tuple[str, int | None]], set[str]]:
    cfg = plugins.get(point) or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}.{point}: Invalid value: must be an object")
    enabled = _names(cfg.get("enabled"), f"{where}.{point}.enabled")
    disabled = {n for n, _ in _names(cfg.get("disabled"), f"{where}.{point}.disabled")}
    return enabled, disabled


def _resolve(defaults: list[str], disabled: set[str], enabled: list[str],
             eligible: list[str]) -> list[str]:
    base = [] if "*" in disabled else [d for d in defaults if d not in disabled]
    for name in enabled:
        if name in eligible and name not in base:
            base.append(name)
    return base


def _plugins(profile: Profile, plugins: Any, where: str) -> None:
    if plugins is None:
        return
    if not isinstance(plugins, dict):
        raise ConfigError(f"{where}: Invalid value: must be an object")
    for point in plugins:
        known = ("multiPoint", *_FILTER_POINTS, "postFilter", *_SCORE_POINTS,
                 *_IGNORED_POINTS)
        if point not in known:
            raise ConfigError(f'{where}: unknown field "{point}"')
    multi_en, multi_dis = _point(plugins, "multiPoint", where)
    f_en, f_dis = list(multi_en), set(multi_dis)
    for p in _FILTER_POINTS:
        en, dis = _point(plugins, p, where)
        f_en += en
        f_dis |= dis
    profile.filters = _resolve(FILTERS, f_dis, [n for n, _ in f_en], FILTERS)
    pf_en, pf_dis = _point(plugins, "postFilter", where)
    profile.post_filters = _resolve(POST_FILTERS, pf_dis | multi_dis,
                                    [n for n, _ in multi_en + pf_en], POST_FILTERS)
    s_en, s_dis = list(multi_en), set(multi_dis)
    for p in _SCORE_POINTS:
        en, dis = _point(plugins, p, where)
        s_en += en
        s_dis |= dis
    names = _resolve(list(SCORE_WEIGHTS), s_dis, [n for n, _ in s_en], list(SCORE_WEIGHTS))
    weights = {n: SCORE_WEIGHTS[n] for n in names}
    for n, w in s_en:  # later (score-specific) entries override multiPoint weights
        if w is not None and n in weights:
            weights[n] = w
    profile.scores = weights


def _resources(args: dict[str, Any], where: str) -> list[tuple[str, int]] | None:
    res = args.get("resources")
    if res is None:
        return None
    out = []
    for i, r in enumerate(res):
        if not isinstance(r, dict) or not r.get("name"):
            raise ConfigError(f"{where}.resources[{i}].name: Required value")
        weight = r.get("weight", 1)
        if not isinstance(weight, int) or not 1 <= weight <= 100:
            raise ConfigError(f"{where}.resources[{i}].weight: Invalid value: {weight!r}: "
                              f"resource weight of {r['name']} should be in range [1, 100]")
        out.append((str(r["name"]), weight))
    return out


def _plugin_config(profile: Profile, entries: Any, where: str) -> None:
    for i, pc in enumerate(entries or []):
        at = f"{where}[{i}]"
        if not isinstance(pc, dict) or not isinstance(pc.get("name"), str):
            raise ConfigError(f"{at}.name: Required value")
        args = pc.get("args") or {}
        if pc["name"] == "NodeResourcesFit":
            strategy = args.get("scoringStrategy") or {}
            kind = strategy.get("type", "LeastAllocated")
            if kind not in STRATEGIES:
                raise ConfigError(f'{at}.args.scoringStrategy.type: Unsupported value: '
                                  f'"{kind}": supported values: "LeastAllocated", '
                                  f'"MostAllocated"')
            profile.fit_strategy = kind
            res = _resources(strategy, f"{at}.args.scoringStrategy")
            if res is not None:
                profile.fit_resources = res
        elif pc["name"] == "NodeResourcesBalancedAllocation":
            res = _resources(args, f"{at}.args")
            if res is not None:
                profile.balanced_resources = res
        elif pc["name"] == "PodTopologySpread":
            kind = args.get("defaultingType", "System")
            if kind == "List" and args.get("defaultConstraints"):
                raise ConfigError(f"{at}.args.defaultConstraints: Unsupported value: only "
                                  f"System defaulting or an empty list is supported")
            profile.system_default_spreading = kind == "System"


def parse_config(doc: dict[str, Any]) -> SchedulerConfig:
    if not isinstance(doc, dict):
        raise ConfigError("config file must be a KubeSchedulerConfiguration object")
    if doc.get("kind", KIND) != KIND:
        raise ConfigError(f'no kind "{doc.get("kind")}" is registered for version '
                          f'"{doc.get("apiVersion", "")}"')
    cfg = SchedulerConfig()
    pct = doc.get("percentageOfNodesToScore", 0) or 0
    if not isinstance(pct, int) or not 0 <= pct <= 100:
        raise ConfigError(f"percentageOfNodesToScore: Invalid value: {pct!r}: "
                          f"not in valid range [0-100]")
    cfg.percentage_of_nodes_to_score = pct
    cfg.pod_initial_backoff_seconds = float(doc.get("podInitialBackoffSeconds", 1))
    cfg.pod_max_backoff_seconds = float(doc.get("podMaxBackoffSeconds", 10))
    if cfg.pod_max_backoff_seconds < cfg.pod_initial_backoff_seconds:
        raise ConfigError("podMaxBackoffSeconds: Invalid value: must be greater than or "
                          "equal to PodInitialBackoffSeconds")
    profiles = doc.get("profiles")
    if profiles:
        cfg.profiles = []
        seen: set[str] = set()
        for i, p in enumerate(profiles):
            where = f"profiles[{i}]"
            prof = Profile(scheduler_name=str(p.get("schedulerName")
                                              or DEFAULT_SCHEDULER_NAME))
            if prof.scheduler_name in seen:
                raise ConfigError(f'{where}.schedulerName: Duplicate value: '
                                  f'"{prof.scheduler_name}"')
            seen.add(prof.scheduler_name)
            _plugins(prof, p.get("plugins"), f"{where}.plugins")
            _plugin_config(prof, p.get("pluginConfig"), f"{where}.pluginConfig")
            cfg.profiles.append(prof)
    return cfg
