"""`jota cordon|uncordon|drain NODE`: take a node out of scheduling and empty it.

As kubectl's verbs, with kubectl's words:

- `cordon` / `uncordon` set `spec.unschedulable` (`node/n1 cordoned`, `already cordoned`);
- `drain` cordons, then evicts every pod on the node, except mirror pods and (with
  `--ignore-daemonsets`) DaemonSet pods. It refuses, before evicting anything, when the
  node has DaemonSet pods without `--ignore-daemonsets`, pods no controller would
  recreate without `--force`, or emptyDir pods without `--delete-emptydir-data`.

Each pod goes through the apiserver's `pods/eviction` subresource, which honours
its PodDisruptionBudget: while the budget allows no disruption the eviction is
refused (429) and drain prints kubectl's "will retry after 5s" and tries again,
until it is allowed or `--timeout` passes. Then drain waits for the pod to be gone.

The decisions (`filter_pods`, `cordon_result`) are pure.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.cli.commands.wait import parse_duration
from jota.cli.context import Context, UsageError

RETRY_SECONDS = 5.0
POLL_SECONDS = 1.0
MIRROR = "kubernetes.io/config.mirror"
DAEMONSET_FATAL = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
LOCAL_STORAGE_FATAL = "Pods with local storage (use --delete-emptydir-data to override)"
LOCAL_STORAGE_WARNING = "deleting Pods with local storage"
UNMANAGED_FATAL = "Pods that declare no controller (use --force to override)"
UNMANAGED_WARNING = "deleting Pods that declare no controller"


# ---- pure parts ---------------------------------------------------------------------------


@dataclass
class DeleteList:
    """kubectl's PodDeleteList: the pods to evict, and why others were not."""

    pods: list[Obj] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def warning_text(self) -> str:
        return "; ".join(f"{msg}: {', '.join(pods)}" for msg, pods in self.warnings.items())

    def error_text(self) -> str:
        """Aggregated as kubectl's utilerrors.NewAggregate prints them."""
        errs = [f"cannot delete {msg}: {', '.join(pods)}" for msg, pods in self.errors.items()]
        return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"


def _controller_kind(pod: Obj) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return str(ref.get("kind") or "")
    return None


def _finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def filter_pods(pods: list[Obj], *, ignore_daemonsets: bool, delete_emptydir: bool,
                force: bool) -> DeleteList:
    """kubectl drain's filters, in its order: DaemonSet, mirror, local storage, unmanaged."""
    result = DeleteList()

    def note(bucket: dict[str, list[str]], msg: str, pod: Obj) -> None:
        bucket.setdefault(msg, []).append(f"{namespace_of(pod)}/{name_of(pod)}")

    for pod in pods:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        if _controller_kind(pod) == "DaemonSet":
            if ignore_daemonsets:
                note(result.warnings, DAEMONSET_WARNING, pod)
            else:
                note(result.errors, DAEMONSET_FATAL, pod)
            continue
        if MIRROR in annotations:
            continue
        volumes = (pod.get("spec") or {}).get("volumes") or []
        if not _finished(pod) and any(isinstance(v, dict) and "emptyDir" in v
                                      for v in volumes):
            if not delete_emptydir:
                note(result.errors, LOCAL_STORAGE_FATAL, pod)
                continue
            note(result.warnings, LOCAL_STORAGE_WARNING, pod)
        if _controller_kind(pod) is None and not _finished(pod):
            if not force:
                note(result.errors, UNMANAGED_FATAL, pod)
                continue
            note(result.warnings, UNMANAGED_WARNING, pod)
        result.pods.append(pod)
    return result


def cordon_result(node: Obj, unschedulable: bool) -> str:
    """`cordoned`, or `already cordoned` when there is nothing to change."""
    verb = "cordoned" if unschedulable else "uncordoned"
    current = bool((node.get("spec") or {}).get("unschedulable"))
    return f"already {verb}" if current == unschedulable else verb


# ---- the verbs ------------------------------------------------------------------------------


async def set_unschedulable(ctx: Context, name: str, unschedulable: bool) -> None:
    node = await ctx.client.get("nodes", name)
    result = cordon_result(node, unschedulable)
    if not result.startswith("already"):
        await ctx.client.patch("nodes", name, {"spec": {"unschedulable": unschedulable
                                                         or None}}, patch_type="merge")
    ctx.print(f"node/{name} {result}")


def _node_names(args: argparse.Namespace) -> list[str]:
    names = [n.removeprefix("node/").removeprefix("nodes/") for n in args.nodes]
    if not names:
        raise UsageError("resource(s) were provided, but no name was specified")
    return names


