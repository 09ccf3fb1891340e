"""Plugins by name: builds a profile's Framework from config and the listers the
plugins read (spreading selectors, volumes)."""

from __future__ import annotations

from collections.abc import Callable

from controlplane.scheduler.config import Profile
from controlplane.scheduler.framework import Framework
from controlplane.scheduler.plugins import (
    imagelocality,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    tainttoleration,
    volumebinding,
)
from controlplane.scheduler.plugins.podtopologyspread import DefaultSelector
from controlplane.scheduler.plugins.volumebinding import VolumeLister
from controlplane.scheduler.preemption import DefaultPreemption


class _NoVolumes:
    def get_pvc(self, namespace: str, name: str) -> None:
        return None

    def get_pv(self, name: str) -> None:
        return None

    def get_storage_class(self, name: str) -> None:
        return None

    def list_pvs(self) -> list[dict[str, object]]:
        return []


def build_framework(profile: Profile, *, default_selector: DefaultSelector | None = None,
                    volumes: VolumeLister | None = None,
                    percentage_of_nodes_to_score: int = 0) -> Framework:
    fit = noderesources.Fit(profile.fit_strategy, profile.fit_resources)
    spread = podtopologyspread.PodTopologySpread(default_selector,
                                                 profile.system_default_spreading)
    taints = tainttoleration.TaintTolerationPlugin()
    affinity = nodeaffinity.NodeAffinity()
    inter = interpodaffinity.InterPodAffinity()
    makers: dict[str, Callable[[], object]] = {
        "NodeUnschedulable": nodeunschedulable.NodeUnschedulable,
        "NodeName": nodename.NodeName,
        "TaintToleration": lambda: taints,
        "NodeAffinity": lambda: affinity,
        "NodePorts": nodeports.NodePorts,
        "NodeResourcesFit": lambda: fit,
        "VolumeBinding": lambda: volumebinding.VolumeBinding(volumes or _NoVolumes()),
        "PodTopologySpread": lambda: spread,
        "InterPodAffinity": lambda: inter,
        "NodeResourcesBalancedAllocation":
            lambda: noderesources.BalancedAllocation(profile.balanced_resources),
        "ImageLocality": imagelocality.ImageLocality,
    }
    preemption = [DefaultPreemption() for name in profile.post_filters
                  if name == "DefaultPreemption"]
    fwk = Framework.build([makers[n]() for n in profile.filters],
                          [(makers[n](), w) for n, w in profile.scores.items()],
                          preemption, scheduler_name=profile.scheduler_name,
                          percentage_of_nodes_to_score=percentage_of_nodes_to_score)
    for p in preemption:
        p.fwk = fwk
    return fwk
