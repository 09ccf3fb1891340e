"""Pull progress: Docker's pull stream folded into "3 of 5 layers, 12.3MB of 45.6MB".

A large image can take minutes to pull, and `jota describe pod` would otherwise show a
single "Pulling" event for all that time. Docker reports per layer (`id`): "Pulling fs
layer", "Waiting", "Downloading" with byte counts, "Download complete", "Extracting",
"Pull complete", or "Already exists" for layers the node has. The tracker keeps the
latest word of each layer; the agent turns it into a Pulling event now and then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Statuses that mean a layer needs nothing more.
_DONE = frozenset({"Pull complete", "Already exists"})
# Statuses that mean its bytes are all here (extraction may still run).
_DOWNLOADED = _DONE | {"Download complete", "Verifying Checksum", "Extracting"}


@dataclass(frozen=True)
class PullProgress:
    """How far one pull has got, over the layers Docker has named so far."""

    layers: int
    layers_done: int
    downloaded: int
    total: int

    def describe(self, image: str) -> str:
        text = f'Pulling image "{image}": {self.layers_done} of {self.layers} layers done'
        if self.total:
            text += f", {human_bytes(self.downloaded)} of {human_bytes(self.total)}"
        return text


@dataclass
class _Layer:
    status: str = ""
    current: int = 0
    total: int = 0


@dataclass
class PullTracker:
    """Fold Docker's decoded pull-stream items, one `update` each."""

    _layers: dict[str, _Layer] = field(default_factory=dict)

    def update(self, item: dict[str, Any]) -> bool:
        """Take one item; True when a layer has just finished (a moment worth telling)."""
        layer_id = item.get("id")
        status = str(item.get("status") or "")
        # Items without a layer id are about the whole image ("Pulling from library/x",
        # "Digest: ...", "Status: Downloaded newer image"), and the per-tag line of a
        # pull (its id is the tag) says "Pulling from": neither is a layer.
        if not layer_id or status.startswith("Pulling from"):
            return False
        layer = self._layers.setdefault(str(layer_id), _Layer())
        finished = status in _DONE and layer.status not in _DONE
        layer.status = status
        detail = item.get("progressDetail") or {}
        if status == "Downloading":
            layer.current = int(detail.get("current") or 0)
            layer.total = int(detail.get("total") or layer.total)
        elif status in _DOWNLOADED and layer.total:
            layer.current = layer.total
        return finished

    def progress(self) -> PullProgress:
        layers = self._layers.values()
        return PullProgress(layers=len(self._layers),
                            layers_done=sum(1 for x in layers if x.status in _DONE),
                            downloaded=sum(x.current for x in layers),
                            total=sum(x.total for x in layers))


def human_bytes(n: int) -> str:
    """Docker's own progress units (decimal: kB, MB, GB), as `docker pull` prints them."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    raise AssertionError("unreachable")
