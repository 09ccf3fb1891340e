"""Docker's pull stream folded into the words of a Pulling event."""

from __future__ import annotations

from typing import Any

import pytest

from node.runtime.pullprogress import PullProgress, PullTracker, human_bytes

# What `docker pull` streams for an image of two layers, one already on the node
# (trimmed from a real pull through the Docker SDK's decoded stream).
STREAM: list[dict[str, Any]] = [
    {"status": "Pulling from jota/app", "id": "v2"},
    {"status": "Already exists", "progressDetail": {}, "id": "aaa"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "bbb"},
    {"status": "Downloading", "progressDetail": {"current": 500_000, "total": 2_000_000},
     "id": "bbb"},
    {"status": "Downloading", "progressDetail": {"current": 1_500_000, "total": 2_000_000},
     "id": "bbb"},
    {"status": "Verifying Checksum", "progressDetail": {}, "id": "bbb"},
    {"status": "Download complete", "progressDetail": {}, "id": "bbb"},
    {"status": "Extracting", "progressDetail": {"current": 32768, "total": 2_000_000},
     "id": "bbb"},
    {"status": "Pull complete", "progressDetail": {}, "id": "bbb"},
    {"status": "Digest: sha256:0123"},
    {"status": "Status: Downloaded newer image for jota/app:v2"},
]


def fold(items: list[dict[str, Any]]) -> tuple[PullTracker, list[bool]]:
    tracker = PullTracker()
    return tracker, [tracker.update(item) for item in items]


def test_a_whole_pull_ends_with_every_layer_done_and_every_byte_counted() -> None:
    tracker, finished = fold(STREAM)
    assert tracker.progress() == PullProgress(layers=2, layers_done=2, downloaded=2_000_000,
                                              total=2_000_000)
    # Worth telling: the layer found on the node, and the layer pulled; nothing else.
    assert finished.count(True) == 2
    assert finished[1] and finished[8]


def test_halfway_through_a_layer_the_bytes_so_far_are_shown() -> None:
    tracker, _ = fold(STREAM[:5])
    progress = tracker.progress()
    assert (progress.layers, progress.layers_done) == (2, 1)
    assert progress.describe("jota/app:v2") == \
        'Pulling image "jota/app:v2": 1 of 2 layers done, 1.5MB of 2.0MB'


def test_extraction_does_not_read_as_download_progress() -> None:
    tracker, _ = fold(STREAM[:8])
    assert tracker.progress().downloaded == 2_000_000


def test_the_image_wide_lines_are_not_layers() -> None:
    tracker, finished = fold([STREAM[0], STREAM[-2], STREAM[-1]])
    assert tracker.progress() == PullProgress(0, 0, 0, 0)
    assert not any(finished)


def test_a_layer_told_done_twice_is_news_once() -> None:
    _, finished = fold([STREAM[1], STREAM[1]])
    assert finished == [True, False]


def test_without_byte_counts_only_layers_are_told() -> None:
    assert PullProgress(3, 1, 0, 0).describe("x") == 'Pulling image "x": 1 of 3 layers done'


@pytest.mark.parametrize(("n", "text"), [
    (0, "0B"), (999, "999B"), (1000, "1.0kB"), (12_345_678, "12.3MB"),
    (3_200_000_000, "3.2GB"), (4_500_000_000_000, "4500.0GB"),
])
def test_sizes_read_as_docker_prints_them(n: int, text: str) -> None:
    assert human_bytes(n) == text
