"""`PodStreams`: logs, exec and port-forward, proxied to the pod's node agent.

As kube-apiserver's pods/log, pods/exec and pods/portforward subresources: the
apiserver resolves the pod (`pods "web" not found`), its container (the only
one, or the error kubectl users know), the node's address and port from the
Node object, then opens a gRPC stream to that agent's `NodeStreams` and pipes
frames both ways. What only the apiserver knows travels in the first frame: the
pod's uid, and the container id the pod status names (kubelet's
validateContainerLogStatus, which also gives the "waiting to start" errors).

Errors become gRPC statuses here as in `service.handle_errors`; the agent's own
statuses already carry `jota.api.errors` JSON and pass through unchanged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from controlplane.apiserver.authn import Gate
from controlplane.apiserver.rest import API
from jota.api import errors
from jota.api.gen import streams_pb2 as pb
from jota.api.gen import streams_pb2_grpc as pb_grpc
from jota.api.meta import Obj
from jota.api.registry import by_plural

logger = logging.getLogger(__name__)

MAX_MESSAGE = 16 * 1024 * 1024
PREFERRED_ADDRESSES = ("InternalIP", "ExternalIP", "InternalDNS", "ExternalDNS", "Hostname")
F = TypeVar("F", bound=Callable[..., AsyncIterator[Any]])


# ---- pure parts ------------------------------------------------------------------------------

def container_names(pod: Obj) -> list[str]:
    """Every container of the pod in kube's VisitContainers order: init, app, ephemeral."""
    spec = pod.get("spec") or {}
    return [str(c.get("name", "")) for key in ("initContainers", "containers",
                                                "ephemeralContainers")
            for c in spec.get(key) or []]


def choose_container(pod: Obj, container: str) -> str:
    """The container a request means: the one named, or the pod's only one."""
    name = (pod.get("metadata") or {}).get("name", "")
    if container:
        if container not in container_names(pod):
            raise errors.BadRequest(f"container {container} is not valid for pod {name}")
        return container
    app = (pod.get("spec") or {}).get("containers") or []
    if len(app) == 1:
        return str(app[0].get("name", ""))
    if not app:
        raise errors.BadRequest(f"a container name must be specified for pod {name}")
    raise errors.BadRequest(f"a container name must be specified for pod {name}, choose one "
                            f"of: [{' '.join(container_names(pod))}]")


def container_status(pod: Obj, container: str) -> Obj | None:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if cs.get("name") == container:
                return dict(cs)
    return None


def runtime_id(container_id: str) -> str:
    """`docker://abc` -> `abc`, as kubecontainer.ParseContainerID."""
    return container_id.partition("://")[2] or container_id


def log_container_id(pod: Obj, container: str, previous: bool) -> str:
    """The runtime id of the container whose logs are wanted, or kubelet's error for why
    there are none (kubelet's validateContainerLogStatus, in its words)."""
    pod_name = (pod.get("metadata") or {}).get("name", "")
    cs = container_status(pod, container)
    if cs is None:
        raise errors.BadRequest(f'container "{container}" in pod "{pod_name}" is not '
                                "available")
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated") or {}
    waiting, running, terminated = (state.get("waiting"), state.get("running"),
                                    state.get("terminated"))
    if previous:
        if not last.get("containerID"):
            raise errors.BadRequest(f'previous terminated container "{container}" in pod '
                                    f'"{pod_name}" not found')
        return runtime_id(str(last["containerID"]))
    if running is not None:
        return runtime_id(str(cs.get("containerID", "")))
    if terminated is not None:
        if terminated.get("containerID") or cs.get("containerID"):
            return runtime_id(str(terminated.get("containerID") or cs.get("containerID")))
        if last.get("containerID"):
            return runtime_id(str(last["containerID"]))
        raise errors.BadRequest(f'container "{container}" in pod "{pod_name}" is terminated')
    if last:
        if not last.get("containerID"):
            raise errors.BadRequest(f'container "{container}" in pod "{pod_name}" is '
                                    "terminated")
        return runtime_id(str(last["containerID"]))
    if waiting is not None:
        reason = {"ErrImagePull": "image can't be pulled",
                  "ImagePullBackOff": "trying and failing to pull image"}.get(
            str(waiting.get("reason", "")), str(waiting.get("reason", "")))
        raise errors.BadRequest(f'container "{container}" in pod "{pod_name}" is waiting to '
                                f"start: {reason}")
    raise errors.BadRequest(f'container "{container}" in pod "{pod_name}" is waiting to start '
                            "- no logs yet")


