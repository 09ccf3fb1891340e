"""The HorizontalPodAutoscaler controller: Kubernetes' pkg/controller/podautoscaler.

Every sync period (--horizontal-pod-autoscaler-sync-period, 15 s) each HPA is
reconciled: read the target's scale subresource, list the pods its selector
matches and their PodMetrics from the metrics API, ask `replica_calculator` what
each metric wants (the largest wins), pass that through `behavior` (stabilization
windows, scaling policies, min/max), scale through the scale subresource, and
write status (currentMetrics, replicas, lastScaleTime, the AbleToScale,
ScalingActive and ScalingLimited conditions) with upstream's reasons and events.
The recommendations and scale events behind the windows live in memory, as
upstream's: a restarted controller starts them afresh.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from controlplane.controllers.runloop import run_controller
from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.api.quantity import format_quantity
from jota.api.selectors import parse_label_selector
from jota.client import (
    NAMESPACE_INDEX,
    Client,
    EventRecorder,
    RateLimitingQueue,
    SharedInformerFactory,
    index_by_namespace,
    object_of,
)
from jota.client.events import NORMAL, WARNING, format_time
from jota.client.informer import DeletedObj

from .behavior import History, normalize, record_scale
from .replica_calculator import (
    CPU_INITIALIZATION_PERIOD,
    MetricsError,
    Recommendation,
    milli_value,
    plain_replicas,
    pod_metrics,
    resource_replicas,
)

logger = logging.getLogger(__name__)

DEFAULT_SYNC_PERIOD = 15.0
HPAS = "horizontalpodautoscalers"
# Scale subresources of what an HPA may target (scaleTargetRef.kind -> resource).
SCALABLE = {"Deployment": "deployments", "ReplicaSet": "replicasets",
            "StatefulSet": "statefulsets", "ReplicationController": "replicationcontrollers"}


def set_condition(status: Obj, type_: str, value: str, reason: str, message: str,
                  now: str) -> None:
    """Set one condition, keeping lastTransitionTime while its status stays the same."""
    conditions: list[Obj] = status.setdefault("conditions", [])
    for c in conditions:
        if c.get("type") == type_:
            if c.get("status") != value:
                c["lastTransitionTime"] = now
            c.update(status=value, reason=reason, message=message)
            return
    conditions.append({"type": type_, "status": value, "lastTransitionTime": now,
                       "reason": reason, "message": message})


def _metric_name(resource: str, target: Obj) -> str:
    if target.get("type") == "Utilization":
        return f"{resource} resource utilization (percentage of request)"
    return f"{resource} resource"


def _quantity(milli: int) -> str:
    return format_quantity(Decimal(milli) / 1000, "decimal")


def compute_for_metric(spec: Obj, current: int, pods: list[Obj], metrics: list[Obj],
                       now: datetime, cpu_init: float
                       ) -> tuple[int, str, Obj]:
    """(replica proposal, metric name for the rescale reason, status entry) for one
    `spec.metrics` entry; MetricsError when it cannot say."""
    if spec.get("type") != "Resource":
        raise MetricsError(f'unsupported metric type "{spec.get("type")}"')
    res = spec.get("resource") or {}
    resource = str(res.get("name") or "")
    target = res.get("target") or {}
    usage = pod_metrics(metrics, resource)
    if not usage:
        raise MetricsError(f"failed to get {resource} utilization: unable to get metrics for "
                           f"resource {resource}: no metrics returned from resource metrics "
                           "API")
    rec: Recommendation
    if target.get("type") == "Utilization" and target.get("averageUtilization") is not None:
        rec = resource_replicas(current, int(target["averageUtilization"]), resource, pods,
                                usage, now, cpu_initialization_period=cpu_init)
        value = {"averageUtilization": rec.utilization, "averageValue": _quantity(
            rec.raw_average)}
    elif target.get("type") == "AverageValue" and target.get("averageValue") is not None:
        rec = plain_replicas(current, milli_value(target["averageValue"]), resource, pods,
                             usage, now, cpu_initialization_period=cpu_init)
        value = {"averageValue": _quantity(rec.raw_average)}
    else:
        raise MetricsError(f"invalid resource metric source: neither a utilization target nor "
                           f"a value target was set for {resource}")
    status = {"type": "Resource", "resource": {"name": resource, "current": value}}
    return rec.replicas, _metric_name(resource, target), status


class HorizontalController:
    name = "horizontalpodautoscaling"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 sync_period: float = DEFAULT_SYNC_PERIOD,
                 cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.sync_period = sync_period
        self.cpu_init = cpu_initialization_period
        self.clock = clock
        self.queue = RateLimitingQueue("horizontalpodautoscaler")
        self.recorder = EventRecorder(client, "horizontal-pod-autoscaler")
        self.history: dict[str, History] = {}
        self.hpas = factory.informer_for(HPAS)
        self.pods = factory.informer_for("pods", indexers={NAMESPACE_INDEX: index_by_namespace})
        self.hpas.add_event_handler(on_add=self._enqueue, on_update=self._updated,
                                    on_delete=self._deleted)

    def _enqueue(self, hpa: Obj) -> None:
        self.queue.add(f"{namespace_of(hpa)}/{name_of(hpa)}")

    def _updated(self, old: Obj, new: Obj) -> None:
        if old.get("spec") != new.get("spec"):  # not our own status writes
            self._enqueue(new)

    def _deleted(self, obj: DeletedObj) -> None:
        hpa = object_of(obj)
        self.history.pop(f"{namespace_of(hpa)}/{name_of(hpa)}", None)

    async def run(self, workers: int = 2) -> None:
        await run_controller(self.queue, self.sync, workers, self.recorder)

    async def sync(self, key: str) -> None:
        hpa = self.hpas.store.get_by_key(key)
        if hpa is None:
            self.history.pop(key, None)
            return
        try:
            await self.reconcile(copy.deepcopy(hpa), key)
        finally:
            self.queue.add_after(key, self.sync_period)

    async def reconcile(self, hpa: Obj, key: str) -> None:
        namespace = namespace_of(hpa)
        spec = hpa.get("spec") or {}
        old_status = copy.deepcopy(hpa.get("status") or {})
        status: Obj = hpa.setdefault("status", {})
        now_dt = datetime.fromtimestamp(self.clock(), UTC)
        now = format_time(now_dt)
        ref = spec.get("scaleTargetRef") or {}
        kind, target = str(ref.get("kind") or ""), str(ref.get("name") or "")
        resource = SCALABLE.get(kind)
        try:
            if resource is None:
                raise errors.NotFound(f'no matches for kind "{kind}" in group "apps"')
            scale = await self.client.get_scale(resource, target, namespace)
        except errors.APIError as e:
            set_condition(status, "AbleToScale", "False", "FailedGetScale",
                          f"the HPA controller was unable to get the target's current scale: "
                          f"{e}", now)
            self.recorder.event(hpa, WARNING, "FailedGetScale", str(e))
            await self._write_status(hpa, old_status)
            return
        set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale", now)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        min_replicas = int(spec.get("minReplicas") or 1)
        max_replicas = int(spec.get("maxReplicas") or 0)
        desired, reason, rescale = 0, "", False
        statuses: list[Obj] = []
        if current == 0 and min_replicas != 0:
            set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero",
                          now)
        elif current > max_replicas:
            desired, reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
        elif current < min_replicas:
            desired, reason = min_replicas, "Current number of replicas below Spec.MinReplicas"
        else:
            selector = str((scale.get("status") or {}).get("selector") or "")
            result = await self._compute(hpa, scale, selector, current, now_dt, now)
            if result is None:
                await self._write_status(hpa, old_status)
                return
            desired, metric_name, statuses = result
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
            history = self.history.setdefault(key, History())
            n = normalize(history, spec.get("behavior"), current=current, desired=desired,
                          min_replicas=min_replicas, max_replicas=max_replicas,
                          now=self.clock())
            set_condition(status, "AbleToScale", "True", n.able_reason, n.able_message, now)
            set_condition(status, "ScalingLimited", "True" if n.limited else "False",
                          n.limited_reason, n.limited_message, now)
            desired = n.replicas
        if current != 0 or min_replicas == 0:
            rescale = desired != current
        if rescale:
            try:
                await self.client.update_scale(resource, target, namespace, desired)
            except errors.APIError as e:
                self.recorder.event(hpa, WARNING, "FailedRescale",
                                    f"New size: {desired}; reason: {reason}; error: {e}")
                set_condition(status, "AbleToScale", "False", "FailedUpdateScale",
                              f"the HPA controller was unable to update the target scale: {e}",
                              now)
                await self._write_status(hpa, old_status)
                raise
            set_condition(status, "AbleToScale", "True", "SucceededRescale",
                          f"the HPA controller was able to update the target scale to "
                          f"{desired}", now)
            self.recorder.event(hpa, NORMAL, "SuccessfulRescale",
                                f"New size: {desired}; reason: {reason}")
            record_scale(self.history.setdefault(key, History()), spec.get("behavior"),
                         current, desired, self.clock())
            logger.info("successful rescale", extra={
                "hpa": key, "from": current, "to": desired, "reason": reason})
            status["lastScaleTime"] = now
        else:
            desired = desired if current != 0 or min_replicas == 0 else current
        status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        if statuses:
            status["currentMetrics"] = statuses
        else:
            status.pop("currentMetrics", None)
        await self._write_status(hpa, old_status)

    async def _compute(self, hpa: Obj, scale: Obj, selector: str, current: int,
                       now_dt: datetime, now: str) -> tuple[int, str, list[Obj]] | None:
        """computeReplicasForMetrics: the largest proposal, or None (status set) when
        the metrics cannot say."""
        status = hpa["status"]
        if not selector:
            self.recorder.event(hpa, WARNING, "SelectorRequired", "selector is required")
            set_condition(status, "ScalingActive", "False", "InvalidSelector",
                          "the HPA target's scale is missing a selector", now)
            return None
        try:
            sel = parse_label_selector(selector)
        except (errors.APIError, ValueError) as e:
            self.recorder.event(hpa, WARNING, "InvalidSelector", str(e))
            set_condition(status, "ScalingActive", "False", "InvalidSelector",
                          f"the HPA target's scale has an invalid selector: {e}", now)
            return None
        namespace = namespace_of(hpa)
        pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
                if sel.matches((p.get("metadata") or {}).get("labels") or {})]
        specs = (hpa.get("spec") or {}).get("metrics") or []
        metrics: list[Obj] = []
        first_error: str = ""
        try:
            metrics = (await self.client.list("podmetrics", namespace,
                                              label_selector=selector)).get("items") or []
        except errors.APIError as e:
            first_error = str(e)
        replicas, name, statuses, invalid, message = 0, "", [], 0, ""
        for spec in specs:
            try:
                if first_error:
                    raise MetricsError(
                        f"failed to get {(spec.get('resource') or {}).get('name', '')} "
                        f"utilization: unable to get metrics for resource: {first_error}")
                proposal, metric_name, entry = compute_for_metric(
                    spec, current, pods, metrics, now_dt, self.cpu_init)
            except (MetricsError, ValueError) as e:
                invalid += 1
                statuses.append({"type": ""})
                self.recorder.event(hpa, WARNING, "FailedGetResourceMetric", str(e))
                first_error = first_error or str(e)
                message = f"the HPA was unable to compute the replica count: {e}"
                continue
            statuses.append(entry)
            if proposal > replicas:
                replicas, name = proposal, metric_name
        statuses = [s for s in statuses if s.get("type")]
        if not specs or invalid >= len(specs) or (invalid and replicas < current):
            if not specs:
                message = "the HPA was unable to compute the replica count: no metrics"
            set_condition(status, "ScalingActive", "False", "FailedGetResourceMetric",
                          message, now)
            self.recorder.event(hpa, WARNING, "FailedComputeMetricsReplicas",
                                f"invalid metrics ({invalid} invalid out of {len(specs)}), "
                                f"first error is: {first_error}")
            status["currentReplicas"] = current
            if statuses:
                status["currentMetrics"] = statuses
            return None
        set_condition(status, "ScalingActive", "True", "ValidMetricFound",
                      f"the HPA was able to successfully calculate a replica count from {name}",
                      now)
        return replicas, name, statuses

    async def _write_status(self, hpa: Obj, old_status: Any) -> None:
        if hpa.get("status") == old_status:
            return
        with contextlib.suppress(errors.NotFound):  # deleted meanwhile
            await self.client.update_status(HPAS, hpa, namespace_of(hpa))
