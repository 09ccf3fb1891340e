"""Rules for the pod controllers: Deployment, ReplicaSet, DaemonSet, StatefulSet, Job,
CronJob. They share one core: a selector that is present, not empty, and selects
the pods the template makes (else the controller would adopt nothing, or all)."""

from __future__ import annotations

from typing import Any

from jota.api import errors
from jota.api.meta import Obj
from jota.api.validation import cron
from jota.api.validation.common import (
    Errs,
    arr,
    as_int,
    as_str,
    child,
    go_invalid,
    go_selector,
    go_string_map,
    immutable,
    int_or_percent,
    invalid,
    nonnegative,
    not_more_than_100_percent,
    obj,
    one_of,
    percent_or_int_value,
)
from jota.api.validation.meta import (
    selector_is_empty,
    selector_matches,
    validate_label_selector,
    validate_labels,
)
from jota.api.validation.pod import validate_pod_template
from jota.api.validation.storage import validate_claim_spec

ALWAYS = ["Always"]
JOB_RESTART = ["OnFailure", "Never"]
JOB_RESTART_REQUIRED = 'valid values: "OnFailure", "Never"'
CRONJOB_NAME_MAX = 52


def _selector_and_template(spec: dict[str, Any], path: str, what: str, *,
                           restart_policies: list[str], restart_required: str | None = None,
                           selector_required: bool = True,
                           extra_volumes: tuple[str, ...] = ()) -> Errs:
    errs: Errs = []
    sel = spec.get("selector")
    sel_path = child(path, "selector")
    if sel is None:
        if selector_required:
            errs.append(errors.required(sel_path))
    elif isinstance(sel, dict):
        errs += validate_label_selector(sel, sel_path)
        if selector_is_empty(sel) and what:
            errs.append(go_invalid(sel_path, sel, go_selector(sel),
                                   f"empty selector is invalid for {what}"))
    tmpl_path = child(path, "template")
    errs += validate_pod_template(spec.get("template"), tmpl_path,
                                  restart_policies=restart_policies,
                                  restart_required=restart_required, extra_volumes=extra_volumes)
    labels = obj(spec.get("template")).get("metadata")
    labels = obj(labels).get("labels")
    if isinstance(sel, dict) and not selector_is_empty(sel) and not selector_matches(sel, labels):
        errs.append(go_invalid(child(child(tmpl_path, "metadata"), "labels"), labels,
                               go_string_map(labels if isinstance(labels, dict) else None),
                               "`selector` does not match template `labels`"))
    return errs


def _selector_immutable(spec: Any, old_spec: Any, path: str = "spec.selector") -> Errs:
    new, old = obj(spec).get("selector"), obj(old_spec).get("selector")
    if old is None:
        return []
    return immutable(path, new, old, go_selector(new) if isinstance(new, dict) else None)


def _no_active_deadline(spec: dict[str, Any], kind_word: str) -> Errs:
    pod = obj(obj(spec.get("template")).get("spec"))
    if pod.get("activeDeadlineSeconds") is not None:
        return [invalid("spec.template.spec.activeDeadlineSeconds",
                        pod.get("activeDeadlineSeconds"),
                        f"activeDeadlineSeconds in {kind_word} is not Supported")]
    return []


