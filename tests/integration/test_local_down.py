"""`jota local down` on a machine where an earlier local cluster was cut short.

A session killed in the middle of `jota local up` (or of a test run) leaves the nodes'
namespaces, the bridge and the routes, and its state file may be gone with its $HOME.
The names are fixed (jota0, jota0-worker-N), so `down` finds them by looking at the
machine and removes them; otherwise the next `up` would stumble on them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jota.local import cluster, netns
from jota.local.state import CLUSTER_INDEX


def test_down_sweeps_a_network_whose_state_file_is_lost(tmp_path: Path) -> None:
    assert cluster.what_is_left() == [], "a local cluster is already on this machine"
    lay = netns.layout(CLUSTER_INDEX, 2)
    try:
        netns.apply(netns.setup_plan(lay))  # what `up` makes before any process starts
        assert any("namespace jota0-worker-2" in w for w in cluster.what_is_left())

        down = subprocess.run([sys.executable, "-m", "jota.cli.main", "local", "down"],
                              env={"HOME": str(tmp_path), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                   "JOTA_LOCAL_DIR": str(tmp_path / "nothing-here")},
                              capture_output=True, text=True, timeout=120, check=False)

        assert down.returncode == 0, down.stderr
        assert "an earlier local cluster left" in down.stdout
        assert cluster.what_is_left() == []
    finally:
        netns.undo(netns.teardown_plan(netns.stray_layout(lay)))
