"""The PersistentVolume binder: claims meet volumes (Kubernetes' pv_controller).

One queue of `claim:<ns>/<name>` and `volume:<name>` keys. A claim's sync binds
it to the volume `pvbinding.find_matching_volume` picks (the volume first: its
claimRef, then its phase Bound; then the claim's volumeName and the
bind-completed annotation; then its phase), waits (WaitForFirstConsumer until the
scheduler sets `volume.kubernetes.io/selected-node`, or an external provisioner),
or asks the built-in local-path provisioner (localpath.py) for a PV on the
selected node. A volume's sync keeps its phase (Available / Bound / Released /
Failed) and reclaims it when its claim is gone: Retain leaves it Released,
Delete deletes the PV (local-path PVs carry a finalizer that the node's agent
drops once the directory is removed).

It is also the pvc-protection controller: a claim being deleted keeps its
`kubernetes.io/pvc-protection` finalizer (added on create by the apiserver)
while a pod that is not finished uses it, so the data under a running pod is
never reclaimed.

At start it creates the default StorageClass `local-path` if missing.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from datetime import UTC, datetime

from controlplane.controllers import localpath
from controlplane.controllers.pvbinding import (
    BETA_STORAGE_PROVISIONER,
    BIND_COMPLETED,
    SELECTED_NODE,
    STORAGE_PROVISIONER,
    Event,
    bind_claim,
    bind_volume,
    bound_claim_status,
    claim_class,
    claim_phase,
    claim_ref,
    is_deleting,
    plan_unbound_claim,
    plan_volume,
    uid_of,
    unbind_volume,
)
from jota.api import errors
from jota.api.meta import Obj, annotations_of, name_of, namespace_of
from jota.client import (
    NAMESPACE_INDEX,
    Client,
    EventRecorder,
    IndexFunc,
    RateLimitingQueue,
    RetryLater,
    SharedInformerFactory,
    index_by_namespace,
    object_of,
    run_workers,
)

logger = logging.getLogger(__name__)

PVC_PROTECTION = "kubernetes.io/pvc-protection"


def claims_of_pod(pod: Obj) -> list[str]:
    names = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        if isinstance(v, dict) and v.get("persistentVolumeClaim"):
            names.append(str(v["persistentVolumeClaim"].get("claimName", "")))
        elif isinstance(v, dict) and v.get("ephemeral"):
            names.append(f"{name_of(pod)}-{v.get('name', '')}")
    return names


def claim_in_use(claim: Obj, pods: list[Obj]) -> bool:
    """A pod not finished still uses the claim (pvc-protection's podUsesPVC)."""
    return any(name_of(claim) in claims_of_pod(p) and
               (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
               for p in pods if namespace_of(p) == namespace_of(claim))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PersistentVolumeBinder:
    name = "persistentvolume-binder"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        self.client = client
        self.queue = RateLimitingQueue("persistentvolume-binder")
        self.recorder = EventRecorder(client, "persistentvolume-controller")
        ns_index: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace}
        self.claims = factory.informer_for("persistentvolumeclaims", indexers=ns_index)
        self.volumes = factory.informer_for("persistentvolumes")
        self.classes = factory.informer_for("storageclasses")
        self.nodes = factory.informer_for("nodes")
        self.pods = factory.informer_for("pods", indexers=ns_index)
        self.claims.add_event_handler(
            on_add=self._claim_changed, on_update=lambda _o, new: self._claim_changed(new),
            on_delete=lambda obj: self._claim_changed(object_of(obj)))
        self.volumes.add_event_handler(
            on_add=self._volume_changed, on_update=lambda _o, new: self._volume_changed(new),
            on_delete=lambda obj: self._volume_changed(object_of(obj)))
        self.classes.add_event_handler(on_add=lambda _c: self._pending_claims(),
                                       on_update=lambda _o, _n: self._pending_claims())
        self.pods.add_event_handler(
            on_update=lambda _o, new: self._pod_changed(new),
            on_delete=lambda obj: self._pod_changed(object_of(obj)))

    # ---- events -> keys ---------------------------------------------------------------------

    def _claim_changed(self, claim: Obj) -> None:
        self.queue.add(f"claim:{namespace_of(claim)}/{name_of(claim)}")
        volume = (claim.get("spec") or {}).get("volumeName")
        if volume:
            self.queue.add(f"volume:{volume}")
        for pv in self.volumes.store.list():
            ref = claim_ref(pv)
            if ref and ref.get("uid") == uid_of(claim):
                self.queue.add(f"volume:{name_of(pv)}")

    def _volume_changed(self, pv: Obj) -> None:
        self.queue.add(f"volume:{name_of(pv)}")
        ref = claim_ref(pv)
        if ref:
            self.queue.add(f"claim:{ref.get('namespace', '')}/{ref.get('name', '')}")
        else:
            self._pending_claims()  # a new Available volume may fit a waiting claim

    def _pending_claims(self) -> None:
        for claim in self.claims.store.list():
            if not (claim.get("spec") or {}).get("volumeName"):
                self.queue.add(f"claim:{namespace_of(claim)}/{name_of(claim)}")

    def _pod_changed(self, pod: Obj) -> None:
        for name in claims_of_pod(pod):
            claim = self.claims.store.get_by_key(f"{namespace_of(pod)}/{name}")
            if claim is not None and is_deleting(claim):
                self.queue.add(f"claim:{namespace_of(pod)}/{name}")

    # ---- run ----------------------------------------------------------------------------------

    async def run(self, workers: int = 2) -> None:
        try:
            await self.ensure_default_class()
            await run_workers(self.queue, self.sync, workers)
        finally:
            await self.recorder.shutdown()

    async def ensure_default_class(self) -> None:
        if self.classes.store.get_by_key(localpath.CLASS_NAME) is not None:
            return
        try:
            await self.client.create("storageclasses", localpath.storage_class())
            logger.info("created the default StorageClass",
                        extra={"storageclass": localpath.CLASS_NAME})
        except errors.AlreadyExists:
            pass
        except errors.APIError as e:
            logger.warning("cannot create the default StorageClass: %s", e)

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        try:
            if kind == "claim":
                await self.sync_claim(rest)
            else:
                await self.sync_volume(rest)
        except errors.Conflict as e:
            # Claims and volumes are written from both sides' keys: a stale cached copy
            # loses the race, and the next sync reads the newer one.
            raise RetryLater(e.message) from None

    def _event(self, obj: Obj, event: Event | None) -> None:
        if event is not None:
            self.recorder.event(obj, event.type, event.reason, event.message)

    # ---- claims -------------------------------------------------------------------------------

    async def sync_claim(self, key: str) -> None:
        claim = self.claims.store.get_by_key(key)
        if claim is None:
            return
        if is_deleting(claim):
            await self._release_protection(claim)
            return
        volume = str((claim.get("spec") or {}).get("volumeName") or "")
        if not volume:
            await self._sync_unbound(claim)
            return
        pv = self.volumes.store.get_by_key(volume)
        phase, event = claim_phase(claim, pv)
        self._event(claim, event)
        if phase == "Bound" and pv is not None:
            ref = claim_ref(pv)
            if ref is None or ref.get("uid") != uid_of(claim):
                await self._bind(claim, pv)  # a claim pre-bound by its volumeName
                return
            if not annotations_of(claim).get(BIND_COMPLETED):
                claim = await self.client.update("persistentvolumeclaims",
                                                 bind_claim(claim, pv), namespace_of(claim))
        await self._claim_status(claim, pv, phase)

    async def _sync_unbound(self, claim: Obj) -> None:
        class_name = claim_class(claim)
        cls = self.classes.store.get_by_key(class_name) if class_name else None
        node_name = annotations_of(claim).get(SELECTED_NODE, "")
        node = self.nodes.store.get_by_key(node_name) if node_name else None
        plan = plan_unbound_claim(claim, list(self.volumes.store.list()), cls, node)
        self._event(claim, plan.event)
        if plan.action == "bind" and plan.volume is not None:
            await self._bind(claim, plan.volume)
            return
        await self._claim_status(claim, None, "Pending")
        if plan.action == "provision" and cls is not None:
            await self._provision(claim, cls, node_name, node)

    async def _bind(self, claim: Obj, pv: Obj) -> None:
        """Volume first (its claimRef is the lock: a stale copy fails with Conflict),
        then the claim, as pv_controller's bind()."""
        ns = namespace_of(claim)
        ref = claim_ref(pv)
        if ref is None or ref.get("uid") != uid_of(claim):
            pv = await self.client.update("persistentvolumes", bind_volume(pv, claim))
        await self._volume_status(pv, "Bound")
        if (claim.get("spec") or {}).get("volumeName") != name_of(pv) or \
                not annotations_of(claim).get(BIND_COMPLETED):
            claim = await self.client.update("persistentvolumeclaims", bind_claim(claim, pv),
                                             ns)
        await self._claim_status(claim, pv, "Bound")
        logger.info("bound", extra={"claim": f"{ns}/{name_of(claim)}",
                                    "volume": name_of(pv)})

    async def _provision(self, claim: Obj, cls: Obj, node_name: str, node: Obj | None) -> None:
        ns, name = namespace_of(claim), name_of(claim)
        if annotations_of(claim).get(STORAGE_PROVISIONER) != localpath.PROVISIONER:
            await self.client.patch("persistentvolumeclaims", name, {"metadata": {
                "annotations": {STORAGE_PROVISIONER: localpath.PROVISIONER,
                                BETA_STORAGE_PROVISIONER: localpath.PROVISIONER}}}, ns,
                patch_type="merge")
        try:
            pv = localpath.provision(claim, cls, node_name, node)
        except localpath.ProvisioningError as e:
            self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                f'failed to provision volume with StorageClass '
                                f'"{name_of(cls)}": {e}')
            return
        if self.volumes.store.get_by_key(name_of(pv)) is not None:
            return  # made already; its add event brings the claim back here to bind
        self.recorder.event(claim, "Normal", "Provisioning",
                            f'External provisioner is provisioning volume for claim '
                            f'"{ns}/{name}"')
        pv["status"] = {"phase": "Pending"}
        with contextlib.suppress(errors.AlreadyExists):
            await self.client.create("persistentvolumes", pv)
            self.recorder.event(claim, "Normal", "ProvisioningSucceeded",
                                f"Successfully provisioned volume {name_of(pv)}")

    async def _claim_status(self, claim: Obj, pv: Obj | None, phase: str) -> None:
        status = bound_claim_status(claim, pv, phase)
        if status == (claim.get("status") or {}):
            return
        fresh = copy.deepcopy(claim)
        fresh["status"] = status
        with contextlib.suppress(errors.NotFound):
            await self.client.update_status("persistentvolumeclaims", fresh,
                                            namespace_of(claim))

    async def _release_protection(self, claim: Obj) -> None:
        finalizers = list((claim.get("metadata") or {}).get("finalizers") or [])
        if PVC_PROTECTION not in finalizers:
            return
        if claim_in_use(claim, list(self.pods.store.by_index(NAMESPACE_INDEX,
                                                             namespace_of(claim)))):
            return  # a pod's change brings the claim back here
        fresh = copy.deepcopy(claim)
        fresh["metadata"]["finalizers"] = [f for f in finalizers if f != PVC_PROTECTION]
        with contextlib.suppress(errors.NotFound):
            await self.client.update("persistentvolumeclaims", fresh, namespace_of(claim))

    # ---- volumes ------------------------------------------------------------------------------

    async def sync_volume(self, name: str) -> None:
        pv = self.volumes.store.get_by_key(name)
        if pv is None or is_deleting(pv):
            return
        ref = claim_ref(pv)
        claim: Obj | None = None
        if ref is not None:
            claim = await self._claim_for(ref)
        plan = plan_volume(pv, claim)
        self._event(pv, plan.event)
        if plan.action == "unbind":
            pv = await self.client.update("persistentvolumes", unbind_volume(pv))
        await self._volume_status(pv, plan.phase, plan.event.message if plan.event else "")
        if plan.action == "delete":
            with contextlib.suppress(errors.NotFound):
                await self.client.delete("persistentvolumes", name)
            logger.info("deleted a released volume", extra={"volume": name})
        if claim is not None and not (claim.get("spec") or {}).get("volumeName"):
            self.queue.add(f"claim:{namespace_of(claim)}/{name_of(claim)}")

    async def _claim_for(self, ref: Obj) -> Obj | None:
        """The claim a claimRef names; a claim the cache lacks is read from the API
        (it may be new), so a volume is never released on a stale cache."""
        key = f"{ref.get('namespace', '')}/{ref.get('name', '')}"
        claim = self.claims.store.get_by_key(key)
        if claim is not None and (not ref.get("uid") or uid_of(claim) == ref["uid"]):
            return claim
        try:
            return await self.client.get("persistentvolumeclaims", str(ref.get("name", "")),
                                         str(ref.get("namespace", "")))
        except errors.NotFound:
            return None

    async def _volume_status(self, pv: Obj, phase: str, message: str = "") -> None:
        status = dict(pv.get("status") or {})
        if status.get("phase") == phase and (status.get("message") or "") == message:
            return
        if status.get("phase") != phase:
            status["lastPhaseTransitionTime"] = _now()
        status["phase"] = phase
        if message:
            status["message"] = message
        else:
            status.pop("message", None)
        fresh = copy.deepcopy(pv)
        fresh["status"] = status
        with contextlib.suppress(errors.NotFound):
            await self.client.update_status("persistentvolumes", fresh)
