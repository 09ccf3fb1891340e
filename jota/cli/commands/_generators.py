"""The objects `jota create KIND`, `jota run` and `jota expose` build from flags.

Pure functions (file reading is kept in `read_sources`) that return the document
kubectl would send, field for field, so `--dry-run=client -o yaml` prints what a
kubectl user expects to redirect into a manifest.
"""

from __future__ import annotations

import base64
import os
import random
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jota.api.meta import Obj
from jota.api.names import is_config_map_key
from jota.cli.context import UsageError

Pair = tuple[str, bytes]


def _meta(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if labels:
        md["labels"] = dict(labels)
    if namespace:
        md["namespace"] = namespace
    return md


def namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
            "spec": {}, "status": {}}


def service_account(name: str, ns: str = "") -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, ns)}


# ---- ConfigMap and Secret data ------------------------------------------------------------

def parse_literal(source: str) -> Pair:
    key, sep, value = source.partition("=")
    if not sep:
        raise UsageError(f"invalid literal source {source}, expected key=value")
    return key, value.encode()


def parse_file_source(source: str) -> tuple[str, str]:
    """`[key=]path`: the key defaults to the file's base name."""
    count = source.count("=")
    if count == 0:
        return os.path.basename(source.rstrip("/")), source
    if count > 1:
        raise UsageError("key names or file paths cannot contain '='")
    key, path = source.split("=")
    if not key:
        raise UsageError(f"key name for file path {path} missing")
    if not path:
        raise UsageError(f"file path for key name {key} missing")
    return key, path


def read_sources(literals: Iterable[str], files: Iterable[str],
                 env_files: Iterable[str] = ()) -> list[Pair]:
    """Every (key, value) named by --from-literal, --from-file (a file or every regular
    file of a directory) and --from-env-file, in kubectl's order: files first."""
    pairs: list[Pair] = []
    for source in files:
        key, path = parse_file_source(source)
        p = Path(path)
        if p.is_dir():
            if "=" in source:
                raise UsageError("cannot give a key name for a directory path")
            pairs.extend((f.name, f.read_bytes()) for f in sorted(p.iterdir()) if f.is_file())
        elif p.exists():
            pairs.append((key, p.read_bytes()))
        else:
            raise UsageError(f"error reading {path}: no such file or directory")
    pairs.extend(parse_literal(s) for s in literals)
    for path in env_files:
        try:
            text = Path(path).read_text()
        except OSError:
            raise UsageError(f"error reading {path}: no such file or directory") from None
        pairs.extend(parse_env_file(text, path))
    return pairs


def parse_env_file(text: str, source: str) -> list[Pair]:
    pairs: list[Pair] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            value = os.environ.get(key, "")
        if not key:
            raise UsageError(f"{source}: line {n}: key may not be empty")
        pairs.append((key, value.encode()))
    return pairs


def _check_key(key: str, seen: set[str], kind: str, name: str) -> None:
    errs = is_config_map_key(key)
    if errs:
        raise UsageError(f'"{key}" is not a valid key name for a {kind}: {",".join(errs)}')
    if key in seen:
        raise UsageError(f'cannot add key "{key}", another key by that name already exists '
                         f'in Data for {kind} "{name}"')
    seen.add(key)


def configmap(name: str, pairs: list[Pair], ns: str = "") -> Obj:
    """Text values go to `data`, anything not UTF-8 to `binaryData` (base64)."""
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in pairs:
        _check_key(key, seen, "ConfigMap", name)
        try:
            data[key] = value.decode()
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(value).decode()
    obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, ns)}
    if binary:
        obj["binaryData"] = binary
    if data:
        obj["data"] = data
    return obj


def secret(name: str, pairs: list[Pair], type_: str = "", ns: str = "") -> Obj:
    data: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in pairs:
        _check_key(key, seen, "Secret", name)
        data[key] = base64.b64encode(value).decode()
    obj: Obj = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name, ns)}
    if data:
        obj["data"] = data
    if type_:
        obj["type"] = type_
    return obj


# ---- workloads ------------------------------------------------------------------------

def container_name(image: str) -> str:
    """kubectl's name for a container of `image`: its base name without tag or digest,
    made a valid name (`_` and `.` become `-`, with a random suffix to stay unique)."""
    name = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    if "_" in name or "." in name:
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        name = name.replace("_", "-").replace(".", "-") + "-" + suffix
    return name


