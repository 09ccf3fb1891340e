"""A container's environment, as kubelet's makeEnvironmentVariables builds it.

Pure: the agent fetches the ConfigMaps and Secrets `references` names and
passes them in; absence from those dicts means "not found". Order of
precedence is kubelet's: envFrom first (in order), then env entries, each of
which may expand `$(VAR)` references to anything defined before it.

The downward API values (`field_value`, `resource_value`) live here because
both env and the downwardAPI volume read them the same way.

Approximation: a resourceFieldRef on a limit the container does not set reads
the node's allocatable when the agent passes `allocatable`, else 0 (kubelet
always substitutes allocatable).
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jota.api.meta import Obj
from jota.api.quantity import cpu_millis, memory_bytes, parse_quantity

logger = logging.getLogger(__name__)

CONFIG_ERROR = "CreateContainerConfigError"

# utilvalidation.IsEnvVarName: what envFrom keys must look like once prefixed.
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class ConfigError(Exception):
    """The pod asks for something the node cannot give it (yet): the container waits
    with `reason` (CreateContainerConfigError) and `message` in kubelet's words."""

    def __init__(self, message: str, reason: str = CONFIG_ERROR) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# ---- $(VAR) expansion: third_party/forked/golang/expansion ----------------------------------


def _mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    def mapping(name: str) -> str:
        for ctx in contexts:
            if name in ctx:
                return ctx[name]
        return f"$({name})"

    return mapping


def _expand(text: str, mapping: Callable[[str], str]) -> str:
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1:]
            if rest[0] == "$":  # `$$` is an escaped `$`
                out.append("$")
                advance = 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:  # unterminated: left as written
                    out.append("$(")
                    advance = 1
                else:
                    out.append(mapping(rest[1:close]))
                    advance = close + 1
            else:
                out.append("$" + rest[0])
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def expand(text: str, env: Mapping[str, str]) -> str:
    """`$(VAR)` in a command or arg replaced from the container's env; unknown
    references stay as written and `$$` becomes `$`, as Kubernetes does."""
    return _expand(text, _mapping_for(env))


# ---- ConfigMap and Secret data ----------------------------------------------------------------


def configmap_data(cm: Obj) -> dict[str, str]:
    return {str(k): str(v) for k, v in (cm.get("data") or {}).items()}


def secret_data(secret: Obj) -> dict[str, bytes]:
    """Decoded `data`, with `stringData` on top (the apiserver normally folds it in)."""
    out: dict[str, bytes] = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[str(k)] = base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            out[str(k)] = str(v).encode()
    for k, v in (secret.get("stringData") or {}).items():
        out[str(k)] = str(v).encode()
    return out


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def configmap_not_found(name: str) -> ConfigError:
    return ConfigError(f'configmap "{name}" not found')


def secret_not_found(name: str) -> ConfigError:
    return ConfigError(f'secret "{name}" not found')


# ---- the downward API -------------------------------------------------------------------------


def format_map(m: Mapping[str, str]) -> str:
    """fieldpath.FormatMap: `k="v"` lines, sorted; how whole labels/annotations read."""
    return "\n".join(f"{k}={_go_quote(str(m[k]))}" for k in sorted(m))


def _go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def field_value(pod: Obj, field_path: str, *, node_name: str = "", pod_ip: str = "",
                host_ip: str = "") -> str:
    """podFieldSelectorRuntimeValue + fieldpath.ExtractFieldPathAsString."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    pod_ip = pod_ip or str(status.get("podIP") or "")
    host_ip = host_ip or str(status.get("hostIP") or "")
    simple: dict[str, str] = {
        "metadata.name": str(md.get("name") or ""),
        "metadata.namespace": str(md.get("namespace") or ""),
        "metadata.uid": str(md.get("uid") or ""),
        "spec.nodeName": str(spec.get("nodeName") or node_name),
        "spec.serviceAccountName": str(spec.get("serviceAccountName") or ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if field_path in simple:
        return simple[field_path]
    if field_path in ("metadata.labels", "metadata.annotations"):
        return format_map(md.get(field_path.split(".")[1]) or {})
    m = _SUBSCRIPT.match(field_path)
    if m:
        return str((md.get(m.group(1)) or {}).get(m.group(2), ""))
    raise ConfigError(f"unsupported fieldPath: {field_path}")


def resource_value(container: Obj, resource: str, divisor: Any = None,
                   allocatable: Mapping[str, Any] | None = None) -> str:
    """resource.ExtractContainerResourceValue: the amount over the divisor, rounded up."""
    resources = container.get("resources") or {}
    side, _, name = resource.partition(".")
    if side not in ("limits", "requests") or name not in ("cpu", "memory",
                                                          "ephemeral-storage"):
        raise ConfigError(f"unsupported container resource : {resource}")
    amount = (resources.get(side) or {}).get(name)
    if amount is None and side == "limits" and allocatable:
        amount = allocatable.get(name)
    if divisor in (None, "", 0, "0") or parse_quantity(divisor) == 0:
        divisor = "1"
    if name == "cpu":
        value = cpu_millis(amount) if amount is not None else 0
        return str(math.ceil(value / max(cpu_millis(divisor), 1)))
    value = memory_bytes(amount) if amount is not None else 0
    return str(math.ceil(value / max(memory_bytes(divisor), 1)))


# ---- the environment --------------------------------------------------------------------------


def _optional(ref: Mapping[str, Any]) -> bool:
    return bool(ref.get("optional"))


def resolve_env(pod: Obj, container: Obj, *, configmaps: Mapping[str, Obj],
                secrets: Mapping[str, Obj], node_name: str, pod_ip: str, host_ip: str,
                service_env: Mapping[str, str] | None = None,
                allocatable: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The container's environment; ConfigError for a missing non-optional reference.

    `service_env` (the `<SVC>_SERVICE_HOST` variables) is what kubelet adds for
    enableServiceLinks; entries defined by the container win over it.
    """
    ns = str((pod.get("metadata") or {}).get("namespace") or "default")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        if source.get("configMapRef") is not None:
            ref, kind = source["configMapRef"], "configMap"
            cm = configmaps.get(ref.get("name", ""))
            if cm is None:
                if _optional(ref):
                    continue
                raise configmap_not_found(ref.get("name", ""))
            items = configmap_data(cm)
        elif source.get("secretRef") is not None:
            ref, kind = source["secretRef"], "secret"
            secret = secrets.get(ref.get("name", ""))
            if secret is None:
                if _optional(ref):
                    continue
                raise secret_not_found(ref.get("name", ""))
            items = {k: _text(v) for k, v in secret_data(secret).items()}
        else:
            continue
        invalid = []
        for key, value in items.items():
            key = prefix + key
            if not _ENV_NAME.match(key):
                invalid.append(key)
                continue
            env[key] = value
        if invalid:
            logger.warning("Keys [%s] from the EnvFrom %s %s/%s were skipped since they are "
                           "considered invalid environment variable names.",
                           ", ".join(sorted(invalid)), kind, ns, ref.get("name", ""))

    mapping = _mapping_for(env, service_env or {})
    for var in container.get("env") or []:
        name = var["name"]
        value = var.get("value") or ""
        source = var.get("valueFrom")
        if value:
            value = _expand(value, mapping)
        elif source:
            got = _value_from(pod, container, source, ns, configmaps, secrets,
                              node_name=node_name, pod_ip=pod_ip, host_ip=host_ip,
                              allocatable=allocatable)
            if got is None:
                continue
            value = got
        env[name] = value
    for key, value in (service_env or {}).items():
        env.setdefault(key, value)
    return env


