"""A pod's PersistentVolumeClaims, resolved to the PVs the node mounts.

As kubelet's desired-state populator (getPVCExtractPV): a claim that is missing,
being deleted or not Bound leaves the pod in ContainerCreating with a FailedMount
event in kubelet's words, and the pod worker tries again on its next sync; a
bound claim gives its PV (the volume manager mounts its hostPath/local path).
A local-path PV's directory is made here, world-writable as k3s's helper makes
it, so a container of any user can write its claim.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from jota.api import errors
from jota.api.localpath import PROVISIONED_BY, PROVISIONER
from jota.api.meta import Obj, annotations_of
from jota.client import Client
from node.agent.volumes import VolumeError


def claim_volumes(pod: Obj) -> dict[str, str]:
    """Volume name -> claim name."""
    out: dict[str, str] = {}
    for v in (pod.get("spec") or {}).get("volumes") or []:
        if v.get("persistentVolumeClaim") is not None:
            out[v["name"]] = str(v["persistentVolumeClaim"].get("claimName", ""))
    return out


def claim_problem(claim: Obj) -> str:
    """Why kubelet would not mount this claim yet ("" when it would)."""
    md, spec = claim.get("metadata") or {}, claim.get("spec") or {}
    ns, name = md.get("namespace", ""), md.get("name", "")
    if md.get("deletionTimestamp"):
        return f"can't start pod because PVC {ns}/{name} is being deleted"
    phase = (claim.get("status") or {}).get("phase") or "Pending"
    if phase != "Bound" or not spec.get("volumeName"):
        return "PVC is not bound"
    return ""


def failed_mount(volume: str, ns: str, claim: str, why: str) -> VolumeError:
    text = f"error processing PVC {ns}/{claim}: {why}"
    return VolumeError(volume, text, event=(
        f"Unable to attach or mount volumes: unmounted volumes=[{volume}], "
        f"unattached volumes=[], failed to process volumes=[{volume}]: {text}"))


def _make_dir(path: str) -> None:
    p = Path(path)
    if not p.is_dir():
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, 0o777)


async def resolve_claims(client: Client, pod: Obj) -> dict[str, Obj]:
    """Claim name -> its bound PV, for every claim the pod mounts."""
    ns = (pod.get("metadata") or {}).get("namespace", "")
    pvs: dict[str, Obj] = {}
    for volume, name in claim_volumes(pod).items():
        try:
            claim = await client.get("persistentvolumeclaims", name, ns)
        except errors.NotFound:
            raise failed_mount(volume, ns, name, "failed to fetch PVC from API server: "
                               f'persistentvolumeclaims "{name}" not found') from None
        why = claim_problem(claim)
        if why:
            raise failed_mount(volume, ns, name, why)
        pv_name = claim["spec"]["volumeName"]
        try:
            pv = await client.get("persistentvolumes", pv_name)
        except errors.NotFound:
            raise failed_mount(volume, ns, name, "failed to fetch PV from API server: "
                               f'persistentvolumes "{pv_name}" not found') from None
        host_path = (pv.get("spec") or {}).get("hostPath") or {}
        if annotations_of(pv).get(PROVISIONED_BY) == PROVISIONER and host_path.get("path"):
            try:
                await asyncio.to_thread(_make_dir, str(host_path["path"]))
            except OSError as e:
                raise VolumeError(volume, f"cannot create {host_path['path']}: "
                                  f"{e.strerror or e}") from None
        pvs[name] = pv
    return pvs
