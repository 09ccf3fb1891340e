"""Defaults of the pod controllers (apps/v1 and batch/v1 SetDefaults_*)."""

from __future__ import annotations

import copy

from jota.api.defaults.common import fill, sub
from jota.api.defaults.pod import default_template
from jota.api.meta import Obj


def deployment(o: Obj) -> None:
    spec = sub(o, "spec")
    if spec is None:
        return
    fill(spec, replicas=1, revisionHistoryLimit=10, progressDeadlineSeconds=600)
    strategy = sub(spec, "strategy")
    fill(strategy, type="RollingUpdate")
    if strategy is not None and strategy.get("type") == "RollingUpdate":
        fill(sub(strategy, "rollingUpdate"), maxUnavailable="25%", maxSurge="25%")
    default_template(spec.get("template"))


def replica_set(o: Obj) -> None:
    spec = sub(o, "spec")
    fill(spec, replicas=1)
    if spec is not None:
        default_template(spec.get("template"))


def daemon_set(o: Obj) -> None:
    spec = sub(o, "spec")
    if spec is None:
        return
    fill(spec, revisionHistoryLimit=10)
    strategy = sub(spec, "updateStrategy")
    fill(strategy, type="RollingUpdate")
    if strategy is not None and strategy.get("type") == "RollingUpdate":
        fill(sub(strategy, "rollingUpdate"), maxUnavailable=1, maxSurge=0)
    default_template(spec.get("template"))


def stateful_set(o: Obj) -> None:
    spec = sub(o, "spec")
    if spec is None:
        return
    fill(spec, replicas=1, podManagementPolicy="OrderedReady", revisionHistoryLimit=10,
         persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Retain"})
    strategy = sub(spec, "updateStrategy")
    fill(strategy, type="RollingUpdate")
    if strategy is not None and strategy.get("type") == "RollingUpdate":
        fill(sub(strategy, "rollingUpdate"), partition=0)
    claims = spec.get("volumeClaimTemplates")
    for claim in claims if isinstance(claims, list) else ():
        fill(sub(claim, "spec", create=False), volumeMode="Filesystem")
    default_template(spec.get("template"))


def job(o: Obj) -> None:
    spec = sub(o, "spec")
    if spec is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    backoff = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    fill(spec, parallelism=1, backoffLimit=backoff, completionMode="NonIndexed", suspend=False,
         podReplacementPolicy="Failed" if spec.get("podFailurePolicy") else
         "TerminatingOrFailed")
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    md = sub(o, "metadata")
    if isinstance(labels, dict) and labels and md is not None and not md.get("labels"):
        md["labels"] = copy.deepcopy(labels)
    default_template(template, restart_policy=None)


def cron_job(o: Obj) -> None:
    spec = sub(o, "spec")
    if spec is None:
        return
    fill(spec, concurrencyPolicy="Allow", suspend=False, successfulJobsHistoryLimit=3,
         failedJobsHistoryLimit=1)
    job_spec = sub(sub(spec, "jobTemplate", create=False), "spec", create=False)
    if job_spec is not None:
        default_template(job_spec.get("template"), restart_policy=None)
