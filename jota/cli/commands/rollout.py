"""`jota rollout status|history|undo|pause|resume|restart`: manage a Deployment's rollout.

As kubectl's `rollout` verbs, with the same words:

- `status` prints kubectl's progress lines as the Deployment's status changes, until
  `deployment "web" successfully rolled out` (or `-w=false`: once; `--timeout`);
- `history` lists `REVISION  CHANGE-CAUSE` from the Deployment's ReplicaSets, or one
  revision's pod template with `--revision N`;
- `undo [--to-revision N]` copies an older ReplicaSet's template back into the
  Deployment, client-side as kubectl does (apps/v1 has no rollback subresource);
- `pause` / `resume` set `spec.paused`; `restart` stamps the template with
  `kubectl.kubernetes.io/restartedAt`, which rolls every pod.

The decisions (`status_message`, `history_table`, `rollback_patch`) are pure; like
kubectl's own copy of deploymentutil, this module keeps its own small copy of the
revision rules, since `jota/` never imports the controllers.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
from datetime import UTC, datetime
from typing import Any

from jota.api import errors
from jota.api.meta import Obj, name_of, resource_version_of
from jota.api.registry import ResourceType
from jota.cli.commands._common import Target, add_positionals, emit, find_targets
from jota.cli.commands.wait import parse_duration
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_filename_flags, add_namespace_flags
from jota.cli.printers.describe_common import Writer
from jota.cli.printers.describe_pod import describe_pod_template

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
TIMED_OUT = "ProgressDeadlineExceeded"
# Deployment annotations a rollback keeps rather than takes from the ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION,
    "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to"})


# ---- pure parts ---------------------------------------------------------------------------


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0


def status_message(d: Obj, revision: int = 0) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: (line, done); raises when the rollout failed."""
    name = name_of(d)
    md, spec, st = d.get("metadata") or {}, d.get("spec") or {}, d.get("status") or {}
    if revision > 0:
        current = revision_of(d)
        if current != revision:
            raise UsageError(f"desired revision ({revision}) is different from the running "
                             f"revision ({current})")
    if _int(md.get("generation")) > _int(st.get("observedGeneration")):
        return "Waiting for deployment spec update to be observed...", False
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == TIMED_OUT:
            raise UsageError(f'deployment "{name}" exceeded its progress deadline')
    want = _int(spec.get("replicas")) if "replicas" in spec else 1
    updated, replicas = _int(st.get("updatedReplicas")), _int(st.get("replicas"))
    available = _int(st.get("availableReplicas"))
    prefix = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < want:
        return f"{prefix}{updated} out of {want} new replicas have been updated...", False
    if replicas > updated:
        return f"{prefix}{replicas - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{prefix}{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', True


def revision_of(obj: Obj) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _without_hash(template: Any) -> Obj:
    t: Obj = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def owned_replica_sets(d: Obj, rss: list[Obj]) -> list[Obj]:
    uid = (d.get("metadata") or {}).get("uid")
    return [rs for rs in rss
            if any(r.get("controller") and r.get("uid") == uid
                   for r in (rs.get("metadata") or {}).get("ownerReferences") or [])]


def history(rss: list[Obj]) -> dict[int, Obj]:
    """Revision -> pod template (with the ReplicaSet's change-cause on it)."""
    found: dict[int, Obj] = {}
    for rs in rss:
        rev = revision_of(rs)
        if rev <= 0:
            continue
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        cause = ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
        if cause:
            template.setdefault("metadata", {}).setdefault("annotations", {})[
                CHANGE_CAUSE] = cause
        found[rev] = template
    return found


