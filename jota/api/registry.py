"""Every kind Jota serves, and how a name typed by a user finds it.

Adding a kind is one `ResourceType` line here (its schema comes from Kubernetes'
own OpenAPI definitions, see `schema.py`). The CLI, the apiserver and storage
all look kinds up through this table, so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jota.api.errors import BadRequest


@dataclass(frozen=True)
class ResourceType:
    kind: str
    plural: str
    group: str  # "" for the core group
    version: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    has_status: bool = True
    categories: tuple[str, ...] = ()
    # Other apiVersions accepted on input (stored as `api_version`), e.g. autoscaling/v1.
    also_versions: tuple[str, ...] = ()
    verbs: tuple[str, ...] = field(
        default=("create", "delete", "get", "list", "patch", "update", "watch")
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """`deployments.apps`, or `pods` for the core group: kubectl's resource.group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def display(self) -> str:
        """`deployment.apps`, as kubectl prints in `deployment.apps/web created`."""
        return f"{self.singular}.{self.group}" if self.group else self.singular

    def accepts(self, api_version: str) -> bool:
        return api_version == self.api_version or api_version in self.also_versions


_ALL = ("all",)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("Namespace", "namespaces", "", "v1", namespaced=False, short_names=("ns",)),
    ResourceType("Node", "nodes", "", "v1", namespaced=False, short_names=("no",)),
    ResourceType("Pod", "pods", "", "v1", short_names=("po",), categories=_ALL),
    ResourceType("Service", "services", "", "v1", short_names=("svc",), categories=_ALL),
    ResourceType("Endpoints", "endpoints", "", "v1", short_names=("ep",), has_status=False),
    ResourceType("ConfigMap", "configmaps", "", "v1", short_names=("cm",), has_status=False),
    ResourceType("Secret", "secrets", "", "v1", has_status=False),
    ResourceType("ServiceAccount", "serviceaccounts", "", "v1", short_names=("sa",),
                 has_status=False),
    ResourceType("Event", "events", "", "v1", short_names=("ev",), has_status=False),
    ResourceType("PersistentVolume", "persistentvolumes", "", "v1", namespaced=False,
                 short_names=("pv",)),
    ResourceType("PersistentVolumeClaim", "persistentvolumeclaims", "", "v1",
                 short_names=("pvc",)),
    ResourceType("ResourceQuota", "resourcequotas", "", "v1", short_names=("quota",)),
    ResourceType("LimitRange", "limitranges", "", "v1", short_names=("limits",),
                 has_status=False),
    ResourceType("Deployment", "deployments", "apps", "v1", short_names=("deploy",),
                 categories=_ALL),
    ResourceType("ReplicaSet", "replicasets", "apps", "v1", short_names=("rs",),
                 categories=_ALL),
    ResourceType("DaemonSet", "daemonsets", "apps", "v1", short_names=("ds",),
                 categories=_ALL),
    ResourceType("StatefulSet", "statefulsets", "apps", "v1", short_names=("sts",),
                 categories=_ALL),
    ResourceType("Job", "jobs", "batch", "v1", categories=_ALL),
    ResourceType("CronJob", "cronjobs", "batch", "v1", short_names=("cj",), categories=_ALL),
    ResourceType("HorizontalPodAutoscaler", "horizontalpodautoscalers", "autoscaling", "v2",
                 short_names=("hpa",), categories=_ALL, also_versions=("autoscaling/v1",)),
    ResourceType("Lease", "leases", "coordination.k8s.io", "v1", has_status=False),
    ResourceType("EndpointSlice", "endpointslices", "discovery.k8s.io", "v1",
                 has_status=False),
    ResourceType("Ingress", "ingresses", "networking.k8s.io", "v1", short_names=("ing",)),
    ResourceType("IngressClass", "ingressclasses", "networking.k8s.io", "v1",
                 namespaced=False, has_status=False),
    ResourceType("NetworkPolicy", "networkpolicies", "networking.k8s.io", "v1",
                 short_names=("netpol",), has_status=False),
    ResourceType("StorageClass", "storageclasses", "storage.k8s.io", "v1", namespaced=False,
                 short_names=("sc",), has_status=False),
    ResourceType("PodDisruptionBudget", "poddisruptionbudgets", "policy", "v1",
                 short_names=("pdb",)),
    ResourceType("PriorityClass", "priorityclasses", "scheduling.k8s.io", "v1",
                 namespaced=False, short_names=("pc",), has_status=False),
    ResourceType("Role", "roles", "rbac.authorization.k8s.io", "v1", has_status=False),
    ResourceType("RoleBinding", "rolebindings", "rbac.authorization.k8s.io", "v1",
                 has_status=False),
    ResourceType("ClusterRole", "clusterroles", "rbac.authorization.k8s.io", "v1",
                 namespaced=False, has_status=False),
    ResourceType("ClusterRoleBinding", "clusterrolebindings", "rbac.authorization.k8s.io",
                 "v1", namespaced=False, has_status=False),
    ResourceType("CertificateSigningRequest", "certificatesigningrequests",
                 "certificates.k8s.io", "v1", namespaced=False, short_names=("csr",)),
    ResourceType("CustomResourceDefinition", "customresourcedefinitions",
                 "apiextensions.k8s.io", "v1", namespaced=False, short_names=("crd", "crds")),
)

# Read-only kinds the apiserver answers from memory (metrics-server's API), never stored.
METRICS_RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("NodeMetrics", "nodemetrics", "metrics.k8s.io", "v1beta1", namespaced=False,
                 has_status=False, verbs=("get", "list")),
    ResourceType("PodMetrics", "podmetrics", "metrics.k8s.io", "v1beta1", has_status=False,
                 verbs=("get", "list")),
)
SERVED = RESOURCES + METRICS_RESOURCES

_BY_PLURAL = {r.plural: r for r in SERVED}
_BY_KIND = {r.kind: r for r in SERVED}


def by_plural(plural: str) -> ResourceType:
    """The type served under `plural` (the wire name of a resource)."""
    try:
        return _BY_PLURAL[plural]
    except KeyError:
        raise BadRequest(f'the server doesn\'t have a resource type "{plural}"') from None


def by_kind(kind: str, api_version: str | None = None) -> ResourceType:
    """The type of a document, from its `kind` and `apiVersion`."""
    rt = _BY_KIND.get(kind)
    if rt is None or (api_version is not None and not rt.accepts(api_version)):
        shown = f"{api_version}, Kind={kind}" if api_version else f"Kind={kind}"
        raise BadRequest(f'no matches for kind "{kind}" in version "{api_version or ""}"'
                         if api_version else f"no matches for {shown}")
    return rt


def resolve(name: str) -> ResourceType:
    """Find a type from what a user typed: `po`, `pod`, `pods`, `Pod`, `deploy`,
    `deployments.apps`, `deployment.apps`, `deployments.v1.apps`."""
    key = name.strip()
    lowered = key.lower()
    for rt in SERVED:
        if lowered in (rt.plural, rt.singular, *rt.short_names) or key == rt.kind:
            return rt
        if "." in lowered and lowered in (
            rt.qualified, rt.display, f"{rt.plural}.{rt.version}.{rt.group}"
        ):
            return rt
    raise BadRequest(f'the server doesn\'t have a resource type "{name}"')


def in_category(category: str) -> list[ResourceType]:
    return [r for r in RESOURCES if category in r.categories]
