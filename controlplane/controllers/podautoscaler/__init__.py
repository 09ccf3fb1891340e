"""The HorizontalPodAutoscaler: `horizontal` (the controller), `replica_calculator`
and `behavior` (pure: the algorithm and the stabilization/policies)."""

from controlplane.controllers.podautoscaler.horizontal import (
    DEFAULT_SYNC_PERIOD,
    HorizontalController,
)

__all__ = ["DEFAULT_SYNC_PERIOD", "HorizontalController"]
