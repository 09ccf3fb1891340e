"""A Pod spec turned into the runtime's SandboxConfig and ContainerConfig.

Pure, as kuberuntime's generatePodSandboxConfig / generateContainerConfig: the
agent resolves env (env.py) and volumes (volumes.py) first and hands the
results in. The arithmetic (CPU shares and quota, DNS merging, hostname
truncation) is kubelet's, so a container gets the same cgroup numbers it would
get under Kubernetes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from jota.api.meta import Obj
from jota.api.qos import qos_class  # noqa: F401 - re-exported for callers
from jota.api.quantity import cpu_millis, memory_bytes
from node.agent.env import ConfigError, expand
from node.runtime import interface as cri
from node.runtime.interface import (
    ContainerConfig,
    DNSConfig,
    Mount,
    PodRef,
    PortMapping,
    Resources,
    SandboxConfig,
    Security,
)

# pkg/kubelet/cm: cgroup arithmetic.
MIN_SHARES = 2
MAX_SHARES = 262_144
SHARES_PER_CPU = 1024
QUOTA_PERIOD = 100_000
MIN_QUOTA_PERIOD = 1000

# pkg/kubelet/network/dns limits (resolv.conf as glibc reads it).
MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_CHARS = 2048
DEFAULT_DNS_OPTIONS = ["ndots:5"]
HOSTNAME_MAX = 63

# Container annotations kubelet writes, read back by status and the pod worker.
HASH = "io.kubernetes.container.hash"
TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
TERMINATION_MESSAGE_POLICY = "io.kubernetes.container.terminationMessagePolicy"
TERMINATION_GRACE = "io.kubernetes.pod.terminationGracePeriod"
# The pod's FQDN when it has a subdomain; runtimes that can set a domain name read it.
POD_FQDN = "io.jota.pod.fqdn"


def pod_ref(pod: Obj) -> PodRef:
    md = pod.get("metadata") or {}
    return PodRef(uid=str(md.get("uid") or ""), namespace=str(md.get("namespace") or "default"),
                  name=str(md.get("name") or ""))


# ---- resources ----------------------------------------------------------------------------


def milli_cpu_to_shares(milli: int) -> int:
    """cm.MilliCPUToShares: 1024 per core, at least 2 (the kernel's minimum)."""
    if milli == 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli * SHARES_PER_CPU // 1000))


def milli_cpu_to_quota(milli: int, period: int = QUOTA_PERIOD) -> int:
    """cm.MilliCPUToQuota: microseconds per period, at least 1 ms; 0 = unlimited."""
    if milli == 0:
        return 0
    return max(MIN_QUOTA_PERIOD, milli * period // 1000)


def resources(container: Obj) -> Resources:
    res = container.get("resources") or {}
    requests = res.get("requests") or {}
    limits = res.get("limits") or {}
    limit_cpu = cpu_millis(limits["cpu"]) if "cpu" in limits else 0
    if "cpu" not in requests and limit_cpu:
        shares = milli_cpu_to_shares(limit_cpu)  # request defaults to limit
    else:
        shares = milli_cpu_to_shares(cpu_millis(requests["cpu"]) if "cpu" in requests else 0)
    return Resources(cpu_shares=shares, cpu_quota=milli_cpu_to_quota(limit_cpu),
                     cpu_period=QUOTA_PERIOD,
                     memory_limit=memory_bytes(limits["memory"]) if "memory" in limits else 0)






# ---- security -----------------------------------------------------------------------------


def _caps(names: Iterable[str]) -> list[str]:
    """`CAP_NET_ADMIN` and `NET_ADMIN` are the same capability: one spelling for the runtime."""
    out: list[str] = []
    for n in names:
        n = str(n).upper()
        n = n.removeprefix("CAP_")
        if n not in out:
            out.append(n)
    return out


def security(pod: Obj, container: Obj, *, image_user: str = "") -> Security:
    """securitycontext.DetermineEffectiveSecurityContext plus verifyRunAsNonRoot.

    `image_user` is the image's configured USER ("" = root, as kubelet assumes).
    """
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    csc = container.get("securityContext") or {}

    def pick(key: str) -> Any:
        return csc[key] if csc.get(key) is not None else psc.get(key)

    run_as_user = pick("runAsUser")
    run_as_group = pick("runAsGroup")
    if pick("runAsNonRoot"):
        _verify_non_root(pod, container, run_as_user, image_user)
    caps = csc.get("capabilities") or {}
    ape = csc.get("allowPrivilegeEscalation")
    return Security(run_as_user=int(run_as_user) if run_as_user is not None else None,
                    run_as_group=int(run_as_group) if run_as_group is not None else None,
                    readonly_rootfs=bool(csc.get("readOnlyRootFilesystem")),
                    privileged=bool(csc.get("privileged")),
                    cap_add=_caps(caps.get("add") or []),
                    cap_drop=_caps(caps.get("drop") or []),
                    no_new_privileges=ape is not None and not ape)


def _verify_non_root(pod: Obj, container: Obj, run_as_user: Any, image_user: str) -> None:
    ref = pod_ref(pod)
    who = f'(pod: "{ref.name}_{ref.namespace}({ref.uid})", container: {container["name"]})'
    if run_as_user is not None:
        if int(run_as_user) == 0:
            raise ConfigError(f"container's runAsUser breaks non-root policy {who}")
        return
    user = image_user.split(":", 1)[0]
    if user == "" or user == "0":
        raise ConfigError(f"container has runAsNonRoot and image will run as root {who}")
    if not user.isdigit():
        raise ConfigError(f"container has runAsNonRoot and image has non-numeric user ({user}), "
                          f"cannot verify user is non-root {who}")


# ---- containers ---------------------------------------------------------------------------


def container_hash(container: Obj) -> str:
    """A stable digest of the spec: a container whose spec changed is not the same one."""
    text = json.dumps(container, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def container_config(pod: Obj, container: Obj, *, attempt: int, env: dict[str, str],
                     mounts: list[Mount], image_user: str = "") -> ContainerConfig:
    """What the runtime creates for one container; ConfigError when its security context
    cannot be honoured (runAsNonRoot against a root user)."""
    ref = pod_ref(pod)
    name = str(container["name"])
    labels = {**ref.labels(), cri.CONTAINER_NAME: name, cri.ATTEMPT: str(attempt)}
    spec = pod.get("spec") or {}
    annotations = {
        HASH: container_hash(container),
        TERMINATION_MESSAGE_PATH: str(container.get("terminationMessagePath")
                                      or "/dev/termination-log"),
        TERMINATION_MESSAGE_POLICY: str(container.get("terminationMessagePolicy") or "File"),
        TERMINATION_GRACE: str(spec.get("terminationGracePeriodSeconds", 30)),
    }
    return ContainerConfig(
        name=name,
        image=str(container.get("image") or ""),
        attempt=attempt,
        command=[expand(str(s), env) for s in container.get("command") or []],
        args=[expand(str(s), env) for s in container.get("args") or []],
        working_dir=str(container.get("workingDir") or ""),
        env=dict(env),
        mounts=list(mounts),
        labels=labels,
        annotations=annotations,
        resources=resources(container),
        security=security(pod, container, image_user=image_user),
        stdin=bool(container.get("stdin")),
        tty=bool(container.get("tty")),
        termination_message_path=annotations[TERMINATION_MESSAGE_PATH],
    )


# ---- the sandbox ----------------------------------------------------------------------------


def hostname_and_domain(pod: Obj, cluster_domain: str) -> tuple[str, str]:
    """GeneratePodHostnameAndDomain: (hostname, domain), the hostname cut to 63 chars."""
    spec = pod.get("spec") or {}
    md = pod.get("metadata") or {}
    hostname = str(spec.get("hostname") or md.get("name") or "")
    if len(hostname) > HOSTNAME_MAX:
        hostname = hostname[:HOSTNAME_MAX].rstrip("-.")
    domain = ""
    if spec.get("subdomain") and cluster_domain:
        domain = f"{spec['subdomain']}.{md.get('namespace') or 'default'}.svc.{cluster_domain}"
    return hostname, domain


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for i in items:
        if i not in out:
            out.append(i)
    return out


def _merge_options(existing: list[str], extra: list[Obj]) -> list[str]:
    opts: dict[str, str] = {}
    for op in existing:
        k, _, v = op.partition(":")
        opts[k] = v
    for o in extra:
        opts[str(o.get("name", ""))] = "" if o.get("value") is None else str(o["value"])
    return [k + (f":{v}" if v else "") for k, v in opts.items()]


def parse_resolv_conf(text: str) -> DNSConfig:
    """The node's resolv.conf, the base of dnsPolicy Default (and of dnsConfig on it)."""
    dns = DNSConfig()
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            dns.servers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            dns.searches = fields[1:]
        elif fields[0] == "options":
            dns.options.extend(fields[1:])
    return dns


def pod_dns(pod: Obj, *, cluster_dns: list[str], cluster_domain: str,
            host_dns: DNSConfig | None = None) -> DNSConfig | None:
    """dns.Configurer.GetPodDNS; None = the runtime's own default (the node's resolv.conf).

    ClusterFirst without a cluster DNS server falls back to Default, as kubelet does
    (with a MissingClusterDNS event there)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_network = bool(spec.get("hostNetwork"))
    if policy == "ClusterFirst" and host_network:
        policy = "Default"
    base: DNSConfig | None
    if policy == "None":
        base = DNSConfig()
    elif policy in ("ClusterFirst", "ClusterFirstWithHostNet") and cluster_dns:
        ns = (pod.get("metadata") or {}).get("namespace") or "default"
        host_searches = list(host_dns.searches) if host_dns else []
        searches = host_searches
        if cluster_domain:
            searches = _unique([f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}",
                                cluster_domain, *host_searches])
        base = DNSConfig(servers=list(cluster_dns), searches=searches,
                         options=list(DEFAULT_DNS_OPTIONS))
    else:
        base = None if host_dns is None else DNSConfig(list(host_dns.servers),
                                                       list(host_dns.searches),
                                                       list(host_dns.options))
    extra = spec.get("dnsConfig")
    if extra:
        base = base or DNSConfig()
        base.servers = _unique([*base.servers, *(extra.get("nameservers") or [])])
        base.searches = _unique([*base.searches, *(extra.get("searches") or [])])
        base.options = _merge_options(base.options, extra.get("options") or [])
    if base is None:
        return None
    return _fit_limits(base)


def _fit_limits(dns: DNSConfig) -> DNSConfig:
    """formDNSConfigFitsLimits: glibc reads 3 nameservers and 32 search paths, 2048 chars."""
    searches: list[str] = []
    chars = 0
    for s in dns.searches[:MAX_SEARCH_PATHS]:
        chars += len(s) + (1 if searches else 0)
        if chars > MAX_SEARCH_CHARS:
            break
        searches.append(s)
    return DNSConfig(servers=dns.servers[:MAX_NAMESERVERS], searches=searches,
                     options=dns.options)


def port_mappings(pod: Obj) -> list[PortMapping]:
    """Container ports that ask for a hostPort; the others are reachable on the pod IP
    already (as dockershim, only ports with a host port are published)."""
    out: list[PortMapping] = []
    seen: set[tuple[int, str, str]] = set()
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            host_port = int(p.get("hostPort") or 0)
            if not host_port:
                continue
            proto = str(p.get("protocol") or "TCP")
            host_ip = str(p.get("hostIP") or "")
            if (host_port, proto, host_ip) in seen:
                continue
            seen.add((host_port, proto, host_ip))
            out.append(PortMapping(container_port=int(p["containerPort"]), host_port=host_port,
                                   protocol=proto, host_ip=host_ip))
    return out


def sandbox_config(pod: Obj, *, attempt: int, cluster_dns: list[str], cluster_domain: str,
                   network: str, host_dns: DNSConfig | None = None) -> SandboxConfig:
    ref = pod_ref(pod)
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    hostname, domain = hostname_and_domain(pod, cluster_domain)
    annotations = {str(k): str(v) for k, v in (md.get("annotations") or {}).items()}
    if domain:
        annotations[POD_FQDN] = f"{hostname}.{domain}"
        if spec.get("setHostnameAsFQDN"):
            hostname = f"{hostname}.{domain}"
    labels = {str(k): str(v) for k, v in (md.get("labels") or {}).items()}
    labels.update(ref.labels())
    sysctls = {str(s["name"]): str(s.get("value", ""))
               for s in (spec.get("securityContext") or {}).get("sysctls") or []}
    return SandboxConfig(
        pod=ref,
        attempt=attempt,
        hostname="" if spec.get("hostNetwork") else hostname,
        domain="" if spec.get("hostNetwork") or spec.get("setHostnameAsFQDN") else domain,
        labels=labels,
        annotations=annotations,
        dns=pod_dns(pod, cluster_dns=cluster_dns, cluster_domain=cluster_domain,
                    host_dns=host_dns),
        port_mappings=port_mappings(pod),
        host_network=bool(spec.get("hostNetwork")),
        host_pid=bool(spec.get("hostPID")),
        network=network,
        sysctls=sysctls,
    )
