"""`jota set image deploy/web web=img:2`: change containers' images in place.

As `kubectl set image`: words with `=` are CONTAINER=IMAGE pairs (`*` means every
container), the rest name the objects. Only the images change, through a
strategic merge patch keyed on container names, so a Deployment rolls out a new
revision. `--record` stores the command line as `kubernetes.io/change-cause`,
which `jota rollout history` shows.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jota.api.meta import Obj
from jota.cli.commands._common import add_output_flag, add_positionals, emit, find_targets
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_dry_run_flag, add_filename_flags, add_namespace_flags

CHANGE_CAUSE = "kubernetes.io/change-cause"
# Where each kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "pods": ("spec",),
    "cronjobs": ("spec", "jobTemplate", "spec", "template", "spec"),
    **{k: ("spec", "template", "spec") for k in (
        "deployments", "replicasets", "daemonsets", "statefulsets", "jobs",
        "replicationcontrollers")},
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("set", help="Set specific features on objects")
    verbs = p.add_subparsers(dest="set_verb", metavar="SUBCOMMAND", required=True)
    image = verbs.add_parser("image", help="Update the image of a pod template")
    add_positionals(image, "args", "(TYPE NAME | TYPE/NAME) CONTAINER=IMAGE ...")
    add_filename_flags(image, "update")
    add_namespace_flags(image, all_namespaces=False)
    add_dry_run_flag(image)
    add_output_flag(image)
    image.add_argument("--all", action="store_true", help="select all objects of the kinds")
    image.add_argument("-l", "--selector", default="", help="label selector")
    image.add_argument("--record", nargs="?", const="true", default="false",
                       choices=["true", "false"],
                       help="record the command in the kubernetes.io/change-cause annotation")
    image.set_defaults(run=run)


def split_args(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """(resources, {container: image}), as kubectl tells them apart by the `=`."""
    resources: list[str] = []
    images: dict[str, str] = {}
    for w in words:
        if "=" in w:
            name, _, image = w.partition("=")
            if not name or not image:
                raise UsageError(f"invalid image update {w!r}: expected CONTAINER=IMAGE")
            images[name] = image
        else:
            resources.append(w)
    if not images:
        raise UsageError("at least one image update is required")
    return resources, images


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def image_patch(plural: str, obj: Obj, images: dict[str, str], cause: str = "") -> Obj | None:
    """The strategic merge patch setting `images`; None if nothing changes. Raises
    for a container name the pod spec does not have."""
    path = POD_SPEC_PATHS.get(plural)
    if path is None:
        raise UsageError(f"the {plural} kind has no pod template to set an image in")
    spec = _dig(obj, path) or {}
    changes: dict[str, list[Obj]] = {}
    for name, image in images.items():
        found = False
        for fld in ("initContainers", "containers"):
            for c in spec.get(fld) or []:
                if name in ("*", c.get("name")):
                    found = True
                    if c.get("image") != image:
                        changes.setdefault(fld, []).append({"name": c["name"],
                                                            "image": image})
        if not found:
            raise UsageError(f'unable to find container named "{name}"')
    if not changes:
        return None
    patch: Obj = dict(changes)
    for part in reversed(path):
        patch = {part: patch}
    if cause:
        patch["metadata"] = {"annotations": {CHANGE_CAUSE: cause}}
    return patch


async def run(ctx: Context, args: argparse.Namespace) -> int:
    resources, images = split_args(args.args)
    targets = await find_targets(ctx, resources, selector=args.selector, all_=args.all,
                                 filenames=args.filename, recursive=args.recursive,
                                 verb="set image")
    cause = "jota " + " ".join(sys.argv[1:]) if args.record == "true" else ""
    for t in targets:
        obj = t.obj or await ctx.client.get(t.rt.plural, t.name, t.namespace)
        patch = image_patch(t.rt.plural, obj, images, cause)
        if patch is None:
            continue
        if args.dry_run == "client":
            emit(ctx, t.rt, obj, args.output, "image updated", args.dry_run)
            continue
        written = await ctx.client.patch(t.rt.plural, t.name, patch, t.namespace,
                                         patch_type="strategic",
                                         dry_run=args.dry_run == "server")
        emit(ctx, t.rt, written, args.output, "image updated", args.dry_run)
    return 0
