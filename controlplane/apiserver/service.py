"""The gRPC face of the API: decode a request, call `rest.API`, encode the answer.

This is the one place where errors become gRPC statuses: an `APIError` keeps
its code and kubectl's message (as JSON in the details, so the client rebuilds
the same error); anything else is a bug, logged with its traceback and
answered INTERNAL, and the server carries on. For the same reason it is where
every request is counted and timed (`apiserver_request_total`,
`apiserver_request_duration_seconds`), with the verb kube-apiserver reports.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from controlplane.apiserver import certificates as csr_strategy
from controlplane.apiserver import metrics
from controlplane.apiserver.authn import Gate
from controlplane.apiserver.metricsapi import MetricsAPI
from controlplane.apiserver.rest import API
from jota.api import errors
from jota.api.explain import explain
from jota.api.gen import resources_pb2 as pb
from jota.api.gen import resources_pb2_grpc as pb_grpc
from jota.api.meta import Obj
from jota.api.registry import METRICS_RESOURCES, RESOURCES, ResourceType, by_plural

logger = logging.getLogger(__name__)

VERSION = "v0.1.0"
MAX_BODY = 3 * 1024 * 1024  # as kube-apiserver's 3 MiB request limit
R = TypeVar("R")


def _abort_code(e: errors.APIError) -> tuple[grpc.StatusCode, str]:
    return e.code, e.to_details()


# gRPC method -> (kube-apiserver's verb, subresource); Discovery and Explain are not
# resource requests and are not counted.
_VERBS = {"Create": ("POST", ""), "Get": ("GET", ""), "List": ("LIST", ""),
          "Update": ("PUT", ""), "UpdateStatus": ("PUT", "status"),
          "UpdateApproval": ("PUT", "approval"), "Patch": ("PATCH", ""),
          "Delete": ("DELETE", ""), "Bind": ("POST", "binding"), "GetScale": ("GET", "scale"),
          "UpdateScale": ("PUT", "scale")}


# gRPC method -> the verb a kind must list in `ResourceType.verbs` to allow it.
_RESOURCE_VERBS = {"Create": "create", "Get": "get", "List": "list", "Update": "update",
                   "UpdateStatus": "update", "UpdateApproval": "update", "Patch": "patch",
                   "Delete": "delete",
                   "Watch": "watch", "UpdateScale": "update"}


def _check_verb(method: str, request: Any) -> None:
    """Read-only kinds (the metrics API) refuse writes and watches, as kube-apiserver
    answers 405 for a verb a resource does not serve."""
    verb, ref = _RESOURCE_VERBS.get(method), getattr(request, "ref", None)
    if verb is None or ref is None or not ref.resource:
        return
    if verb not in by_plural(ref.resource).verbs:
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource")


def _observe(method: str, request: Any, error: BaseException | None, seconds: float) -> None:
    verb, subresource = _VERBS[method]
    ref = request.ref
    if method == "Patch" and request.status:
        subresource = "status"
    options = getattr(request, "options", None)
    dry_run = "All" if options is not None and options.dry_run == "All" else ""
    resource = "pods" if method == "Bind" else ref.resource
    metrics.observe_request(verb, resource, subresource,
                            metrics.scope(verb, ref.namespace, ref.name), dry_run,
                            metrics.http_code(error, verb), seconds)


def handle_errors(
    fn: Callable[..., Awaitable[R]],
) -> Callable[..., Awaitable[R]]:
    @functools.wraps(fn)
    async def wrapper(self: ResourcesService, request: Any, context: grpc.aio.ServicerContext
                      ) -> R:
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            await self.gate.check(fn.__name__, getattr(request, "ref", None), context,
                                  status=bool(getattr(request, "status", False)))
            _check_verb(fn.__name__, request)
            return await fn(self, request, context)
        except errors.APIError as e:
            error = e
            code, details = _abort_code(e)
            await context.abort(code, details)
        except grpc.aio.AbortError:
            raise
        except Exception as e:
            error = e
            logger.exception("internal error in %s", fn.__name__)
            err = errors.InternalError(f"Internal error occurred: {type(e).__name__}: {e}")
            await context.abort(err.code, err.to_details())
        finally:
            seconds = time.perf_counter() - start
            if fn.__name__ in _VERBS:
                _observe(fn.__name__, request, error, seconds)
            logger.debug("%s took %.1f ms", fn.__name__, seconds * 1e3)
        raise AssertionError("unreachable")

    return wrapper


def _decode(body: bytes) -> Any:
    if len(body) > MAX_BODY:
        raise errors.TooLarge(f"Request entity too large: limit is {MAX_BODY}")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.BadRequest(f"the object is not valid JSON: {e}") from None
    except RecursionError:
        raise errors.BadRequest("the object is nested too deeply") from None


def _encode(obj: Obj) -> pb.ObjectResponse:
    return pb.ObjectResponse(body=json.dumps(obj, separators=(",", ":")).encode())


def _dry_run(options: pb.WriteOptions) -> bool:
    if options.dry_run not in ("", "All"):
        raise errors.BadRequest(f'unsupported dry run mode "{options.dry_run}": use All')
    return options.dry_run == "All"


class ResourcesService(pb_grpc.ResourcesServicer):
    def __init__(self, api: API, gate: Gate | None = None,
                 metrics: MetricsAPI | None = None) -> None:
        self.api = api
        self.gate = gate or Gate(secure=False)
        self.metrics = metrics

    def _metrics_api(self, rt: ResourceType) -> MetricsAPI | None:
        """The in-memory metrics API for a metrics.k8s.io kind, None for stored kinds."""
        if rt not in METRICS_RESOURCES:
            return None
        if self.metrics is None:
            raise errors.NotFound(f"the server could not find the requested resource "
                                  f"({rt.qualified})")
        return self.metrics

    @handle_errors
    async def Create(self, request: pb.CreateRequest, context: Any) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        body = _decode(request.body)
        if rt.plural == csr_strategy.RESOURCE and isinstance(body, dict):
            csr_strategy.set_requestor(body, await self.gate.authenticate(context))
        obj = await self.api.create(rt, request.ref.namespace, body,
                                    dry_run=_dry_run(request.options))
        return _encode(obj)

    @handle_errors
    async def Get(self, request: pb.GetRequest, context: Any) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        if (metrics := self._metrics_api(rt)) is not None:
            return _encode(await metrics.get(rt, request.ref.namespace, request.ref.name))
        return _encode(await self.api.get(rt, request.ref.namespace, request.ref.name))

    @handle_errors
    async def List(self, request: pb.ListRequest, context: Any) -> pb.ListResponse:
        rt = by_plural(request.ref.resource)
        if request.limit < 0:
            raise errors.BadRequest("limit must be >= 0")
        if (metrics := self._metrics_api(rt)) is not None:
            return pb.ListResponse(body=await metrics.list(
                rt, request.ref.namespace, label_selector=request.label_selector,
                field_selector=request.field_selector))
        body = await self.api.list(
            rt, request.ref.namespace, label_selector=request.label_selector,
            field_selector=request.field_selector, limit=request.limit,
            continue_token=getattr(request, "continue"),
            resource_version=request.resource_version)
        return pb.ListResponse(body=body)

    @handle_errors
    async def Update(self, request: pb.UpdateRequest, context: Any) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        obj = await self.api.update(rt, request.ref.namespace, request.ref.name,
                                    _decode(request.body), dry_run=_dry_run(request.options))
        return _encode(obj)

    @handle_errors
    async def UpdateStatus(self, request: pb.UpdateRequest, context: Any
                           ) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        if not rt.has_status:
            raise errors.NotFound(f"the server could not find the requested resource "
                                  f"({rt.qualified}/status)")
        obj = await self.api.update(rt, request.ref.namespace, request.ref.name,
                                    _decode(request.body), dry_run=_dry_run(request.options),
                                    subresource="status")
        return _encode(obj)

    @handle_errors
    async def UpdateApproval(self, request: pb.UpdateRequest, context: Any
                             ) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        if rt.plural != csr_strategy.RESOURCE:
            raise errors.NotFound(f"the server could not find the requested resource "
                                  f"({rt.qualified}/approval)")
        obj = await self.api.update(rt, request.ref.namespace, request.ref.name,
                                    _decode(request.body), dry_run=_dry_run(request.options),
                                    subresource="approval")
        return _encode(obj)

    @handle_errors
    async def Patch(self, request: pb.PatchRequest, context: Any) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        if len(request.patch) > MAX_BODY:
            raise errors.TooLarge(f"Request entity too large: limit is {MAX_BODY}")
        obj = await self.api.patch(rt, request.ref.namespace, request.ref.name,
                                   request.patch_type, request.patch,
                                   dry_run=_dry_run(request.options),
                                   subresource="status" if request.status else "")
        return _encode(obj)

    @handle_errors
    async def Delete(self, request: pb.DeleteRequest, context: Any) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        obj = await self.api.delete(
            rt, request.ref.namespace, request.ref.name,
            propagation=request.propagation_policy,
            grace_period=request.grace_period_seconds,
            precondition_rv=request.precondition_resource_version,
            dry_run=_dry_run(request.options))
        return _encode(obj)

    async def Watch(self, request: pb.WatchRequest, context: grpc.aio.ServicerContext
                    ) -> AsyncIterator[pb.WatchEvent]:
        start = time.perf_counter()
        error: BaseException | None = None
        watchers: tuple[str, str, str] | None = None
        try:
            await self.gate.check("Watch", request.ref, context)
            _check_verb("Watch", request)
            rt = by_plural(request.ref.resource)
            watchers = metrics.watcher_labels(rt.plural, rt.kind)
            if watchers:
                metrics.REGISTERED_WATCHERS.labels(*watchers).inc()
            events = self.api.watch(
                rt, request.ref.namespace, label_selector=request.label_selector,
                field_selector=request.field_selector,
                resource_version=request.resource_version,
                bookmarks=request.allow_bookmarks,
                send_initial_events=request.send_initial_events)
            async for kind, body in events:
                yield pb.WatchEvent(type=kind, object=body)
        except errors.APIError as e:
            error = e
            await context.abort(e.code, e.to_details())
        except grpc.aio.AbortError:
            raise
        except Exception as e:
            error = e
            logger.exception("internal error in Watch")
            err = errors.InternalError(f"Internal error occurred: {type(e).__name__}: {e}")
            await context.abort(err.code, err.to_details())
        finally:
            if watchers:
                metrics.REGISTERED_WATCHERS.labels(*watchers).dec()
            ref = request.ref
            metrics.observe_request("WATCH", ref.resource, "",
                                    metrics.scope("WATCH", ref.namespace, ""), "",
                                    metrics.http_code(error, "WATCH"),
                                    time.perf_counter() - start)

    @handle_errors
    async def Bind(self, request: pb.BindRequest, context: Any) -> pb.ObjectResponse:
        binding = _decode(request.body)
        return _encode(await self.api.bind(request.ref.namespace, request.ref.name, binding))

    @handle_errors
    async def GetScale(self, request: pb.ScaleRequest, context: Any) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        return _encode(await self.api.get_scale(rt, request.ref.namespace, request.ref.name))

    @handle_errors
    async def UpdateScale(self, request: pb.ScaleRequest, context: Any) -> pb.ObjectResponse:
        rt = by_plural(request.ref.resource)
        scale = await self.api.update_scale(rt, request.ref.namespace, request.ref.name,
                                            _decode(request.body))
        return _encode(scale)

    @handle_errors
    async def Evict(self, request: pb.EvictRequest, context: Any) -> pb.ObjectResponse:
        return _encode(await self.api.evict(request.ref.namespace, request.ref.name,
                                            _decode(request.body)))

    @handle_errors
    async def Discovery(self, request: pb.DiscoveryRequest, context: Any
                        ) -> pb.DiscoveryResponse:
        return pb.DiscoveryResponse(
            server_version=VERSION,
            resources=[pb.APIResource(
                name=rt.plural, singular_name=rt.singular, kind=rt.kind, group=rt.group,
                version=rt.version, namespaced=rt.namespaced, short_names=rt.short_names,
                verbs=rt.verbs, categories=rt.categories)
                for rt in RESOURCES + (METRICS_RESOURCES if self.metrics else ())])

    @handle_errors
    async def Explain(self, request: pb.ExplainRequest, context: Any) -> pb.ExplainResponse:
        return pb.ExplainResponse(text=explain(request.path, request.recursive))
