"""A pod's volumes on the node's disk, laid out as kubelet lays them out.

`<root>/pods/<uid>/volumes/<plugin>/<name>`, plugin spelled kubelet's way
(`kubernetes.io~empty-dir`, `kubernetes.io~configmap`, ...), so a reader who
knows /var/lib/kubelet finds their way. ConfigMap, Secret, downwardAPI and
projected volumes are written with kubelet's AtomicWriter: files live in a
timestamped `..2026_11_24_13_00_00.123456789` directory, `..data` is a symlink
to it swapped with one rename, and each top-level name is a symlink through
`..data`. A reader therefore sees the old set of files or the new one, never a
mix, and `setup` called again after a ConfigMap changed rewrites only what
differs.

Differences from kubelet, because this agent runs unprivileged:
- emptyDir with medium Memory is a plain directory (a tmpfs needs CAP_SYS_ADMIN);
  its sizeLimit is recorded (`size_limits`) for eviction, not enforced by the kernel.
- Secrets are files on disk, not on a tmpfs.
- projected serviceAccountToken and clusterTrustBundle sources are skipped
  (no token issuer on the node yet).
- fsGroup ownership is not applied.
- persistentVolumeClaims resolve to their hostPath/local PV's path, used in place
  (kubelet bind-mounts local PVs under the pod dir; Docker's bind mount is the same).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import shutil
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jota.api.meta import Obj
from jota.api.quantity import memory_bytes
from node.agent.env import (
    ConfigError,
    configmap_data,
    configmap_not_found,
    expand,
    field_value,
    resource_value,
    secret_data,
    secret_not_found,
)
from node.runtime.interface import Mount

EMPTY_DIR = "kubernetes.io~empty-dir"
CONFIGMAP = "kubernetes.io~configmap"
SECRET = "kubernetes.io~secret"
DOWNWARD_API = "kubernetes.io~downward-api"
PROJECTED = "kubernetes.io~projected"

DEFAULT_MODE = 0o644
DATA_DIR = "..data"
DATA_TMP = "..data_tmp"
# A volume failing to set up leaves the container waiting in ContainerCreating (with a
# FailedMount event), as kubelet does; it is not a CreateContainerConfigError.
MOUNT_WAIT = "ContainerCreating"


class VolumeError(ConfigError):
    """A volume cannot be set up; `event` is the FailedMount event's text."""

    def __init__(self, volume: str, message: str, event: str = "") -> None:
        super().__init__(message, reason=MOUNT_WAIT)
        self.volume = volume
        self.event = event or f'MountVolume.SetUp failed for volume "{volume}" : {message}'


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int


Payload = dict[str, FileProjection]


# ---- payloads: what each volume's files hold (pure) ------------------------------------------


def _mode(value: Any, default: int) -> int:
    return int(value) if value is not None else default


def _items_payload(data: Mapping[str, bytes], items: list[Obj] | None, default_mode: int,
                   optional: bool, missing: str) -> Payload:
    """configmap.MakePayload / secret.MakePayload."""
    if not items:
        return {k: FileProjection(v, default_mode) for k, v in data.items()}
    out: Payload = {}
    for item in items:
        key = item["key"]
        if key not in data:
            if optional:
                continue
            raise ConfigError(f"{missing}: {key}")
        out[item.get("path") or key] = FileProjection(data[key],
                                                      _mode(item.get("mode"), default_mode))
    return out


def configmap_payload(source: Obj, configmaps: Mapping[str, Obj], default_mode: int) -> Payload:
    name = source.get("name", "")
    optional = bool(source.get("optional"))
    cm = configmaps.get(name)
    if cm is None:
        if not optional:
            raise configmap_not_found(name)
        cm = {}
    data = {k: v.encode() for k, v in configmap_data(cm).items()}
    for k, v in (cm.get("binaryData") or {}).items():
        data[k] = base64.b64decode(v)
    return _items_payload(data, source.get("items"), default_mode, optional,
                          "configmap references non-existent config key")


def secret_payload(source: Obj, secrets: Mapping[str, Obj], default_mode: int,
                   name_key: str = "secretName") -> Payload:
    name = source.get(name_key, "")
    optional = bool(source.get("optional"))
    secret = secrets.get(name)
    if secret is None:
        if not optional:
            raise secret_not_found(name)
        secret = {}
    return _items_payload(secret_data(secret), source.get("items"), default_mode, optional,
                          "references non-existent secret key")


