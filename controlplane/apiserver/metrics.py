"""kube-apiserver's own series, with its names, labels and buckets.

`controlplane/apiserver/service.py` observes every request once, where errors
are mapped (`etcd_request_duration_seconds` lives with the etcd adapter). The verbs are
the HTTP ones kube-apiserver reports (GET, LIST, WATCH, POST, PUT, PATCH,
DELETE), and `code` the HTTP status its REST API would have answered, so the
dashboards and alerts written for Kubernetes read Jota unchanged.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from jota.api import errors
from jota.api.registry import RESOURCES

# kube-apiserver's request and etcd latency buckets (1.27+).
REQUEST_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0,
                   4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)

_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope",
           "component")

REQUESTS = Counter(
    "apiserver_request", "Counter of apiserver requests broken out for each verb, dry run "
    "value, group, version, resource, scope, component, and HTTP response code.",
    [*_LABELS, "code"])
REQUEST_DURATION = Histogram(
    "apiserver_request_duration_seconds", "Response latency distribution in seconds for each "
    "verb, dry run value, group, version, resource, subresource, scope and component.",
    _LABELS, buckets=REQUEST_BUCKETS)
REGISTERED_WATCHERS = Gauge(
    "apiserver_registered_watchers", "Number of currently registered watchers for a given "
    "resources", ["group", "version", "kind"])

# The HTTP status kube-apiserver answers for each StatusReason.
HTTP_CODES = {
    "BadRequest": 400, "Invalid": 422, "NotFound": 404, "AlreadyExists": 409,
    "Conflict": 409, "Expired": 410, "Gone": 410, "Unauthorized": 401, "Forbidden": 403,
    "RequestEntityTooLarge": 413, "MethodNotAllowed": 405, "Timeout": 504,
    "ServiceUnavailable": 503, "InternalError": 500, "TooManyRequests": 429,
}
_GROUP_VERSION = {rt.plural: (rt.group, rt.version) for rt in RESOURCES}


def http_code(error: BaseException | None, verb: str) -> str:
    """The status kube-apiserver would answer: 201 for a create, 200 for other
    successes, the reason's code for an API error, 500 for anything else."""
    if error is None:
        return "201" if verb == "POST" else "200"
    if isinstance(error, errors.APIError):
        return str(HTTP_CODES.get(error.reason, 500))
    return "500"


def scope(verb: str, namespace: str, name: str) -> str:
    """kube-apiserver's CleanScope: one object (or a create) is "resource", else the
    collection's "namespace" or "cluster"."""
    if name or verb == "POST":
        return "resource"
    return "namespace" if namespace else "cluster"


def observe_request(verb: str, resource: str, subresource: str, scope_: str, dry_run: str,
                    code: str, seconds: float) -> None:
    """Count and time one request; an unknown resource is recorded as "" so that
    made-up names in bad requests cannot grow the series without bound."""
    key = (verb, resource, subresource, scope_, dry_run, code)
    children = _children.get(key)
    if children is None:
        group, version = _GROUP_VERSION.get(resource, ("", ""))
        labels = (verb, dry_run, group, version, resource if version else "", subresource,
                  scope_, "apiserver")
        children = _children[key] = (REQUESTS.labels(*labels, code),
                                     REQUEST_DURATION.labels(*labels))
    children[0].inc()
    children[1].observe(seconds)


# The label children of each request shape, found once: `labels()` validates and locks
# on every call, about half the cost of an observation.
_children: dict[tuple[str, ...], tuple[Counter, Histogram]] = {}


def watcher_labels(resource: str, kind: str) -> tuple[str, str, str] | None:
    group, version = _GROUP_VERSION.get(resource, ("", ""))
    return (group, version, kind) if version else None
