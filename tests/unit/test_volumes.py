"""Pod volumes on disk: kubelet's layout, hostPath checks, AtomicWriter, mounts, cleanup."""

from __future__ import annotations

import base64
import os
import re
import socket
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from node.agent.env import ConfigError
from node.agent.volumes import VolumeError, VolumeManager, atomic_write, check_host_path
from node.runtime.interface import Mount

UID = "u-1"
TS_DIR = re.compile(r"^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d{9}$")


def pod(*volumes: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-1", "namespace": "default", "uid": UID,
                         "labels": {"app": "web"}, **meta},
            "spec": {"containers": [{"name": "app", "image": "busybox",
                                     "resources": {"limits": {"cpu": "500m",
                                                              "memory": "64Mi"}}}],
                     "volumes": list(volumes)}}


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": data}


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def listing(d: Path) -> dict[str, str]:
    """Top-level entries: symlink targets, or 'dir'."""
    return {e.name: os.readlink(e) if e.is_symlink() else "dir" for e in d.iterdir()}


@pytest.fixture
def vm(tmp_path: Path) -> VolumeManager:
    return VolumeManager(tmp_path / "node")


# ---- emptyDir ----------------------------------------------------------------------------------


async def test_empty_dir_layout(vm: VolumeManager, tmp_path: Path) -> None:
    paths = await vm.setup(pod({"name": "cache", "emptyDir": {}},
                               {"name": "mem", "emptyDir": {"medium": "Memory",
                                                            "sizeLimit": "64Mi"}}), {}, {})
    base = tmp_path / "node/pods/u-1/volumes/kubernetes.io~empty-dir"
    assert paths == {"cache": str(base / "cache"), "mem": str(base / "mem")}
    assert mode(base / "cache") == 0o777
    assert vm.size_limits(UID) == {"mem": 64 * 1024 * 1024}
    (base / "cache" / "keep").write_text("x")
    await vm.setup(pod({"name": "cache", "emptyDir": {}}), {}, {})
    assert (base / "cache" / "keep").read_text() == "x"  # setup again keeps the contents


# ---- hostPath ----------------------------------------------------------------------------------


def test_host_path_types(tmp_path: Path) -> None:
    d, f = tmp_path / "d", tmp_path / "f"
    d.mkdir()
    f.write_text("x")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    try:
        ok = [(str(d), "Directory"), (str(d), "DirectoryOrCreate"), (str(f), "File"),
              (str(f), "FileOrCreate"), (str(tmp_path / "s"), "Socket"),
              ("/dev/null", "CharDevice"), (str(tmp_path / "missing"), "")]
        for path, kind in ok:
            check_host_path(path, kind)
        bad = [(str(f), "Directory", "is not a directory"),
               (str(tmp_path / "none"), "Directory", "is not a directory"),
               (str(f), "DirectoryOrCreate", "is not a directory"),
               (str(d), "File", "is not a file"),
               (str(d), "FileOrCreate", "is not a file"),
               (str(f), "Socket", "is not a socket file"),
               (str(f), "CharDevice", "is not a character device"),
               ("/dev/null", "BlockDevice", "is not a block device")]
        for path, kind, words in bad:
            with pytest.raises(ConfigError) as e:
                check_host_path(path, kind)
            assert e.value.message == f"hostPath type check failed: {path} {words}"
    finally:
        sock.close()
    with pytest.raises(ConfigError, match="Nope is an invalid volume type"):
        check_host_path(str(d), "Nope")


def test_host_path_or_create(tmp_path: Path) -> None:
    check_host_path(str(tmp_path / "a/b"), "DirectoryOrCreate")
    check_host_path(str(tmp_path / "c/file"), "FileOrCreate")
    assert (tmp_path / "a/b").is_dir() and (tmp_path / "c/file").is_file()


async def test_host_path_volume(vm: VolumeManager, tmp_path: Path) -> None:
    (tmp_path / "data").write_text("x")
    paths = await vm.setup(pod({"name": "h", "hostPath": {"path": str(tmp_path)}}), {}, {})
    assert paths == {"h": str(tmp_path)}
    with pytest.raises(VolumeError) as e:
        await vm.setup(pod({"name": "h", "hostPath": {"path": str(tmp_path / "data"),
                                                       "type": "Directory"}}), {}, {})
    assert e.value.reason == "ContainerCreating"
    assert e.value.message == f"hostPath type check failed: {tmp_path / 'data'} is not a directory"
    assert e.value.event == (f'MountVolume.SetUp failed for volume "h" : {e.value.message}')