def _rolling(ru: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    for field in ("maxUnavailable", "maxSurge"):
        errs += int_or_percent(child(path, field), ru.get(field))
    errs += not_more_than_100_percent(child(path, "maxUnavailable"), ru.get("maxUnavailable"))
    mu = percent_or_int_value(ru.get("maxUnavailable"))
    if mu == 0 and percent_or_int_value(ru.get("maxSurge")) == 0:
        errs.append(invalid(child(path, "maxUnavailable"), ru.get("maxUnavailable"),
                            "may not be 0 when `maxSurge` is 0"))
    return errs


def validate_deployment(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = nonnegative("spec.replicas", spec.get("replicas"))
    errs += _selector_and_template(spec, "spec", "deployment", restart_policies=ALWAYS)
    errs += _no_active_deadline(spec, "ReplicaSet")
    strategy = obj(spec.get("strategy"))
    stype = strategy.get("type")
    errs += one_of("spec.strategy.type", stype, ["Recreate", "RollingUpdate"])
    if stype == "Recreate" and strategy.get("rollingUpdate") is not None:
        errs.append(errors.forbidden("spec.strategy.rollingUpdate",
                                     "may not be specified when strategy `type` is 'Recreate'"))
    elif isinstance(strategy.get("rollingUpdate"), dict):
        errs += _rolling(strategy["rollingUpdate"], "spec.strategy.rollingUpdate")
    for field in ("revisionHistoryLimit", "minReadySeconds", "progressDeadlineSeconds"):
        errs += nonnegative(f"spec.{field}", spec.get(field))
    pds, mrs = as_int(spec.get("progressDeadlineSeconds")), as_int(spec.get("minReadySeconds"))
    if pds is not None and mrs is not None and pds <= mrs:
        errs.append(invalid("spec.progressDeadlineSeconds", pds,
                            "must be greater than minReadySeconds"))
    if old is not None:
        errs += _selector_immutable(spec, old.get("spec"))
    return errs


def validate_replica_set(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = nonnegative("spec.replicas", spec.get("replicas"))
    errs += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    errs += _selector_and_template(spec, "spec", "deployment", restart_policies=ALWAYS)
    errs += _no_active_deadline(spec, "ReplicaSet")
    if old is not None:
        errs += _selector_immutable(spec, old.get("spec"))
    return errs


def validate_daemon_set(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = _selector_and_template(spec, "spec", "daemonset", restart_policies=ALWAYS)
    errs += _no_active_deadline(spec, "DaemonSet")
    strategy = obj(spec.get("updateStrategy"))
    errs += one_of("spec.updateStrategy.type", strategy.get("type"), ["OnDelete", "RollingUpdate"])
    if isinstance(strategy.get("rollingUpdate"), dict):
        errs += _rolling(strategy["rollingUpdate"], "spec.updateStrategy.rollingUpdate")
    for field in ("revisionHistoryLimit", "minReadySeconds"):
        errs += nonnegative(f"spec.{field}", spec.get(field))
    if old is not None:
        errs += _selector_immutable(spec, old.get("spec"))
    return errs


_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds", "selector")


def validate_stateful_set(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = nonnegative("spec.replicas", spec.get("replicas"))
    errs += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    errs += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    claims = arr(spec.get("volumeClaimTemplates"))
    claim_names = tuple(n for c in claims if isinstance(n := obj(obj(c).get("metadata"))
                                                        .get("name"), str))
    errs += _selector_and_template(spec, "spec", "statefulset", restart_policies=ALWAYS,
                                   extra_volumes=claim_names)
    errs += _no_active_deadline(spec, "StatefulSet")
    errs += one_of("spec.podManagementPolicy", spec.get("podManagementPolicy"),
                   ["OrderedReady", "Parallel"])
    strategy = obj(spec.get("updateStrategy"))
    stype = strategy.get("type")
    errs += one_of("spec.updateStrategy.type", stype, ["RollingUpdate", "OnDelete"])
    ru = strategy.get("rollingUpdate")
    if stype == "OnDelete" and ru is not None:
        errs.append(invalid("spec.updateStrategy.rollingUpdate", ru,
                            "only allowed for updateStrategy 'RollingUpdate'"))
    elif isinstance(ru, dict):
        errs += nonnegative("spec.updateStrategy.rollingUpdate.partition", ru.get("partition"))
        if ru.get("maxUnavailable") is not None:
            errs += int_or_percent("spec.updateStrategy.rollingUpdate.maxUnavailable",
                                   ru.get("maxUnavailable"))
    for i, claim in enumerate(claims):
        errs += validate_claim_spec(obj(claim).get("spec"),
                                    f"spec.volumeClaimTemplates[{i}].spec")
    if old is not None:
        old_spec = obj(old.get("spec"))
        errs += _selector_immutable(spec, old_spec)
        changed = {k for k in set(spec) | set(old_spec)
                   if k not in _STS_MUTABLE and spec.get(k) != old_spec.get(k)}
        if changed:
            errs.append(errors.forbidden(
                "spec", "updates to statefulset spec for fields other than 'replicas', "
                "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy'"
                " and 'minReadySeconds' are forbidden"))
    return errs


def validate_job_spec(spec: Any, path: str, *, selector_required: bool = False) -> Errs:
    s = obj(spec)
    errs: Errs = []
    for field in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                  "ttlSecondsAfterFinished", "backoffLimitPerIndex"):
        errs += nonnegative(child(path, field), s.get(field))
    mode = s.get("completionMode")
    errs += one_of(child(path, "completionMode"), mode, ["NonIndexed", "Indexed"])
    if mode == "Indexed" and s.get("completions") is None:
        errs.append(errors.required(child(path, "completions"), "when completion mode is Indexed"))
    errs += _selector_and_template(s, path, "", restart_policies=JOB_RESTART,
                                   restart_required=JOB_RESTART_REQUIRED,
                                   selector_required=selector_required)
    return errs


def validate_job(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = validate_job_spec(spec, "spec")
    if old is not None:
        old_spec = obj(old.get("spec"))
        errs += _selector_immutable(spec, old_spec)
        if old_spec.get("template") is not None and spec.get("template") != old_spec.get(
                "template"):
            errs.append(go_invalid("spec.template", spec.get("template"),
                                   "core.PodTemplateSpec{...}", "field is immutable"))
        if old_spec.get("completionMode") is not None:
            errs += immutable("spec.completionMode", spec.get("completionMode"),
                              old_spec.get("completionMode"))
    return errs


def validate_cron_job(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs: Errs = []
    name = obj(o.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        errs.append(invalid("metadata.name", name,
                            f"must be no more than {CRONJOB_NAME_MAX} characters"))
    schedule = spec.get("schedule")
    if not schedule:
        errs.append(errors.required("spec.schedule"))
    elif isinstance(schedule, str):
        try:
            cron.parse_schedule(schedule)
        except ValueError as exc:
            errs.append(invalid("spec.schedule", schedule, str(exc)))
    errs += one_of("spec.concurrencyPolicy", spec.get("concurrencyPolicy"),
                   ["Allow", "Forbid", "Replace"])
    for field in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                  "failedJobsHistoryLimit"):
        errs += nonnegative(f"spec.{field}", spec.get(field))
    tz = as_str(spec.get("timeZone"))
    if tz is not None and (not tz or " " in tz or tz.startswith(("/", "."))):
        errs.append(invalid("spec.timeZone", tz, f"unknown time zone {tz}"))
    jt = obj(spec.get("jobTemplate"))
    errs += validate_labels(obj(jt.get("metadata")).get("labels"),
                            "spec.jobTemplate.metadata.labels")
    errs += validate_job_spec(jt.get("spec"), "spec.jobTemplate.spec")
    return errs
