"""The Deployment controller's I/O: informers, the workqueue, and the writes.

`sync(key)` follows Kubernetes' `syncDeployment`: claim ReplicaSets, then one of
- being deleted: only refresh status;
- paused, or spec.replicas changed mid-rollout: scale proportionally (`sync.py`),
  clean up history when paused, refresh status;
- RollingUpdate or Recreate: one step of the rollout, then status with the
  Progressing condition (`status.py`).
The decisions are the pure functions of `sync.py`, `revisions.py` and `status.py`;
this module reads the caches, carries them out, and records events.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time

from controlplane.controllers.deployment import revisions, status, sync
from controlplane.controllers.replicaset import (
    CONTROLLER_UID_INDEX,
    OWNED_INDEXERS,
    Now,
    controller_ref,
    is_deleting,
    new_controller_ref,
    plan_claims,
    selector_of,
    spec_replicas,
    uid_of,
)
from controlplane.controllers.runloop import run_controller
from jota.api import errors
from jota.api.meta import Obj, labels_of, name_of, namespace_of
from jota.client import (
    NAMESPACE_INDEX,
    NORMAL,
    WARNING,
    Client,
    EventRecorder,
    RateLimitingQueue,
    SharedInformerFactory,
    object_of,
)
from jota.client.informer import DeletedObj

logger = logging.getLogger(__name__)

RS = "replicasets"
DEPLOYMENTS = "deployments"


def key_of(obj: Obj) -> str:
    return f"{namespace_of(obj)}/{name_of(obj)}"


class DeploymentController:
    name = "deployment"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 clock: Now = time.time) -> None:
        self.client = client
        self.clock = clock
        self.queue = RateLimitingQueue("deployment")
        self.recorder = EventRecorder(client, "deployment-controller")
        indexers = OWNED_INDEXERS
        self.d_informer = factory.informer_for(DEPLOYMENTS, indexers=indexers)
        self.rs_informer = factory.informer_for(RS, indexers=indexers)
        self.pod_informer = factory.informer_for("pods", indexers=indexers)
        self.d_informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new),
            on_delete=lambda obj: self._enqueue(object_of(obj)))
        self.rs_informer.add_event_handler(on_add=self._add_rs, on_update=self._update_rs,
                                           on_delete=self._delete_rs)
        self.pod_informer.add_event_handler(on_delete=self._delete_pod)

    # -- handlers --

    def _enqueue(self, d: Obj) -> None:
        self.queue.add(key_of(d))

    def _owner_of(self, rs: Obj) -> Obj | None:
        ref = controller_ref(rs)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.d_informer.store.get_by_key(f"{namespace_of(rs)}/{ref.get('name', '')}")
        return d if d is not None and uid_of(d) == ref.get("uid") else None

    def _matching(self, rs: Obj) -> list[Obj]:
        return [d for d in self.d_informer.store.by_index(NAMESPACE_INDEX, namespace_of(rs))
                if selector_of(d).matches(labels_of(rs))]

    def _add_rs(self, rs: Obj) -> None:
        owner = self._owner_of(rs)
        if owner is not None:
            self._enqueue(owner)
        elif controller_ref(rs) is None:
            for d in self._matching(rs):
                self._enqueue(d)

    def _update_rs(self, old: Obj, new: Obj) -> None:
        prev = self._owner_of(old)
        if prev is not None and uid_of(prev) != (controller_ref(new) or {}).get("uid"):
            self._enqueue(prev)
        self._add_rs(new)

    def _delete_rs(self, obj: DeletedObj) -> None:
        owner = self._owner_of(object_of(obj))
        if owner is not None:
            self._enqueue(owner)

    def _delete_pod(self, obj: DeletedObj) -> None:
        pod = object_of(obj)
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_informer.store.get_by_key(f"{namespace_of(pod)}/{ref.get('name', '')}")
        owner = self._owner_of(rs) if rs is not None else None
        if owner is not None and not sync.is_rolling(owner):
            self._enqueue(owner)  # Recreate waits for the last old pod to go

    # -- the loop --

    async def run(self, workers: int = 2) -> None:
        await run_controller(self.queue, self.sync, workers, self.recorder)

    async def sync(self, key: str) -> None:
        cached = self.d_informer.store.get_by_key(key)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        if selector_of(d).empty:
            self.recorder.event(d, WARNING, "SelectingAll", "This deployment is selecting all "
                                "pods. A non-empty selector is required.")
            st = d.get("status") or {}
            gen = int(d["metadata"].get("generation") or 0)
            if int(st.get("observedGeneration") or 0) < gen:
                await self._write_status(d, {**st, "observedGeneration": gen})
            return
        rss = await self._claim_replica_sets(d)
        if is_deleting(d):
            d, new_rs, old = await self._get_all(d, rss, create=False)
            await self._sync_status(d, old, new_rs)
            return
        d = await self._check_paused_conditions(d)
        if (d.get("spec") or {}).get("paused") or sync.is_scaling_event(d, rss):
            await self._sync_scale(d, rss)
            return
        if sync.is_rolling(d):
            await self._rollout_rolling(d, rss)
        else:
            await self._rollout_recreate(d, rss)

    # -- ReplicaSets: claim, find, create --

    async def _claim_replica_sets(self, d: Obj) -> list[Obj]:
        candidates = self.rs_informer.store.by_index(NAMESPACE_INDEX, namespace_of(d))
        claims = plan_claims(d, selector_of(d), candidates)
        owned = list(claims.owned)
        if claims.adopt:
            fresh = await self.client.get(DEPLOYMENTS, name_of(d), namespace_of(d))
            if uid_of(fresh) == uid_of(d) and not is_deleting(fresh):
                for rs in claims.adopt:
                    done = await self._set_owner(rs, d, adopt=True)
                    if done is not None:
                        owned.append(done)
        for rs in claims.release:
            await self._set_owner(rs, d, adopt=False)
        return [copy.deepcopy(rs) for rs in owned]

    async def _set_owner(self, rs: Obj, d: Obj, *, adopt: bool) -> Obj | None:
        refs = [r for r in rs["metadata"].get("ownerReferences") or []
                if r.get("uid") != uid_of(d)]
        if adopt:
            refs.append(new_controller_ref({**d, "apiVersion": "apps/v1",
                                            "kind": "Deployment"}))
        patch = {"metadata": {"ownerReferences": refs or None,
                              "resourceVersion": rs["metadata"].get("resourceVersion")}}
        try:
            return await self.client.patch(RS, name_of(rs), patch, namespace_of(rs),
                                           patch_type="merge")
        except (errors.NotFound, errors.Conflict):
            return None

    async def _get_all(self, d: Obj, rss: list[Obj], *, create: bool
                       ) -> tuple[Obj, Obj | None, list[Obj]]:
        """The new ReplicaSet (created if asked) and the old ones, with revisions synced
        (getAllReplicaSetsAndSyncRevision)."""
        old = revisions.find_old_replica_sets(d, rss)
        existing = revisions.find_new_replica_set(d, rss)
        new_revision = revisions.max_revision(old) + 1
        now = self.clock()
        if existing is not None:
            rs = copy.deepcopy(existing)
            changed = revisions.set_new_rs_annotations(d, rs, new_revision, True,
                                                       sync.max_surge(d))
            mrs = int((d.get("spec") or {}).get("minReadySeconds") or 0)
            if changed or int(rs["spec"].get("minReadySeconds") or 0) != mrs:
                rs["spec"]["minReadySeconds"] = mrs
                return d, await self.client.update(RS, rs, namespace_of(rs)), old
            d = await self._sync_revision(d, revisions.annotation_map(rs).get(revisions.REVISION,
                                                                           ""))
            st = copy.deepcopy(d.get("status") or {})
            if status.has_progress_deadline(d) and status.get_condition(
                    st, status.PROGRESSING) is None:
                status.set_condition(st, status.new_condition(
                    status.PROGRESSING, "True", status.FOUND_NEW_RS,
                    f'Found new replica set "{name_of(rs)}"', now))
                d = await self._write_status(d, st)
            return d, rs, old
        if not create:
            return d, None, old
        return await self._create_new(d, old, new_revision)

    async def _create_new(self, d: Obj, old: list[Obj], new_revision: int
                          ) -> tuple[Obj, Obj, list[Obj]]:
        st = copy.deepcopy(d.get("status") or {})
        rs = revisions.new_replica_set(d, st.get("collisionCount"))
        rs["spec"]["replicas"] = sync.new_rs_new_replicas(d, [*old, rs], rs)
        revisions.set_new_rs_annotations(d, rs, new_revision, False, sync.max_surge(d))
        now = self.clock()
        try:
            created = await self.client.create(RS, rs, namespace_of(d))
        except errors.AlreadyExists:
            live = self.rs_informer.store.get_by_key(key_of(rs)) or await self.client.get(
                RS, name_of(rs), namespace_of(d))
            ref = controller_ref(live) or {}
            if ref.get("uid") == uid_of(d) and revisions.equal_ignore_hash(
                    d["spec"]["template"], (live.get("spec") or {}).get("template")):
                return d, copy.deepcopy(live), old
            st["collisionCount"] = int(st.get("collisionCount") or 0) + 1
            await self._write_status(d, st)
            logger.info("hash collision; bumped collisionCount", extra={
                "namespace": namespace_of(d), "deployment": name_of(d),
                "replicaset": name_of(rs)})
            raise
        except errors.APIError as e:
            msg = f'Failed to create new replica set "{name_of(rs)}": {e.message}'
            if status.has_progress_deadline(d):
                status.set_condition(st, status.new_condition(
                    status.PROGRESSING, "False", status.FAILED_RS_CREATE, msg, now))
                await self._write_status(d, st)
            self.recorder.event(d, WARNING, status.FAILED_RS_CREATE, msg)
            raise
        replicas = spec_replicas(created)
        if replicas > 0:
            self.recorder.event(d, NORMAL, "ScalingReplicaSet",
                                f"Scaled up replica set {name_of(created)} from 0 to {replicas}")
        d = await self._sync_revision(d, str(new_revision))
        if status.has_progress_deadline(d):
            st = copy.deepcopy(d.get("status") or {})
            status.set_condition(st, status.new_condition(
                status.PROGRESSING, "True", status.NEW_RS_CREATED,
                f'Created new replica set "{name_of(created)}"', now))
            d = await self._write_status(d, st)
        return d, created, old

    # -- strategies --

    async def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> None:
        d, new_rs, old = await self._get_all(d, rss, create=True)
        assert new_rs is not None
        step = sync.rolling_step(d, new_rs, old)
        by_name = {name_of(rs): rs for rs in [*old, new_rs]}
        for rs_name, size in step.sizes.items():
            by_name[rs_name] = await self._scale(by_name[rs_name], size, d)
        new_rs = by_name[name_of(new_rs)]
        old = [by_name[name_of(rs)] for rs in old]
        if not step.phase and sync.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        await self._sync_rollout_status(d, old, new_rs)

    async def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> None:
        d, new_rs, old = await self._get_all(d, rss, create=False)
        down = sync.scale_down_old_for_recreate(old)
        if down:
            old = [await self._scale(rs, down[name_of(rs)], d) if name_of(rs) in down else rs
                   for rs in old]
            await self._sync_rollout_status(d, old, new_rs)
            return
        pods_by_rs = {uid_of(rs): self.pod_informer.store.by_index(CONTROLLER_UID_INDEX,
                                                                   uid_of(rs))
                      for rs in old}
        if sync.old_pods_running(new_rs, old, pods_by_rs):
            await self._sync_rollout_status(d, old, new_rs)
            return
        if new_rs is None:
            d, new_rs, old = await self._get_all(d, rss, create=True)
            assert new_rs is not None
        if spec_replicas(new_rs) != spec_replicas(d):
            new_rs = await self._scale(new_rs, spec_replicas(d), d)
        if sync.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        await self._sync_rollout_status(d, old, new_rs)

    async def _sync_scale(self, d: Obj, rss: list[Obj]) -> None:
        d, new_rs, old = await self._get_all(d, rss, create=False)
        plan = sync.proportional_scale(d, new_rs, old)
        by_name = {name_of(rs): rs for rs in old + ([new_rs] if new_rs else [])}
        for rs_name, size in plan.sizes.items():
            by_name[rs_name] = await self._scale(by_name[rs_name], size, d,
                                                 refresh=plan.refresh_annotations)
        new_rs = by_name[name_of(new_rs)] if new_rs is not None else None
        old = [by_name[name_of(rs)] for rs in old]
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, old)
        await self._sync_status(d, old, new_rs)

    # -- writes --

    async def _scale(self, rs: Obj, size: int, d: Obj, *, refresh: bool = False) -> Obj:
        """scaleReplicaSet: new size plus the desired/max-replicas annotations."""
        desired = spec_replicas(d)
        max_total = desired + sync.max_surge(d)
        current = spec_replicas(rs)
        if current == size and not (refresh and revisions.replicas_annotations_need_update(
                rs, desired, max_total)):
            return rs
        fresh = copy.deepcopy(rs)
        fresh["spec"]["replicas"] = size
        revisions.set_replicas_annotations(fresh, desired, max_total)
        updated = await self.client.update(RS, fresh, namespace_of(rs))
        if current != size:
            direction = "up" if size > current else "down"
            self.recorder.event(d, NORMAL, "ScalingReplicaSet",
                                f"Scaled {direction} replica set {name_of(rs)} from {current} "
                                f"to {size}")
        return updated

    async def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        for rs in revisions.replica_sets_to_clean(d, old):
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(RS, name_of(rs), namespace_of(rs))
            logger.info("cleaned up old replica set", extra={
                "namespace": namespace_of(rs), "replicaset": name_of(rs),
                "deployment": name_of(d)})

    async def _sync_revision(self, d: Obj, revision: str) -> Obj:
        probe = copy.deepcopy(d)
        if not revisions.set_deployment_revision(probe, revision):
            return d
        patch = {"metadata": {"annotations": {revisions.REVISION: revision},
                              "resourceVersion": d["metadata"].get("resourceVersion")}}
        written = await self.client.patch(DEPLOYMENTS, name_of(d), patch, namespace_of(d),
                                          patch_type="merge")
        return {**written, "status": d.get("status") or {}}

    async def _write_status(self, d: Obj, st: Obj) -> Obj:
        fresh = {**d, "status": st}
        return await self.client.update_status(DEPLOYMENTS, fresh, namespace_of(d))

    async def _check_paused_conditions(self, d: Obj) -> Obj:
        cond = status.paused_condition(d, self.clock())
        if cond is None:
            return d
        st = copy.deepcopy(d.get("status") or {})
        status.set_condition(st, cond)
        return await self._write_status(d, st)

    async def _sync_status(self, d: Obj, old: list[Obj], new_rs: Obj | None) -> None:
        all_rss = old + ([new_rs] if new_rs is not None else [])
        st = status.calculate_status(d, all_rss, new_rs, self.clock())
        if st != (d.get("status") or {}):
            await self._write_status(d, st)

    async def _sync_rollout_status(self, d: Obj, old: list[Obj], new_rs: Obj | None) -> None:
        all_rss = old + ([new_rs] if new_rs is not None else [])
        now = self.clock()
        st = status.rollout_status(d, all_rss, new_rs, now)
        if st != (d.get("status") or {}):
            d = await self._write_status(d, st)
        after = status.requeue_after(d, st, now)
        if after is not None:
            self.queue.add_after(key_of(d), after)