def downward_payload(pod: Obj, items: list[Obj], default_mode: int) -> Payload:
    out: Payload = {}
    containers = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
    for item in items:
        if item.get("fieldRef"):
            text = field_value(pod, item["fieldRef"]["fieldPath"])
        elif item.get("resourceFieldRef"):
            ref = item["resourceFieldRef"]
            container = containers.get(ref.get("containerName"))
            if container is None:
                raise ConfigError(f"cannot find container: {ref.get('containerName')}")
            text = resource_value(container, ref["resource"], ref.get("divisor"))
        else:
            continue
        out[item["path"]] = FileProjection(text.encode(), _mode(item.get("mode"), default_mode))
    return out


def projected_payload(pod: Obj, source: Obj, configmaps: Mapping[str, Obj],
                      secrets: Mapping[str, Obj]) -> Payload:
    default_mode = _mode(source.get("defaultMode"), DEFAULT_MODE)
    out: Payload = {}
    for src in source.get("sources") or []:
        if src.get("configMap") is not None:
            out.update(configmap_payload(src["configMap"], configmaps, default_mode))
        elif src.get("secret") is not None:
            out.update(secret_payload(src["secret"], secrets, default_mode, name_key="name"))
        elif src.get("downwardAPI") is not None:
            out.update(downward_payload(pod, src["downwardAPI"].get("items") or [],
                                        default_mode))
    return out


# ---- kubelet's AtomicWriter -------------------------------------------------------------------


def _check_payload(payload: Payload) -> dict[str, FileProjection]:
    clean: dict[str, FileProjection] = {}
    for path, proj in payload.items():
        p = PurePosixPath(path)
        if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0].startswith(".."):
            raise ConfigError(f"invalid path: {path}")
        clean[str(p)] = proj
    return clean


def _same(payload: dict[str, FileProjection], ts_dir: Path) -> bool:
    """Whether the visible files already hold exactly this payload."""
    try:
        existing = {str(p.relative_to(ts_dir)) for p in ts_dir.rglob("*") if p.is_file()}
    except OSError:
        return False
    if existing != set(payload):
        return False
    for path, proj in payload.items():
        f = ts_dir / path
        try:
            if stat.S_IMODE(f.stat().st_mode) != proj.mode or f.read_bytes() != proj.data:
                return False
        except OSError:
            return False
    return True


def _new_ts_dir(target: Path) -> Path:
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    while True:
        candidate = target / f"{stamp}{random.randrange(10**9):09d}"
        try:
            candidate.mkdir(mode=0o755)
        except FileExistsError:
            continue
        os.chmod(candidate, 0o755)
        return candidate


def atomic_write(target: Path, payload: Payload) -> bool:
    """Make `target` show exactly `payload`; False when it already did (nothing written)."""
    clean = _check_payload(payload)
    target.mkdir(parents=True, exist_ok=True)
    data_link = target / DATA_DIR
    old_ts: Path | None = None
    if data_link.is_symlink():
        old_ts = target / os.readlink(data_link)
        if _same(clean, old_ts):
            return False
    ts_dir = _new_ts_dir(target)
    for path, proj in clean.items():
        f = ts_dir / path
        f.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        f.write_bytes(proj.data)
        os.chmod(f, proj.mode)
    tmp_link = target / DATA_TMP
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    os.symlink(ts_dir.name, tmp_link)
    os.rename(tmp_link, data_link)  # the one atomic step readers see
    top = {PurePosixPath(p).parts[0] for p in clean}
    for name in top:
        link = target / name
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link) if link.is_dir() else link.unlink()
            os.symlink(f"{DATA_DIR}/{name}", link)
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.name not in top and entry.is_symlink():
            entry.unlink()
    if old_ts is not None and old_ts.name != ts_dir.name:
        shutil.rmtree(old_ts, ignore_errors=True)
    return True


# ---- hostPath ----------------------------------------------------------------------------------


