"""Which pod and container `logs`, `exec` and `port-forward` mean, as kubectl decides.

`POD`, `pod/NAME`, or `TYPE/NAME` of anything that selects pods (a Deployment,
a Service, ...), for which kubectl takes the best pod to look at: scheduled,
running and ready first (podutils.ByLogging), saying so on stderr when there
were several: `Found 3 pods, using pod/web-5d8f-abcde`.
"""

from __future__ import annotations

from jota.api import errors
from jota.api.meta import Obj, name_of
from jota.api.registry import ResourceType, resolve
from jota.api.selectors import from_label_selector_object, from_set
from jota.cli.context import Context, UsageError, resource_type

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
_PHASE_RANK = {"Running": 0, "Unknown": 1, "Pending": 2}


def split_name(arg: str) -> tuple[ResourceType, str]:
    """`web` -> (pods, web); `deploy/web` -> (deployments, web)."""
    if "/" not in arg:
        return resolve("pods"), arg
    kind, _, name = arg.partition("/")
    if not name:
        raise UsageError(f"arguments in resource/name form must have a single resource and "
                         f"name: {arg!r}")
    return resource_type(kind), name


def pod_selector(rt: ResourceType, obj: Obj) -> str:
    """The label selector through which a workload or Service picks its pods."""
    spec = obj.get("spec") or {}
    if rt.plural in ("services", "replicationcontrollers"):
        selector = str(from_set(spec.get("selector") or {}))
    else:
        selector = str(from_label_selector_object(spec.get("selector") or {}))
    if not selector:
        raise UsageError(f"cannot attach to {rt.kind}: selector for {name_of(obj)} is empty")
    return selector


def _restarts(pod: Obj) -> int:
    return sum(int(c.get("restartCount") or 0)
               for c in (pod.get("status") or {}).get("containerStatuses") or [])


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def by_logging(pods: list[Obj]) -> list[Obj]:
    """Best pod to read first (podutils.ByLogging): assigned, running, ready, most
    restarted, oldest."""
    def key(pod: Obj) -> tuple[bool, int, bool, int, str]:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        return (not spec.get("nodeName"), _PHASE_RANK.get(str(status.get("phase")), 3),
                not _ready(pod), -_restarts(pod),
                str((pod.get("metadata") or {}).get("creationTimestamp", "")))

    return sorted(pods, key=key)


async def attachable_pod(ctx: Context, arg: str) -> Obj:
    """The pod `arg` names, or the best pod of the object it names."""
    rt, name = split_name(arg)
    if rt.plural == "pods":
        return await ctx.client.get("pods", name, ctx.namespace)
    obj = await ctx.client.get(rt.plural, name, ctx.namespace if rt.namespaced else "")
    listing = await ctx.client.list("pods", ctx.namespace,
                                    label_selector=pod_selector(rt, obj))
    pods = by_logging(list(listing.get("items") or []))
    if not pods:
        raise errors.NotFound(f"no pods found for {rt.singular} {name}")
    if len(pods) > 1:
        ctx.warn(f"Found {len(pods)} pods, using pod/{name_of(pods[0])}")
    return pods[0]


def default_container(pod: Obj, container: str) -> str:
    """-c, else the default-container annotation, else the only container ("" lets the
    server say which to choose from)."""
    if container:
        return container
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    if annotated:
        return str(annotated)
    app = (pod.get("spec") or {}).get("containers") or []
    return str(app[0].get("name", "")) if len(app) == 1 else ""


def all_containers(pod: Obj) -> list[str]:
    spec = pod.get("spec") or {}
    return [str(c.get("name", "")) for key in ("initContainers", "containers")
            for c in spec.get(key) or []]
