"""Rules for a PodSpec, wherever it appears: a Pod, or the template of a workload.

The caller says which restart policies its pods may have (a Deployment's must
be Always, a Job's OnFailure or Never), and which extra volume names exist (a
StatefulSet's volumeClaimTemplates), since those depend on the owner.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from jota.api import errors, names
from jota.api.quantity import format_quantity, parse_quantity
from jota.api.validation.common import (
    Errs,
    arr,
    as_int,
    as_str,
    check_name,
    child,
    duplicate,
    each,
    index,
    invalid,
    key,
    nonnegative,
    not_found,
    obj,
    one_of,
)
from jota.api.validation.meta import validate_annotations, validate_labels

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
TAINT_EFFECTS = ["NoExecute", "NoSchedule", "PreferNoSchedule"]
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def validate_pod_template(template: Any, path: str, *, restart_policies: list[str],
                          restart_required: str | None = None,
                          extra_volumes: tuple[str, ...] = ()) -> Errs:
    t = obj(template)
    md = obj(t.get("metadata"))
    errs = validate_labels(md.get("labels"), child(child(path, "metadata"), "labels"))
    errs += validate_annotations(md.get("annotations"),
                                 child(child(path, "metadata"), "annotations"))
    errs += validate_pod_spec(t.get("spec"), child(path, "spec"),
                              restart_policies=restart_policies,
                              restart_required=restart_required, extra_volumes=extra_volumes)
    return errs


def validate_pod_spec(spec: Any, path: str, *, restart_policies: list[str] = RESTART_POLICIES,
                      restart_required: str | None = None,
                      extra_volumes: tuple[str, ...] = ()) -> Errs:
    s = obj(spec)
    errs: Errs = []
    volumes, verrs = _volumes(s.get("volumes"), child(path, "volumes"))
    errs += verrs
    volumes |= set(extra_volumes)
    containers = s.get("containers")
    if not arr(containers) and not isinstance(containers, dict | str | int | float | bool):
        errs.append(errors.required(child(path, "containers")))
    seen_names: set[str] = set()
    port_names: set[str] = set()
    for field, init in (("initContainers", True), ("containers", False)):
        for i, c in enumerate(arr(s.get(field))):
            errs += _container(obj(c), index(child(path, field), i), init=init,
                               seen=seen_names, port_names=port_names, volumes=volumes)
    rp = s.get("restartPolicy")
    if rp in (None, "") and restart_required:
        errs.append(errors.required(child(path, "restartPolicy"), restart_required))
    elif isinstance(rp, str):
        errs += one_of(child(path, "restartPolicy"), rp,
                       RESTART_POLICIES if rp not in RESTART_POLICIES else restart_policies)
    errs += one_of(child(path, "dnsPolicy"), s.get("dnsPolicy"), DNS_POLICIES)
    ads = as_int(s.get("activeDeadlineSeconds"))
    if ads is not None and ads < 1:
        errs.append(invalid(child(path, "activeDeadlineSeconds"), ads,
                            "must be between 1 and 2147483647, inclusive"))
    errs += nonnegative(child(path, "terminationGracePeriodSeconds"),
                        s.get("terminationGracePeriodSeconds"))
    errs += validate_labels(s.get("nodeSelector"), child(path, "nodeSelector"))
    for field in ("hostname", "subdomain"):
        if s.get(field):
            errs += check_name(child(path, field), s.get(field), names.is_dns1123_label)
    for field in ("serviceAccountName", "nodeName"):
        if s.get(field):
            errs += check_name(child(path, field), s.get(field), names.is_dns1123_subdomain)
    for i, tol in enumerate(arr(s.get("tolerations"))):
        errs += _toleration(obj(tol), index(child(path, "tolerations"), i))
    return errs


def _container(c: dict[str, Any], path: str, *, init: bool, seen: set[str],
               port_names: set[str], volumes: set[str]) -> Errs:
    errs: Errs = []
    name = c.get("name")
    if not name:
        errs.append(errors.required(child(path, "name")))
    elif isinstance(name, str):
        errs += each(child(path, "name"), name, names.is_dns1123_label(name))
        if name in seen:
            errs.append(duplicate(child(path, "name"), name))
        seen.add(name)
    image = c.get("image")
    if not image:
        errs.append(errors.required(child(path, "image")))
    elif isinstance(image, str) and image != image.strip():
        errs.append(invalid(child(path, "image"), image,
                            "must not have leading or trailing whitespace"))
    errs += one_of(child(path, "imagePullPolicy"), c.get("imagePullPolicy"), PULL_POLICIES)
    errs += one_of(child(path, "terminationMessagePolicy"), c.get("terminationMessagePolicy"),
                   MESSAGE_POLICIES)
    for i, p in enumerate(arr(c.get("ports"))):
        errs += _container_port(obj(p), index(child(path, "ports"), i), port_names)
    for i, e in enumerate(arr(c.get("env"))):
        errs += _env_var(obj(e), index(child(path, "env"), i))
    errs += validate_resources(c.get("resources"), child(path, "resources"))
    errs += _volume_mounts(c.get("volumeMounts"), child(path, "volumeMounts"), volumes)
    sidecar = c.get("restartPolicy") == "Always"
    if init:
        errs += one_of(child(path, "restartPolicy"), c.get("restartPolicy"), ["Always"])
    elif c.get("restartPolicy") is not None:
        errs.append(errors.forbidden(child(path, "restartPolicy"),
                                     "may not be set for non-init containers"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if c.get(probe) is None:
            continue
        if init and not sidecar:
            errs.append(errors.forbidden(
                child(path, probe), "may not be set for init containers without "
                "restartPolicy=Always"))
            continue
        errs += _probe(obj(c.get(probe)), child(path, probe),
                       single_success=probe != "readinessProbe")
    return errs


def _container_port(p: dict[str, Any], path: str, port_names: set[str]) -> Errs:
    errs: Errs = []
    cp = p.get("containerPort")
    if cp in (None, 0):
        errs.append(errors.required(child(path, "containerPort")))
    elif as_int(cp) is not None:
        errs += each(child(path, "containerPort"), cp, names.is_valid_port_num(cp))
    hp = as_int(p.get("hostPort"))
    if hp:
        errs += each(child(path, "hostPort"), hp, names.is_valid_port_num(hp))
    name = p.get("name")
    if isinstance(name, str) and name:
        errs += each(child(path, "name"), name, names.is_valid_port_name(name))
        if name in port_names:
            errs.append(duplicate(child(path, "name"), name))
        port_names.add(name)
    errs += one_of(child(path, "protocol"), p.get("protocol"), PROTOCOLS)
    return errs


def _env_var(e: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    name = e.get("name")
    if not name:
        errs.append(errors.required(child(path, "name")))
    else:
        errs += check_name(child(path, "name"), name, names.is_env_var_name)
    if e.get("value") and e.get("valueFrom") is not None:
        errs.append(invalid(child(path, "valueFrom"), "",
                            "may not be specified when `value` is not empty"))
    return errs


def validate_resources(resources: Any, path: str, *, container: bool = True) -> Errs:
    """Quantities parse, are not negative, and each request fits under its limit."""
    r = obj(resources)
    errs: Errs = []
    parsed: dict[str, dict[str, Decimal]] = {"limits": {}, "requests": {}}
    for field in ("limits", "requests"):
        for name, q in obj(r.get(field)).items():
            p = key(child(path, field), name)
            if container:
                errs += _resource_name(p, name)
            if isinstance(q, bool) or not isinstance(q, str | int | float):
                continue  # the schema check reports the type
            try:
                value = parse_quantity(q)
            except ValueError as exc:
                errs.append(invalid(p, q, str(exc)))
                continue
            if value < 0:
                errs.append(invalid(p, q, "must be greater than or equal to 0"))
            parsed[field][name] = value
    for name, req in parsed["requests"].items():
        lim = parsed["limits"].get(name)
        if lim is not None and req > lim:
            errs.append(invalid(child(path, "requests"), _shown(obj(r.get("requests"))[name]),
                                f"must be less than or equal to {name} limit of "
                                f"{_shown(obj(r.get('limits'))[name])}"))
    return errs


def _shown(q: Any) -> str:
    if isinstance(q, str):
        return q
    try:
        return format_quantity(parse_quantity(q), "decimal")
    except ValueError:
        return str(q)


def _resource_name(path: str, name: Any) -> Errs:
    if not isinstance(name, str):
        return []
    errs = each(path, name, names.is_qualified_name(name))
    if "/" not in name and name not in _STANDARD_RESOURCES and not name.startswith("hugepages-"):
        errs.append(invalid(path, name, "must be a standard resource for containers"))
    return errs


def _volumes(volumes: Any, path: str) -> tuple[set[str], Errs]:
    seen: set[str] = set()
    errs: Errs = []
    for i, v in enumerate(arr(volumes)):
        v, p = obj(v), index(path, i)
        name = v.get("name")
        if not name:
            errs.append(errors.required(child(p, "name")))
        elif isinstance(name, str):
            errs += each(child(p, "name"), name, names.is_dns1123_label(name))
            if name in seen:
                errs.append(duplicate(child(p, "name"), name))
            seen.add(name)
        sources = [k for k, val in v.items() if k != "name" and val is not None]
        if not sources:
            errs.append(errors.required(p, "must specify a volume type"))
        for extra in sources[1:]:
            errs.append(errors.forbidden(child(p, extra),
                                         "may not specify more than 1 volume type"))
        errs += _volume_source(v, p)
    return seen, errs


_SOURCE_REQUIRED = {"configMap": "name", "secret": "secretName",
                    "persistentVolumeClaim": "claimName", "hostPath": "path", "nfs": "path"}


def _volume_source(v: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    for source, field in _SOURCE_REQUIRED.items():
        src = v.get(source)
        if isinstance(src, dict) and not src.get(field):
            if source == "configMap":
                continue  # an empty configMap name is allowed by Kubernetes (optional refs)
            errs.append(errors.required(child(child(path, source), field)))
    return errs


def _volume_mounts(mounts: Any, path: str, volumes: set[str]) -> Errs:
    errs: Errs = []
    paths: set[str] = set()
    for i, m in enumerate(arr(mounts)):
        m, p = obj(m), index(path, i)
        name = m.get("name")
        if not name:
            errs.append(errors.required(child(p, "name")))
        elif isinstance(name, str) and name not in volumes:
            errs.append(not_found(child(p, "name"), name))
        mount_path = m.get("mountPath")
        if not mount_path:
            errs.append(errors.required(child(p, "mountPath")))
        elif isinstance(mount_path, str):
            if mount_path in paths:
                errs.append(invalid(child(p, "mountPath"), mount_path, "must be unique"))
            paths.add(mount_path)
    return errs


def _probe(probe: dict[str, Any], path: str, *, single_success: bool) -> Errs:
    errs: Errs = []
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        errs.append(errors.required(path, "must specify a handler type"))
    for extra in handlers[1:]:
        errs.append(errors.forbidden(child(path, extra),
                                     "may not specify more than 1 handler type"))
    for field in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                  "failureThreshold", "terminationGracePeriodSeconds"):
        errs += nonnegative(child(path, field), probe.get(field))
    st = as_int(probe.get("successThreshold"))
    if single_success and st is not None and st != 1:
        errs.append(invalid(child(path, "successThreshold"), st, "must be 1"))
    for handler in ("httpGet", "tcpSocket"):
        h = obj(probe.get(handler))
        if "port" in h:
            errs += port_or_name(child(child(path, handler), "port"), h.get("port"))
    return errs


def port_or_name(path: str, port: Any) -> Errs:
    """An IntOrString port: a number 1-65535 or an IANA_SVC_NAME."""
    if isinstance(port, str):
        if port.isdigit():
            return each(path, port, names.is_valid_port_num(int(port)))
        return each(path, port, names.is_valid_port_name(port))
    if as_int(port) is not None:
        return each(path, port, names.is_valid_port_num(port))
    return []


def _toleration(t: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    k, op = as_str(t.get("key")) or "", t.get("operator")
    if k:
        errs += each(child(path, "key"), k, names.is_qualified_name(k))
    elif op not in (None, "", "Exists"):
        errs.append(invalid(child(path, "operator"), op,
                            'operator must be Exists when `key` is empty, which means "match all '
                            'values and all keys"'))
    if op == "Exists" and t.get("value"):
        errs.append(invalid(child(path, "operator"), t.get("value"),
                            "value must be empty when `operator` is 'Exists'"))
    errs += one_of(child(path, "operator"), op, TOLERATION_OPERATORS)
    errs += one_of(child(path, "effect"), t.get("effect"), TAINT_EFFECTS)
    return errs
