"""ImageLocality: prefer nodes that already hold the pod's images, weighted by image
size and by how many nodes have it, so one node does not hoard every image
(image_locality.go)."""

from __future__ import annotations

from controlplane.scheduler.framework import MAX_NODE_SCORE, CycleState, Status
from controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot, normalized_image_name

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB
_TOTAL = "ImageLocality/total"


def images_of(pod: PodInfo) -> list[str]:
    return [normalized_image_name(str(c.get("image") or ""))
            for group in ("initContainers", "containers")
            for c in pod.spec.get(group) or []]


def image_score(pod: PodInfo, node: NodeInfo, image_nodes: dict[str, int],
                total_nodes: int) -> int:
    images = images_of(pod)
    total = 0
    for img in images:
        size = node.images.get(img)
        if size is not None and total_nodes:
            total += int(size * (image_nodes.get(img, 1) / total_nodes))
    max_threshold = MAX_CONTAINER_THRESHOLD * max(len(images), 1)
    total = min(max(total, MIN_THRESHOLD), max_threshold)
    return MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class ImageLocality:
    name = NAME

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: object,
                  snap: Snapshot) -> Status:
        state[_TOTAL] = (snap.image_nodes, len(snap.nodes))
        return Status()

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.images:
            return 0
        image_nodes, total = state[_TOTAL]
        return image_score(pod, node, image_nodes, total)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None