def _value_from(pod: Obj, container: Obj, source: Mapping[str, Any], ns: str,
                configmaps: Mapping[str, Obj], secrets: Mapping[str, Obj], *, node_name: str,
                pod_ip: str, host_ip: str,
                allocatable: Mapping[str, Any] | None) -> str | None:
    """One valueFrom; None when an optional reference is absent (the variable is skipped)."""
    if source.get("fieldRef"):
        return field_value(pod, source["fieldRef"]["fieldPath"], node_name=node_name,
                           pod_ip=pod_ip, host_ip=host_ip)
    if source.get("resourceFieldRef"):
        ref = source["resourceFieldRef"]
        target = container
        if ref.get("containerName") and ref["containerName"] != container.get("name"):
            target = _container_named(pod, ref["containerName"]) or container
        return resource_value(target, ref["resource"], ref.get("divisor"), allocatable)
    if source.get("configMapKeyRef"):
        ref = source["configMapKeyRef"]
        cm = configmaps.get(ref.get("name", ""))
        if cm is None:
            if _optional(ref):
                return None
            raise configmap_not_found(ref.get("name", ""))
        data = configmap_data(cm)
        if ref["key"] not in data:
            if _optional(ref):
                return None
            raise ConfigError(f"couldn't find key {ref['key']} in ConfigMap "
                              f"{ns}/{ref.get('name', '')}")
        return data[ref["key"]]
    if source.get("secretKeyRef"):
        ref = source["secretKeyRef"]
        secret = secrets.get(ref.get("name", ""))
        if secret is None:
            if _optional(ref):
                return None
            raise secret_not_found(ref.get("name", ""))
        sdata = secret_data(secret)
        if ref["key"] not in sdata:
            if _optional(ref):
                return None
            raise ConfigError(f"couldn't find key {ref['key']} in Secret "
                              f"{ns}/{ref.get('name', '')}")
        return _text(sdata[ref["key"]])
    return ""


def _container_named(pod: Obj, name: str) -> Obj | None:
    for c in all_containers(pod):
        if c.get("name") == name:
            return c
    return None


def all_containers(pod: Obj) -> Iterable[Obj]:
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def references(pod: Obj) -> tuple[set[str], set[str]]:
    """(ConfigMap names, Secret names) the pod reads through env, envFrom, volumes and
    imagePullSecrets: what the agent fetches before starting a container."""
    cms: set[str] = set()
    secrets: set[str] = set()
    for c in all_containers(pod):
        for source in c.get("envFrom") or []:
            if source.get("configMapRef"):
                cms.add(source["configMapRef"].get("name", ""))
            if source.get("secretRef"):
                secrets.add(source["secretRef"].get("name", ""))
        for var in c.get("env") or []:
            vf = var.get("valueFrom") or {}
            if vf.get("configMapKeyRef"):
                cms.add(vf["configMapKeyRef"].get("name", ""))
            if vf.get("secretKeyRef"):
                secrets.add(vf["secretKeyRef"].get("name", ""))
    spec = pod.get("spec") or {}
    for vol in spec.get("volumes") or []:
        if vol.get("configMap"):
            cms.add(vol["configMap"].get("name", ""))
        if vol.get("secret"):
            secrets.add(vol["secret"].get("secretName", ""))
        for src in (vol.get("projected") or {}).get("sources") or []:
            if src.get("configMap"):
                cms.add(src["configMap"].get("name", ""))
            if src.get("secret"):
                secrets.add(src["secret"].get("name", ""))
    for ref in spec.get("imagePullSecrets") or []:
        secrets.add(ref.get("name", ""))
    cms.discard("")
    secrets.discard("")
    return cms, secrets