def running_container_id(pod: Obj, container: str) -> str:
    """The id of the container's running attempt, "" when the status names none."""
    cs = container_status(pod, container) or {}
    if (cs.get("state") or {}).get("running") is None:
        return ""
    return runtime_id(str(cs.get("containerID", "")))


def node_endpoint(node: Obj) -> str:
    """host:port of the node agent's streaming service, from the Node's status."""
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port", 0)
    for kind in PREFERRED_ADDRESSES:
        for a in addresses:
            if a.get("type") == kind and a.get("address"):
                host = str(a["address"])
                return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    known = ", ".join(f"{a.get('type')}:{a.get('address')}" for a in addresses)
    raise errors.BadRequest(f"no preferred addresses found; known addresses: [{known}]")


def from_agent(e: grpc.aio.AioRpcError, endpoint: str) -> errors.APIError:
    """An agent's status, as the error to pass on: its own JSON, or a dialing failure."""
    details = e.details() or ""
    if e.code() == grpc.StatusCode.UNAVAILABLE and not details.startswith("{"):
        return errors.ServiceUnavailable(f"error dialing backend: {endpoint}: {details}")
    return errors.from_grpc(e.code(), details)


# ---- the service -----------------------------------------------------------------------------

def stream_errors(fn: F) -> F:
    """`handle_errors` for streaming calls: APIErrors keep their code and kubectl's
    words; anything else is a logged bug answered INTERNAL."""
    @functools.wraps(fn)
    async def wrapper(self: PodStreamsService, request: Any,
                      context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            async for item in fn(self, request, context):
                yield item
        except errors.APIError as e:
            await context.abort(e.code, e.to_details())
        except grpc.aio.AbortError:
            raise
        except Exception as e:
            logger.exception("internal error in %s", fn.__name__)
            err = errors.InternalError(f"Internal error occurred: {type(e).__name__}: {e}")
            await context.abort(err.code, err.to_details())

    return wrapper  # type: ignore[return-value]


async def _first(frames: AsyncIterator[Any], what: str) -> Any:
    try:
        return await anext(frames)
    except StopAsyncIteration:
        raise errors.BadRequest(f"{what}: the stream ended before its first frame") from None


async def _then(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for item in rest:
        yield item


class PodStreamsService(pb_grpc.PodStreamsServicer):
    def __init__(self, api: API, gate: Gate | None = None,
                 kubelet_credentials: grpc.ChannelCredentials | None = None) -> None:
        self.api = api
        self.gate = gate or Gate(secure=False)
        # The apiserver's own client certificate for node agents (kube-apiserver's
        # --kubelet-client-certificate); None on a plaintext development cluster.
        self.kubelet_credentials = kubelet_credentials

    def _channel(self, endpoint: str) -> grpc.aio.Channel:
        options = [("grpc.max_receive_message_length", MAX_MESSAGE),
                   ("grpc.max_send_message_length", MAX_MESSAGE)]
        if self.kubelet_credentials is not None:
            return grpc.aio.secure_channel(endpoint, self.kubelet_credentials, options)
        return grpc.aio.insecure_channel(endpoint, options)

    async def _resolve(self, target: pb.PodTarget, context: Any, method: str
                       ) -> tuple[Obj, str]:
        """The pod and its node agent's endpoint ("" when the pod has no node yet), once
        the caller may reach it."""
        await self.gate.check(method, target, context)
        if not target.pod:
            raise errors.BadRequest("a pod name is required")
        pod = await self.api.get(by_plural("pods"), target.namespace or "default", target.pod)
        node_name = (pod.get("spec") or {}).get("nodeName", "")
        if not node_name:
            return pod, ""
        node = await self.api.get(by_plural("nodes"), "", node_name)
        return pod, node_endpoint(node)

    @staticmethod
    def _target(pod: Obj, container: str, container_id: str) -> pb.PodTarget:
        meta = pod.get("metadata") or {}
        return pb.PodTarget(namespace=meta.get("namespace", ""), pod=meta.get("name", ""),
                            container=container, pod_uid=meta.get("uid", ""),
                            container_id=container_id)

    @stream_errors
    async def Logs(self, request: pb.LogsRequest, context: Any) -> AsyncIterator[pb.LogChunk]:
        pod, endpoint = await self._resolve(request.target, context, "Logs")
        container = choose_container(pod, request.target.container)
        if not endpoint:
            return  # not scheduled yet: no logs, as kube-apiserver
        forwarded = pb.LogsRequest()
        forwarded.CopyFrom(request)
        forwarded.target.CopyFrom(self._target(
            pod, container, log_container_id(pod, container, request.previous)))
        async with self._channel(endpoint) as channel:
            call = pb_grpc.NodeStreamsStub(channel).Logs(forwarded)  # type: ignore[no-untyped-call]
            try:
                async for chunk in call:
                    yield chunk
            except grpc.aio.AioRpcError as e:
                raise from_agent(e, endpoint) from None
            finally:
                call.cancel()

    @stream_errors
    async def Exec(self, request_iterator: AsyncIterator[pb.ExecFrame], context: Any
                   ) -> AsyncIterator[pb.ExecFrame]:
        first = await _first(request_iterator, "exec")
        if first.WhichOneof("frame") != "start":
            raise errors.BadRequest("exec: the first frame must name the command")
        start = first.start
        pod, endpoint = await self._resolve(start.target, context, "Exec")
        container = choose_container(pod, start.target.container)
        if not endpoint:
            raise errors.BadRequest(f"pod {start.target.pod} does not have a host assigned")
        forwarded = pb.ExecFrame()
        forwarded.CopyFrom(first)
        forwarded.start.target.CopyFrom(
            self._target(pod, container, running_container_id(pod, container)))
        async for frame in self._proxy(endpoint, "Exec", _then(forwarded, request_iterator)):
            yield frame

    @stream_errors
    async def PortForward(self, request_iterator: AsyncIterator[pb.PortForwardFrame],
                          context: Any) -> AsyncIterator[pb.PortForwardFrame]:
        first = await _first(request_iterator, "port-forward")
        pod, endpoint = await self._resolve(first.target, context, "PortForward")
        if not endpoint:
            raise errors.BadRequest(f"pod {first.target.pod} does not have a host assigned")
        forwarded = pb.PortForwardFrame()
        forwarded.CopyFrom(first)
        forwarded.target.CopyFrom(self._target(pod, "", ""))
        async for frame in self._proxy(endpoint, "PortForward",
                                       _then(forwarded, request_iterator)):
            yield frame

    async def _proxy(self, endpoint: str, method: str, frames: AsyncIterator[Any]
                     ) -> AsyncIterator[Any]:
        async with self._channel(endpoint) as channel:
            stub = pb_grpc.NodeStreamsStub(channel)  # type: ignore[no-untyped-call]
            call = getattr(stub, method)(frames)
            try:
                async for frame in call:
                    yield frame
            except grpc.aio.AioRpcError as e:
                raise from_agent(e, endpoint) from None
            finally:
                call.cancel()
