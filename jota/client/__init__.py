"""Jota's client-go: the API client and what every controller is built on.

    Client                      async gRPC client of the apiserver (client.py)
    SharedInformer              list+watch into an indexed Store, fanning out events
      └─ Reflector              the list/watch/relist loop (reflector.py)
    RateLimitingQueue           de-duplicating workqueue with per-key backoff
    LeaderElector               one active replica, over a coordination.k8s.io Lease
    EventRecorder               core/v1 Events, repeats folded into counts

Import from here; the modules behind are free to move.
"""

from jota.client.client import Client, WatchEvent
from jota.client.events import (
    NORMAL,
    WARNING,
    EventCorrelator,
    EventRecorder,
    EventSink,
    make_event,
    reference_of,
)
from jota.client.informer import (
    DeletedObj,
    HandlerRegistration,
    ResourceEventHandler,
    SharedIndexInformer,
    SharedInformer,
    SharedInformerFactory,
    object_of,
)
from jota.client.leaderelection import (
    Action,
    Decision,
    LeaderElectionRecord,
    LeaderElector,
    LeaseClient,
    Observation,
    decide,
    format_micro_time,
    parse_time,
)
from jota.client.listwatch import ListerWatcher, ListWatch
from jota.client.ratelimit import (
    Backoff,
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from jota.client.reflector import Reflector
from jota.client.store import (
    LABELS_INDEX,
    NAMESPACE_INDEX,
    NODE_NAME_INDEX,
    OWNER_UID_INDEX,
    DeletedFinalStateUnknown,
    Indexer,
    IndexFunc,
    Store,
    index_by_controller_uid,
    index_by_field,
    index_by_label,
    index_by_labels,
    index_by_namespace,
    index_by_node_name,
    index_by_owner_uid,
    meta_namespace_key,
)
from jota.client.workqueue import (
    DelayingQueue,
    RateLimitingQueue,
    RetryLater,
    WorkQueue,
    WorkQueueMetrics,
    run_worker,
    run_workers,
)

__all__ = [
    "LABELS_INDEX",
    "NAMESPACE_INDEX",
    "NODE_NAME_INDEX",
    "NORMAL",
    "OWNER_UID_INDEX",
    "WARNING",
    "Action",
    "Backoff",
    "BucketRateLimiter",
    "Client",
    "Decision",
    "DelayingQueue",
    "DeletedFinalStateUnknown",
    "DeletedObj",
    "EventCorrelator",
    "EventRecorder",
    "EventSink",
    "HandlerRegistration",
    "IndexFunc",
    "Indexer",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaseClient",
    "ListWatch",
    "ListerWatcher",
    "MaxOfRateLimiter",
    "Observation",
    "RateLimiter",
    "RateLimitingQueue",
    "Reflector",
    "ResourceEventHandler",
    "RetryLater",
    "SharedIndexInformer",
    "SharedInformer",
    "SharedInformerFactory",
    "Store",
    "WatchEvent",
    "WorkQueue",
    "WorkQueueMetrics",
    "decide",
    "default_controller_rate_limiter",
    "format_micro_time",
    "index_by_controller_uid",
    "index_by_field",
    "index_by_label",
    "index_by_labels",
    "index_by_namespace",
    "index_by_node_name",
    "index_by_owner_uid",
    "make_event",
    "meta_namespace_key",
    "object_of",
    "parse_time",
    "reference_of",
    "run_worker",
    "run_workers",
]