# ---- persistentVolumeClaim ----------------------------------------------------------------------


async def test_pvc_bound_to_host_path_and_local(vm: VolumeManager, tmp_path: Path) -> None:
    (tmp_path / "local").mkdir()
    pvs = {"data": {"metadata": {"name": "pv1"},
                    "spec": {"hostPath": {"path": str(tmp_path / "pv1"),
                                          "type": "DirectoryOrCreate"}}},
           "logs": {"metadata": {"name": "pv2"}, "spec": {"local": {"path": str(tmp_path
                                                                            / "local")}}}}
    p = pod({"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "l", "persistentVolumeClaim": {"claimName": "logs", "readOnly": True}})
    paths = await vm.setup(p, {}, {}, pvs)
    assert paths == {"d": str(tmp_path / "pv1"), "l": str(tmp_path / "local")}
    assert (tmp_path / "pv1").is_dir()
    container = {"name": "app", "volumeMounts": [{"name": "d", "mountPath": "/d"},
                                                 {"name": "l", "mountPath": "/l"}]}
    assert vm.mounts(p, container, paths) == [Mount(str(tmp_path / "pv1"), "/d", False),
                                              Mount(str(tmp_path / "local"), "/l", True)]
    with pytest.raises(VolumeError, match='persistentvolumeclaim "other" not found'):
        await vm.setup(pod({"name": "x", "persistentVolumeClaim": {"claimName": "other"}}),
                       {}, {}, pvs)


# ---- configMap and secret: AtomicWriter ----------------------------------------------------------


async def test_configmap_layout_is_kubelets(vm: VolumeManager, tmp_path: Path) -> None:
    paths = await vm.setup(pod({"name": "cfg", "configMap": {"name": "app"}}),
                           {"app": cm("app", **{"a.conf": "A", "b.conf": "B"})}, {})
    d = tmp_path / "node/pods/u-1/volumes/kubernetes.io~configmap/cfg"
    assert paths == {"cfg": str(d)}
    entries = listing(d)
    ts = entries.pop(os.readlink(d / "..data"))
    assert ts == "dir" and TS_DIR.match(os.readlink(d / "..data"))
    assert entries == {"..data": os.readlink(d / "..data"), "a.conf": "..data/a.conf",
                       "b.conf": "..data/b.conf"}
    assert (d / "a.conf").read_text() == "A" and (d / "b.conf").read_text() == "B"
    assert mode(d / "..data" / "a.conf") == 0o644
    assert mode(d / os.readlink(d / "..data")) == 0o755


async def test_items_modes_and_nested_paths(vm: VolumeManager) -> None:
    p = pod({"name": "cfg", "configMap": {"name": "app", "defaultMode": 0o600, "items": [
                {"key": "a", "path": "conf/a.txt", "mode": 0o400}, {"key": "b", "path": "b"}]}},
            {"name": "sec", "secret": {"secretName": "db"}})
    paths = await vm.setup(p, {"app": cm("app", a="A", b="B", c="C")},
                           {"db": secret("db", password="s3cr3t")})
    d = Path(paths["cfg"])
    assert sorted(listing(d)) == sorted(["..data", os.readlink(d / "..data"), "conf", "b"])
    assert os.readlink(d / "conf") == "..data/conf"
    assert (d / "conf/a.txt").read_text() == "A"
    assert mode(d / "..data/conf/a.txt") == 0o400
    assert mode(d / "..data/b") == 0o600
    s = Path(paths["sec"])
    assert (s / "password").read_text() == "s3cr3t"
    assert mode(s / "..data/password") == 0o644  # kubelet's defaultMode, not 0400


@pytest.mark.parametrize(("volume", "message"), [
    ({"configMap": {"name": "gone"}}, 'configmap "gone" not found'),
    ({"secret": {"secretName": "gone"}}, 'secret "gone" not found'),
    ({"configMap": {"name": "app", "items": [{"key": "nope", "path": "x"}]}},
     "configmap references non-existent config key: nope"),
    ({"secret": {"secretName": "db", "items": [{"key": "nope", "path": "x"}]}},
     "references non-existent secret key: nope"),
    ({"projected": {"sources": [{"configMap": {"name": "gone"}}]}},
     'configmap "gone" not found'),
])
async def test_missing_sources(vm: VolumeManager, volume: dict[str, Any], message: str) -> None:
    with pytest.raises(VolumeError) as e:
        await vm.setup(pod({"name": "v", **volume}), {"app": cm("app", a="A")},
                       {"db": secret("db", a="A")})
    assert e.value.message == message
    assert e.value.reason == "ContainerCreating"


async def test_optional_missing_sources_are_empty(vm: VolumeManager) -> None:
    paths = await vm.setup(pod(
        {"name": "c", "configMap": {"name": "gone", "optional": True}},
        {"name": "s", "secret": {"secretName": "gone", "optional": True}},
        {"name": "i", "configMap": {"name": "app", "optional": True,
                                    "items": [{"key": "nope", "path": "x"}]}}),
        {"app": cm("app", a="A")}, {})
    for name in ("c", "s", "i"):
        assert sorted(e for e in listing(Path(paths[name])) if not e.startswith("..")) == []


async def test_update_rewrites_only_on_change(vm: VolumeManager) -> None:
    p = pod({"name": "cfg", "configMap": {"name": "app"}})
    paths = await vm.setup(p, {"app": cm("app", a="1", b="1")}, {})
    d = Path(paths["cfg"])
    first = os.readlink(d / "..data")
    await vm.update(p, {"app": cm("app", a="1", b="1")}, {})
    assert os.readlink(d / "..data") == first  # same content: nothing written
    await vm.update(p, {"app": cm("app", a="2", c="2")}, {})
    second = os.readlink(d / "..data")
    assert second != first
    assert not (d / first).exists()  # the old timestamped directory is gone
    assert listing(d) == {"..data": second, second: "dir", "a": "..data/a", "c": "..data/c"}
    assert (d / "a").read_text() == "2"


def test_atomic_write_mode_change_rewrites(tmp_path: Path) -> None:
    from node.agent.volumes import FileProjection

    assert atomic_write(tmp_path, {"k": FileProjection(b"v", 0o644)})
    assert not atomic_write(tmp_path, {"k": FileProjection(b"v", 0o644)})
    assert atomic_write(tmp_path, {"k": FileProjection(b"v", 0o600)})
    assert mode(tmp_path / "..data/k") == 0o600
    with pytest.raises(ConfigError, match="invalid path"):
        atomic_write(tmp_path, {"../escape": FileProjection(b"v", 0o644)})


def test_reader_never_sees_a_mix(tmp_path: Path) -> None:
    """Files a and b always hold the same version when read through one ..data."""
    from node.agent.volumes import FileProjection

    def payload(n: int) -> dict[str, FileProjection]:
        return {"a": FileProjection(f"v{n:03d}".encode() * 100, 0o644),
                "b": FileProjection(f"v{n:03d}".encode() * 100, 0o644)}

    atomic_write(tmp_path, payload(0))
    stop = threading.Event()
    seen: list[tuple[bytes, bytes]] = []
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                target = os.readlink(tmp_path / "..data")  # the link itself always exists
            except FileNotFoundError:
                problems.append("..data missing")
                continue
            try:
                fd = os.open(tmp_path / target, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue  # an old version, removed since the link was read
            assert TS_DIR.match(target)
            try:
                pair = []
                for name in ("a", "b"):
                    f = os.open(name, os.O_RDONLY, dir_fd=fd)
                    pair.append(os.read(f, 1 << 16))
                    os.close(f)
                seen.append((pair[0], pair[1]))
            except FileNotFoundError:
                pass  # the old version was removed after the swap: not a torn read
            finally:
                os.close(fd)
            try:
                data = (tmp_path / "a").read_bytes()  # through the user-visible symlink
                if len(data) != 400 or data != data[:4] * 100:
                    problems.append(f"partial file {data[:10]!r}")
            except FileNotFoundError:
                pass  # resolved ..data just before the swap, then the old dir went away

    t = threading.Thread(target=reader)
    t.start()
    try:
        for n in range(1, 60):
            atomic_write(tmp_path, payload(n))
    finally:
        stop.set()
        t.join()
    assert not problems
    assert seen and all(a == b for a, b in seen)


# ---- downwardAPI and projected -------------------------------------------------------------


async def test_downward_api_and_label_update(vm: VolumeManager) -> None:
    vol = {"name": "info", "downwardAPI": {"items": [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu",
                                             "divisor": "1m"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "app",
                                             "resource": "limits.memory", "divisor": "1Mi"}}]}}
    paths = await vm.setup(pod(vol), {}, {})
    d = Path(paths["info"])
    assert d.parent.name == "kubernetes.io~downward-api"
    assert {n: (d / n).read_text() for n in ("name", "labels", "cpu", "mem")} == \
        {"name": "web-1", "labels": 'app="web"', "cpu": "500", "mem": "64"}
    await vm.update(pod(vol, labels={"app": "web", "v": "2"}), {}, {})
    assert (d / "labels").read_text() == 'app="web"\nv="2"'


async def test_projected(vm: VolumeManager) -> None:
    vol = {"name": "all", "projected": {"defaultMode": 0o640, "sources": [
        {"configMap": {"name": "app", "items": [{"key": "a", "path": "cfg/a"}]}},
        {"secret": {"name": "db", "items": [{"key": "pw", "path": "secret/pw", "mode": 0o400}]}},
        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath":
                                                               "metadata.namespace"}}]}},
        {"serviceAccountToken": {"path": "token"}}]}}
    paths = await vm.setup(pod(vol), {"app": cm("app", a="A")}, {"db": secret("db", pw="x")})
    d = Path(paths["all"])
    assert d.parent.name == "kubernetes.io~projected"
    assert sorted(e for e in listing(d) if not e.startswith("..")) == ["cfg", "ns", "secret"]
    assert (d / "cfg/a").read_text() == "A" and (d / "secret/pw").read_text() == "x"
    assert (d / "ns").read_text() == "default"
    assert mode(d / "..data/cfg/a") == 0o640 and mode(d / "..data/secret/pw") == 0o400