async def run_cordon(ctx: Context, args: argparse.Namespace) -> int:
    for name in _node_names(args):
        await set_unschedulable(ctx, name, True)
    return 0


async def run_uncordon(ctx: Context, args: argparse.Namespace) -> int:
    for name in _node_names(args):
        await set_unschedulable(ctx, name, False)
    return 0


class _Drainer:
    def __init__(self, ctx: Context, args: argparse.Namespace) -> None:
        self.ctx = ctx
        self.grace = int(args.grace_period)
        timeout = parse_duration(args.timeout)
        self.deadline = time.monotonic() + timeout if timeout > 0 else math.inf
        self.timeout_text = args.timeout

    async def evict(self, pod: Obj) -> None:
        ns, name = namespace_of(pod), name_of(pod)
        grace = self.grace if self.grace >= 0 else None
        while True:
            self.ctx.print(f"evicting pod {ns}/{name}")
            if time.monotonic() >= self.deadline:
                raise UsageError(f'error when evicting pods/"{name}" -n "{ns}": global '
                                 f"timeout reached: {self.timeout_text}")
            try:
                await self.ctx.client.evict(name, ns, grace_period_seconds=grace)
                break
            except errors.NotFound:
                return
            except errors.TooManyRequests as e:
                self.ctx.warn(f'error when evicting pods/"{name}" -n "{ns}" (will retry '
                              f"after {RETRY_SECONDS:g}s): {e.message}")
                await asyncio.sleep(min(RETRY_SECONDS, max(0.0, self.deadline
                                                           - time.monotonic())))
            except errors.APIError as e:
                raise UsageError(f'error when evicting pods/"{name}" -n "{ns}": '
                                 f"{e.message}") from None
        uid = (pod.get("metadata") or {}).get("uid")
        await self._wait_gone(ns, name, uid)
        self.ctx.print(f"pod/{name} evicted")

    async def _wait_gone(self, ns: str, name: str, uid: Any) -> None:
        while True:
            try:
                current = await self.ctx.client.get("pods", name, ns)
            except errors.NotFound:
                return
            if (current.get("metadata") or {}).get("uid") != uid:
                return
            if time.monotonic() >= self.deadline:
                raise UsageError(f"drain did not complete within {self.timeout_text}")
            await asyncio.sleep(POLL_SECONDS)


async def drain_node(ctx: Context, args: argparse.Namespace, name: str) -> None:
    await set_unschedulable(ctx, name, True)
    listing = await ctx.client.list("pods", "", field_selector=f"spec.nodeName={name}")
    found = filter_pods(listing["items"], ignore_daemonsets=args.ignore_daemonsets,
                        delete_emptydir=args.delete_emptydir_data, force=args.force)
    if found.errors:
        raise UsageError(found.error_text())
    if found.warnings:
        ctx.warn(f"Warning: {found.warning_text()}")
    drainer = _Drainer(ctx, args)
    results = await asyncio.gather(*(drainer.evict(p) for p in found.pods),
                                   return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise failed[0]


async def run_drain(ctx: Context, args: argparse.Namespace) -> int:
    names = _node_names(args)
    for i, name in enumerate(names):
        try:
            await drain_node(ctx, args, name)
        except (UsageError, errors.APIError) as e:
            text = e.message if isinstance(e, errors.APIError) else str(e)
            ctx.warn(f'error: unable to drain node "{name}" due to error: {text}, '
                     "continuing command...")
            ctx.warn("There are pending nodes to be drained:")
            for pending in names[i:]:
                ctx.warn(f" {pending}")
            raise
        ctx.print(f"node/{name} drained")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb, run, text in (("cordon", run_cordon, "Mark node as unschedulable"),
                            ("uncordon", run_uncordon, "Mark node as schedulable")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("nodes", nargs="*", metavar="NODE")
        p.set_defaults(run=run, positionals="nodes")
    p = sub.add_parser("drain", help="Drain node in preparation for maintenance")
    p.add_argument("nodes", nargs="*", metavar="NODE")
    p.add_argument("--ignore-daemonsets", action="store_true",
                   help="ignore DaemonSet-managed pods")
    p.add_argument("--delete-emptydir-data", action="store_true",
                   help="continue even if there are pods using emptyDir (its data is lost)")
    p.add_argument("--force", action="store_true",
                   help="continue even if there are pods that do not declare a controller")
    p.add_argument("--grace-period", type=int, default=-1,
                   help="seconds each pod is given to terminate (-1: the pod's own)")
    p.add_argument("--timeout", default="0s",
                   help="give up after this long (0s: wait forever)")
    p.set_defaults(run=run_drain, positionals="nodes")