def history_table(rss: list[Obj]) -> str:
    info = history(rss)
    if not info:
        return "No rollout history found.\n"
    rows = [["REVISION", "CHANGE-CAUSE"]]
    for rev in sorted(info):
        cause = ((info[rev].get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
        rows.append([str(rev), cause or "<none>"])
    width = max(len(r[0]) for r in rows) + 2  # kubectl's tabwriter here pads by 2
    return "".join(f"{r[0].ljust(width)}{r[1]}\n" for r in rows)


def history_revision(rss: list[Obj], revision: int) -> str:
    info = history(rss)
    if revision not in info:
        raise UsageError("unable to find the specified revision")
    w = Writer()
    describe_pod_template(w, info[revision])
    return w.text()


def rollback_target(d: Obj, rss: list[Obj], to_revision: int) -> Obj:
    """The ReplicaSet of `to_revision`, or of the previous revision when 0."""
    by_rev = {revision_of(rs): rs for rs in rss if revision_of(rs) > 0}
    if to_revision > 0:
        if to_revision not in by_rev:
            raise UsageError(f"unable to find specified revision {to_revision} in history")
        return by_rev[to_revision]
    revs = sorted(by_rev)
    if len(revs) < 2:
        raise UsageError(f'no rollout history found for deployment "{name_of(d)}"')
    return by_rev[revs[-2]]


def rollback_patch(d: Obj, rs: Obj) -> list[Obj] | None:
    """The JSON patch restoring `rs`'s template and annotations; None if it already
    is the Deployment's template."""
    template = _without_hash((rs.get("spec") or {}).get("template"))
    if template == _without_hash((d.get("spec") or {}).get("template")):
        return None
    current = (d.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in ANNOTATIONS_TO_SKIP}
    for k, v in ((rs.get("metadata") or {}).get("annotations") or {}).items():
        if k not in ANNOTATIONS_TO_SKIP:
            annotations[k] = v
    return [{"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations}]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the command ----------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("rollout", help="Manage the rollout of a resource")
    verbs = p.add_subparsers(dest="rollout_verb", metavar="SUBCOMMAND", required=True)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        v = verbs.add_parser(name, help=help)
        add_positionals(v, "resources", "TYPE NAME | TYPE/NAME")
        add_filename_flags(v, f"{name}")
        add_namespace_flags(v, all_namespaces=False)
        v.add_argument("-l", "--selector", default="", help="label selector")
        return v

    status = verb("status", "Show the status of the rollout")
    status.add_argument("-w", "--watch", default="true", choices=["true", "false"],
                        nargs="?", const="true", help="watch until the rollout is done")
    status.add_argument("--revision", type=int, default=0,
                        help="pin to a specific revision for showing its status")
    status.add_argument("--timeout", default="0s",
                        help="how long to wait before giving up (0: forever)")
    status.set_defaults(run=run_status)
    hist = verb("history", "View rollout history")
    hist.add_argument("--revision", type=int, default=0,
                      help="see the details of this revision")
    hist.set_defaults(run=run_history)
    undo = verb("undo", "Undo a previous rollout")
    undo.add_argument("--to-revision", type=int, default=0,
                      help="the revision to roll back to (default 0: the previous one)")
    undo.set_defaults(run=run_undo)
    verb("pause", "Mark the provided resource as paused").set_defaults(run=run_pause)
    verb("resume", "Resume a paused resource").set_defaults(run=run_resume)
    verb("restart", "Restart a resource").set_defaults(run=run_restart)


async def _deployments(ctx: Context, args: argparse.Namespace, viewer: str) -> list[Target]:
    targets = await find_targets(ctx, args.resources, selector=args.selector,
                                 filenames=args.filename, recursive=args.recursive,
                                 verb="rollout")
    for t in targets:
        if t.rt.plural != "deployments":
            raise UsageError(f"no {viewer} has been implemented for {_group_kind(t.rt)}")
    return targets


def _group_kind(rt: ResourceType) -> str:
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


async def _replica_sets(ctx: Context, d: Obj, namespace: str) -> list[Obj]:
    listing = await ctx.client.list("replicasets", namespace)
    return owned_replica_sets(d, listing.get("items") or [])


async def run_status(ctx: Context, args: argparse.Namespace) -> int:
    timeout = parse_duration(args.timeout)
    for t in await _deployments(ctx, args, "status viewer"):
        try:
            await asyncio.wait_for(_watch_status(ctx, t, args.watch == "true", args.revision),
                                   timeout if timeout > 0 else None)
        except TimeoutError:
            raise UsageError("timed out waiting for the condition") from None
    return 0


async def _watch_status(ctx: Context, t: Target, watch: bool, revision: int) -> None:
    last = ""

    def show(d: Obj) -> bool:
        nonlocal last
        line, done = status_message(d, revision)
        if line != last:
            ctx.print(line)
            last = line
        return done

    while True:
        listing = await ctx.client.list(t.rt.plural, t.namespace,
                                        field_selector=f"metadata.name={t.name}")
        items = listing.get("items") or []
        if not items:
            raise errors.NotFound.of(t.rt.qualified, t.name)
        if show(items[0]) or not watch:
            return
        try:
            async for kind, obj in ctx.client.watch(
                    t.rt.plural, t.namespace, resource_version=resource_version_of(listing),
                    field_selector=f"metadata.name={t.name}", allow_bookmarks=False):
                if kind == "DELETED":
                    raise UsageError("object has been deleted")
                if kind in ("ADDED", "MODIFIED") and show(obj):
                    return
        except errors.Gone:
            continue


async def run_history(ctx: Context, args: argparse.Namespace) -> int:
    for t in await _deployments(ctx, args, "history viewer"):
        d = await ctx.client.get(t.rt.plural, t.name, t.namespace)
        rss = await _replica_sets(ctx, d, t.namespace)
        if args.revision > 0:
            body = history_revision(rss, args.revision)
            ctx.print(f"{t.rt.display}/{t.name} with revision #{args.revision}\n{body}")
        else:
            ctx.out.write(f"{t.rt.display}/{t.name} \n{history_table(rss)}\n")
            ctx.out.flush()
    return 0


async def run_undo(ctx: Context, args: argparse.Namespace) -> int:
    for t in await _deployments(ctx, args, "rollbacker"):
        d = await ctx.client.get(t.rt.plural, t.name, t.namespace)
        if (d.get("spec") or {}).get("paused"):
            raise UsageError(f"you cannot rollback a paused deployment; resume it first with "
                             f"'jota rollout resume {t.rt.singular}/{t.name}' and try again")
        target = rollback_target(d, await _replica_sets(ctx, d, t.namespace),
                                 args.to_revision)
        patch = rollback_patch(d, target)
        if patch is None:
            rev = revision_of(target)
            emit(ctx, t.rt, d, "", f"skipped rollback (current template already matches "
                                   f"revision {rev})")
            continue
        patch.insert(0, {"op": "test", "path": "/metadata/resourceVersion",
                         "value": resource_version_of(d)})
        try:
            await ctx.client.patch(t.rt.plural, t.name, patch, t.namespace, patch_type="json")
        except errors.APIError as e:
            raise UsageError(f"failed restoring revision {revision_of(target)}: "
                             f"{e.message}") from None
        emit(ctx, t.rt, d, "", "rolled back")
    return 0


async def _toggle(ctx: Context, args: argparse.Namespace, pause: bool) -> int:
    for t in await _deployments(ctx, args, "pauser" if pause else "resumer"):
        d = await ctx.client.get(t.rt.plural, t.name, t.namespace)
        if bool((d.get("spec") or {}).get("paused")) == pause:
            state = "already paused" if pause else "not paused"
            raise UsageError(f'{t.rt.qualified} "{t.name}" is {state}')
        await ctx.client.patch(t.rt.plural, t.name, {"spec": {"paused": pause or None}},
                               t.namespace, patch_type="merge")
        emit(ctx, t.rt, d, "", "paused" if pause else "resumed")
    return 0


async def run_pause(ctx: Context, args: argparse.Namespace) -> int:
    return await _toggle(ctx, args, True)


async def run_resume(ctx: Context, args: argparse.Namespace) -> int:
    return await _toggle(ctx, args, False)


async def run_restart(ctx: Context, args: argparse.Namespace) -> int:
    for t in await _deployments(ctx, args, "restarter"):
        d = await ctx.client.get(t.rt.plural, t.name, t.namespace)
        if (d.get("spec") or {}).get("paused"):
            raise UsageError("can't restart paused deployment (run rollout resume first)")
        patch = {"spec": {"template": {"metadata": {"annotations": {
            RESTARTED_AT: now_rfc3339()}}}}}
        await ctx.client.patch(t.rt.plural, t.name, patch, t.namespace, patch_type="strategic")
        emit(ctx, t.rt, d, "", "restarted")
    return 0