def check_host_path(path: str, kind: str) -> None:
    """hostutil's checkType, creating what the *OrCreate types ask for."""
    p = Path(path)
    if kind == "":
        return
    if kind == "DirectoryOrCreate" and not p.exists():
        p.mkdir(parents=True, mode=0o755, exist_ok=True)
        return
    if kind == "FileOrCreate" and not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch(mode=0o644)
        return
    checks = {
        "DirectoryOrCreate": (stat.S_ISDIR, "is not a directory"),
        "Directory": (stat.S_ISDIR, "is not a directory"),
        "FileOrCreate": (stat.S_ISREG, "is not a file"),
        "File": (stat.S_ISREG, "is not a file"),
        "Socket": (stat.S_ISSOCK, "is not a socket file"),
        "CharDevice": (stat.S_ISCHR, "is not a character device"),
        "BlockDevice": (stat.S_ISBLK, "is not a block device"),
    }
    if kind not in checks:
        raise ConfigError(f"{kind} is an invalid volume type")
    test, words = checks[kind]
    try:
        ok = test(os.stat(path).st_mode)
    except OSError:
        ok = False
    if not ok:
        raise ConfigError(f"hostPath type check failed: {path} {words}")


def pv_path(pv: Obj) -> tuple[str, str]:
    """(host path, hostPath type) of a PV the node can use in place."""
    spec = pv.get("spec") or {}
    if spec.get("hostPath"):
        return str(spec["hostPath"]["path"]), str(spec["hostPath"].get("type") or "")
    if spec.get("local"):
        return str(spec["local"]["path"]), "Directory"
    name = (pv.get("metadata") or {}).get("name", "")
    raise ConfigError(f'persistentvolume "{name}" is not a hostPath or local volume: '
                      f"this node cannot mount it")


# ---- the manager -------------------------------------------------------------------------------