def deployment(name: str, images: list[str], *, replicas: int = 1, port: int = -1,
               command: list[str] | None = None, ns: str = "") -> Obj:
    labels = {"app": name}
    containers: list[dict[str, Any]] = [
        {"image": image, "name": container_name(image), "resources": {}} for image in images]
    if command and containers:
        containers[0]["command"] = list(command)
    if port >= 0 and containers:
        containers[0]["ports"] = [{"containerPort": port}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, ns, labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "strategy": {},
            "template": {"metadata": {"labels": dict(labels)},
                         "spec": {"containers": containers}},
        },
        "status": {},
    }


def parse_env(items: Iterable[str]) -> list[dict[str, str]]:
    env = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid env: {item}")
        env.append({"name": key, "value": value})
    return env


def parse_pairs(text: str, what: str = "label") -> dict[str, str]:
    """`k=v,k2=v2` as --labels and --selector take it."""
    result: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid {what}: {item!r}, expected key=value")
        result[key] = value
    return result


def pod(name: str, image: str, *, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, port: int = -1,
        env: list[dict[str, str]] | None = None, restart: str = "Always",
        args: list[str] | None = None, command: bool = False, pull_policy: str = "",
        ns: str = "") -> Obj:
    c: dict[str, Any] = {"image": image, "name": name}
    if args:
        c["command" if command else "args"] = list(args)
    if env:
        c["env"] = env
    if pull_policy:
        c["imagePullPolicy"] = pull_policy
    if port >= 0:
        c["ports"] = [{"containerPort": port}]
    c["resources"] = {}
    md = _meta(name, ns, labels if labels is not None else {"run": name})
    if annotations:
        md["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"containers": [c], "dnsPolicy": "ClusterFirst", "restartPolicy": restart},
            "status": {}}


# ---- Services -------------------------------------------------------------------------

def int_or_string(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def parse_tcp(spec: str) -> dict[str, Any]:
    """`--tcp=PORT[:TARGET]`, as `kubectl create service` names its ports `80-8080`."""
    port_text, _, target = spec.partition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f'strconv.Atoi: parsing "{port_text}": invalid syntax') from None
    return {"name": spec.replace(":", "-"), "port": port, "protocol": "TCP",
            "targetPort": int_or_string(target) if target else port}


def create_service(name: str, type_: str, tcp: list[str], *, cluster_ip: str = "",
                   node_port: int = 0, external_name: str = "", ns: str = "") -> Obj:
    if type_ == "ExternalName":
        ports: list[dict[str, Any]] = []
    else:
        if not tcp and cluster_ip != "None":
            raise UsageError("at least one tcp port specifier must be provided")
        ports = [parse_tcp(t) for t in tcp]
        if node_port:
            for p in ports:
                p["nodePort"] = node_port
    labels = {"app": name}
    spec: dict[str, Any] = {"ports": ports, "selector": dict(labels), "type": type_}
    if not ports:
        del spec["ports"]
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    if external_name:
        spec["externalName"] = external_name
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, labels),
            "spec": spec, "status": {"loadBalancer": {}}}


def exposed_service(name: str, selector: dict[str, str], ports: list[str], *,
                    labels: dict[str, str] | None = None,
                    protocols: dict[str, list[str]] | None = None, protocol: str = "",
                    target_port: str = "", type_: str = "", cluster_ip: str = "",
                    external_ip: str = "", ns: str = "") -> Obj:
    """The Service `jota expose` (and `jota run --expose`) creates: one port per port
    found, named `port-N` when there are several, each targeting --target-port or itself."""
    if not selector:
        raise UsageError("selector must be specified")
    service_ports: list[dict[str, Any]] = []
    for i, text in enumerate(ports, start=1):
        try:
            number = int(text)
        except ValueError:
            raise UsageError(f'strconv.Atoi: parsing "{text}": invalid syntax') from None
        port_name = f"port-{i}" if len(ports) > 1 else ""
        found = (protocols or {}).get(text, [])
        if not protocol and len(found) > 1:
            for proto in found:
                service_ports.append({"name": f"port-{i}-{proto.lower()}", "port": number,
                                      "protocol": proto})
            continue
        proto = protocol or (found[0] if found else "TCP")
        entry: dict[str, Any] = {"port": number, "protocol": proto}
        if port_name:
            entry = {"name": port_name, **entry}
        service_ports.append(entry)
    for p in service_ports:
        p["targetPort"] = int_or_string(target_port) if target_port else p["port"]
    spec: dict[str, Any] = {"ports": service_ports, "selector": dict(selector)}
    if type_:
        spec["type"] = type_
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    if external_ip:
        spec["externalIPs"] = [external_ip]
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, labels),
            "spec": spec, "status": {"loadBalancer": {}}}