# ---- mounts ---------------------------------------------------------------------------------


async def test_mounts(vm: VolumeManager, tmp_path: Path) -> None:
    p = pod({"name": "cache", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "app"}},
            {"name": "host", "hostPath": {"path": str(tmp_path)}})
    paths = await vm.setup(p, {"app": cm("app", **{"nginx.conf": "x"})}, {})
    container = {"name": "app", "volumeMounts": [
        {"name": "cache", "mountPath": "/cache"},
        {"name": "cache", "mountPath": "/logs", "subPath": "logs/app"},
        {"name": "cache", "mountPath": "/pod", "subPathExpr": "$(POD_NAME)"},
        {"name": "cfg", "mountPath": "/etc/cfg"},
        {"name": "cfg", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf"},
        {"name": "host", "mountPath": "/host", "readOnly": True}]}
    mounts = vm.mounts(p, container, paths, env={"POD_NAME": "web-1"})
    cache = paths["cache"]
    real_conf = os.path.realpath(Path(paths["cfg"]) / "nginx.conf")
    assert mounts == [Mount(cache, "/cache", False),
                      Mount(f"{cache}/logs/app", "/logs", False),
                      Mount(f"{cache}/web-1", "/pod", False),
                      Mount(paths["cfg"], "/etc/cfg", True),
                      Mount(real_conf, "/etc/nginx/nginx.conf", True),
                      Mount(str(tmp_path), "/host", True)]
    assert Path(cache, "logs/app").is_dir()
    assert mode(Path(cache, "logs/app")) & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


async def test_mount_errors(vm: VolumeManager, tmp_path: Path) -> None:
    p = pod({"name": "cache", "emptyDir": {}})
    paths = await vm.setup(p, {}, {})
    with pytest.raises(ConfigError) as e:
        vm.mounts(p, {"name": "app", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]},
                  paths)
    assert e.value.message == 'cannot find volume "nope" to mount into container "app"'
    assert e.value.reason == "CreateContainerConfigError"
    os.symlink(str(tmp_path), Path(paths["cache"]) / "out")
    with pytest.raises(ConfigError, match="not within volume path"):
        vm.mounts(p, {"name": "app", "volumeMounts": [{"name": "cache", "mountPath": "/x",
                                                        "subPath": "out"}]}, paths)


# ---- teardown ---------------------------------------------------------------------------------


async def test_teardown_and_orphans(vm: VolumeManager, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "keep").write_text("x")
    await vm.setup(pod({"name": "h", "hostPath": {"path": str(host)}},
                       {"name": "c", "emptyDir": {"sizeLimit": "1Mi"}}), {}, {})
    other = pod({"name": "c", "emptyDir": {}})
    other["metadata"]["uid"] = "u-2"
    await vm.setup(other, {}, {})
    assert vm.orphaned({"u-2"}) == ["u-1"]
    assert vm.orphaned([]) == ["u-1", "u-2"]
    await vm.teardown("u-1")
    assert not vm.pod_dir("u-1").exists() and vm.pod_dir("u-2").exists()
    assert (host / "keep").read_text() == "x"  # hostPath data is never removed
    assert vm.size_limits("u-1") == {}
    assert vm.orphaned({"u-2"}) == []
    await vm.teardown("never-existed")
    assert VolumeManager(tmp_path / "empty").orphaned(set()) == []