class VolumeManager:
    """Sets up and tears down pod volumes under `<root>/pods/<uid>/volumes`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._size_limits: dict[str, dict[str, int]] = {}

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    def volume_dir(self, uid: str, plugin: str, name: str) -> Path:
        return self.pod_dir(uid) / "volumes" / plugin / name

    def size_limits(self, uid: str) -> dict[str, int]:
        """emptyDir sizeLimits in bytes by volume name (recorded, not enforced)."""
        return dict(self._size_limits.get(uid, {}))

    async def setup(self, pod: Obj, configmaps: Mapping[str, Obj], secrets: Mapping[str, Obj],
                    pvs: Mapping[str, Obj] | None = None) -> dict[str, str]:
        """Volume name -> host path, every volume of the pod ready; calling it again
        brings ConfigMap/Secret/downwardAPI files up to date (the update path)."""
        return await asyncio.to_thread(self.setup_sync, pod, configmaps, secrets, pvs or {})

    async def update(self, pod: Obj, configmaps: Mapping[str, Obj],
                     secrets: Mapping[str, Obj]) -> dict[str, str]:
        """Rewrite projected files whose source changed (only those), atomically;
        claims are left as they are mounted."""
        return await asyncio.to_thread(self.setup_sync, pod, configmaps, secrets, None)

    def setup_sync(self, pod: Obj, configmaps: Mapping[str, Obj],
                   secrets: Mapping[str, Obj], pvs: Mapping[str, Obj] | None
                   ) -> dict[str, str]:
        """`pvs`: claim name -> its bound PV; None skips claims (an update)."""
        uid = str(pod["metadata"]["uid"])
        paths: dict[str, str] = {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = vol["name"]
            if pvs is None and vol.get("persistentVolumeClaim") is not None:
                continue
            try:
                paths[name] = self._setup_one(uid, pod, vol, configmaps, secrets, pvs)
            except VolumeError:
                raise
            except ConfigError as e:
                raise VolumeError(name, e.message) from None
            except OSError as e:  # a hostPath/PV directory the agent may not create
                raise VolumeError(name, f"{e.strerror or e}: {e.filename or ''}") from None
        return paths

    def _setup_one(self, uid: str, pod: Obj, vol: Obj, configmaps: Mapping[str, Obj],
                   secrets: Mapping[str, Obj], pvs: Mapping[str, Obj] | None) -> str:
        name = vol["name"]
        if vol.get("hostPath") is not None:
            path = str(vol["hostPath"]["path"])
            check_host_path(path, str(vol["hostPath"].get("type") or ""))
            return path
        if vol.get("persistentVolumeClaim") is not None:
            claim = vol["persistentVolumeClaim"]["claimName"]
            pv = (pvs or {}).get(claim)
            if pv is None:
                raise ConfigError(f'persistentvolumeclaim "{claim}" not found')
            path, kind = pv_path(pv)
            check_host_path(path, kind)
            return path
        if vol.get("configMap") is not None:
            src = vol["configMap"]
            payload = configmap_payload(src, configmaps,
                                        _mode(src.get("defaultMode"), DEFAULT_MODE))
            return self._write(uid, CONFIGMAP, name, payload)
        if vol.get("secret") is not None:
            src = vol["secret"]
            payload = secret_payload(src, secrets, _mode(src.get("defaultMode"), DEFAULT_MODE))
            return self._write(uid, SECRET, name, payload)
        if vol.get("downwardAPI") is not None:
            src = vol["downwardAPI"]
            payload = downward_payload(pod, src.get("items") or [],
                                       _mode(src.get("defaultMode"), DEFAULT_MODE))
            return self._write(uid, DOWNWARD_API, name, payload)
        if vol.get("projected") is not None:
            payload = projected_payload(pod, vol["projected"], configmaps, secrets)
            return self._write(uid, PROJECTED, name, payload)
        # emptyDir, and anything this node cannot provide natively, is a scratch directory.
        src = vol.get("emptyDir") or {}
        if src.get("sizeLimit") is not None:
            self._size_limits.setdefault(uid, {})[name] = memory_bytes(src["sizeLimit"])
        d = self.volume_dir(uid, EMPTY_DIR, name)
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o777)  # any container user may write, as kubelet's emptyDir
        return str(d)

    def _write(self, uid: str, plugin: str, name: str, payload: Payload) -> str:
        d = self.volume_dir(uid, plugin, name)
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o777)
        atomic_write(d, payload)
        return str(d)

    def mounts(self, pod: Obj, container: Obj, paths: Mapping[str, str], *,
               env: Mapping[str, str] | None = None) -> list[Mount]:
        """The container's volumeMounts as runtime mounts; a missing subPath directory
        is created (with the volume's mode) before the runtime sees it."""
        volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
        out: list[Mount] = []
        for vm in container.get("volumeMounts") or []:
            name = vm["name"]
            if name not in paths:
                raise ConfigError(f'cannot find volume "{name}" to mount into container '
                                  f'"{container["name"]}"')
            host = paths[name]
            sub = str(vm.get("subPath") or "")
            if not sub and vm.get("subPathExpr"):
                sub = expand(str(vm["subPathExpr"]), env or {})
            if sub:
                host = _sub_path(host, sub, name, str(container["name"]))
            out.append(Mount(host_path=host, container_path=str(vm["mountPath"]),
                             readonly=bool(vm.get("readOnly"))
                             or _always_readonly(volumes.get(name, {}))))
        return out

    async def teardown(self, uid: str) -> None:
        """Remove the pod's directory; hostPath and PV data live elsewhere and stay."""
        self._size_limits.pop(uid, None)
        await asyncio.to_thread(shutil.rmtree, self.pod_dir(uid), True)

    def orphaned(self, active_uids: set[str] | frozenset[str] | list[str]) -> list[str]:
        """Pod directories on disk whose pod this node no longer runs."""
        pods = self.root / "pods"
        if not pods.is_dir():
            return []
        active = set(active_uids)
        return sorted(p.name for p in pods.iterdir() if p.is_dir() and p.name not in active)


def _always_readonly(vol: Obj) -> bool:
    """Projected volumes are read-only in the container, and a claim can ask for it."""
    if any(vol.get(k) is not None for k in ("configMap", "secret", "downwardAPI", "projected")):
        return True
    return bool((vol.get("persistentVolumeClaim") or {}).get("readOnly"))


def _sub_path(volume: str, sub: str, name: str, container: str) -> str:
    base = Path(volume).resolve()
    target = Path(volume) / sub
    if not os.path.lexists(target):
        try:
            target.mkdir(parents=True, mode=stat.S_IMODE(base.stat().st_mode))
        except OSError:
            raise ConfigError(f'failed to create subPath directory for volumeMount "{name}" '
                              f'of container "{container}"') from None
    real = target.resolve()
    if real != base and base not in real.parents:
        raise ConfigError(f'subpath "{real}" not within volume path "{base}"')
    return str(real)
