"""Breaking and mending a running local cluster on purpose, and saving and bringing
back its etcd keyspace.

`stop-component` (SIGTERM, or SIGKILL as a crash), `start-component` and `restart` (the
whole control plane, as after a power cut) show what an HA control plane survives;
`backup` and `restore` are etcd's snapshot save and restore, with the restart of
everything that watches that a restore needs. Each starts a component again the way
`up` started it (jota/local/controlplane.py, jota/local/nodes.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from jota.local import backup, leftovers, topology
from jota.local.controlplane import (
    start_dns,
    start_etcd_member,
    start_ingress,
    start_prometheus,
    start_replica,
)
from jota.local.daemons import stop
from jota.local.nodes import NODE_NAME, start_host_node, start_host_proxy, start_vms
from jota.local.state import Component, Progress, State, read_state, state_dir


def _running_state() -> State:
    state = read_state()
    if not state.components:
        raise RuntimeError("no local cluster is running")
    return state


def _find(state: State, name: str) -> Component:
    c = state.component(name)
    if c is None:
        names = ", ".join(c.name for c in state.components)
        raise RuntimeError(f'no component "{name}" in the local cluster ({names})')
    return c


def stop_component(name: str, progress: Progress, kill: bool = False) -> None:
    """Stop one component (SIGTERM, as a clean shutdown), or with `kill` SIGKILL it, as
    a crash: a leader keeps its Lease until it expires, etcd gets no chance to step down."""
    state = _running_state()
    c = _find(state, name)
    if not c.alive:
        raise RuntimeError(f"{name} is not running")
    progress(f"{'Killing' if kill else 'Stopping'} {name} (pid {c.pid})")
    if kill:
        with contextlib.suppress(OSError):
            os.kill(c.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and leftovers.alive(c.pid):
            time.sleep(0.05)
    else:
        stop(c.pid, timeout=15.0)


def start_component(name: str, progress: Progress) -> None:
    """Start a stopped component again with the flags `up` gave it (its data, a member's
    etcd data directory included, is where it was)."""
    state = _running_state()
    c = _find(state, name)
    if c.alive:
        raise RuntimeError(f"{name} is running already (pid {c.pid})")
    _start_component(state, name, progress)


def _start_component(state: State, name: str, progress: Progress) -> None:
    root, lay = state_dir(), state.layout()
    kind = topology.kind_of(name)
    if kind == "etcd":
        start_etcd_member(state, name, progress)
    elif kind:
        start_replica(state, name, progress)
    elif name == "dns":
        start_dns(state, root, lay, progress)
    elif name == "ingress":
        start_ingress(state, root, lay, progress)
    elif name == "prometheus":
        start_prometheus(state, root, progress)
    elif name == f"node/{NODE_NAME}":
        start_host_node(state, root, progress)
    elif name == f"proxy/{NODE_NAME}":
        start_host_proxy(state, root, progress)
    elif lay is not None and name.partition("/")[0] in ("dockerd", "node", "proxy"):
        vm = next(v for v in state.nodes if v.name == name.partition("/")[2])
        start_vms(state, lay, [vm], progress)  # what of the node runs stays
    else:
        raise RuntimeError(f"do not know how to start {name}")


def _in_order(state: State, kinds: tuple[str, ...]) -> list[Component]:
    return [c for kind in kinds for c in state.of_kind(kind)]


def restart(progress: Progress) -> None:
    """Stop every control-plane process and etcd member, then start them again, as after
    a power cut of the control-plane machines; the nodes and add-ons keep running and
    their watches resume against the new apiservers."""
    state = _running_state()
    order = ("scheduler", "controller-manager", "apiserver", "etcd")
    for c in _in_order(state, order):
        if c.alive:
            progress(f"Stopping {c.name}")
            stop(c.pid, timeout=15.0)
    for c in _in_order(state, tuple(reversed(order))):
        _start_component(state, c.name, progress)


def backup_etcd(path: Path, progress: Progress) -> backup.Snapshot:
    """A snapshot of the cluster's etcd into `path`, taken from the first member that
    answers (any member has the whole keyspace)."""
    state = _running_state()
    members = [c for c in state.of_kind("etcd") if c.alive]
    if not members:
        raise RuntimeError("no etcd member of the local cluster is running")
    if path.exists():
        raise FileExistsError(f"{path} exists already: choose another name")
    failures = []
    for c in members:
        progress(f"Saving a snapshot of {c.name} ({c.address}) to {path}")
        try:
            return backup.save(c.address, path)
        except RuntimeError as e:
            failures.append(f"{c.name}: {e}")
            path.unlink(missing_ok=True)
    raise RuntimeError("no etcd member gave a snapshot: " + "; ".join(failures))


def restore_etcd(path: Path, progress: Progress) -> backup.Snapshot:
    """Replace the cluster's whole state with a snapshot: stop the apiservers and every
    etcd member, make each member's data directory from the snapshot (one new cluster of
    the same members), start etcd and the apiservers, then restart everything that
    watches (their watches are at revisions past the snapshot's)."""
    snap = backup.status(path)  # a missing or corrupt file fails here, before any stop
    state = _running_state()
    for c in _in_order(state, ("apiserver", "etcd")):
        if c.alive:
            progress(f"Stopping {c.name}")
            stop(c.pid, timeout=15.0)
    members = topology.etcd_members(state.etcd_members)
    cluster = topology.initial_cluster(members)
    for m in members:
        data = state_dir() / m.component
        progress(f"Restoring {m.component}'s data ({data}) from {path} (revision "
                 f"{snap.revision}, {snap.keys} keys)")
        old = backup.restore(path, data, m.name, m.peer_url, initial_cluster=cluster)
        progress(f"The data {m.component} had is kept in {old}")
    for kind in ("etcd", "apiserver"):
        for c in state.of_kind(kind):
            _start_component(state, c.name, progress)
    _restart_watchers(state, progress)
    return snap


def _restart_watchers(state: State, progress: Progress) -> None:
    """Restart the controller-managers, schedulers, dns, node agents, proxies and ingress,
    in that order: each lists afresh from the restored state."""
    watchers = [*_in_order(state, ("controller-manager", "scheduler")),
                *[c for c in state.components if c.name == "dns"
                  or c.name.startswith(("node/", "proxy/"))],
                *[c for c in state.components if c.name == "ingress"]]
    for c in watchers:
        if c.alive:
            progress(f"Stopping {c.name}")
            stop(c.pid, timeout=15.0)
    lay = state.layout()
    for c in watchers:
        if lay is not None and c.name.startswith(("node/", "proxy/")):
            continue
        _start_component(state, c.name, progress)
    if lay is not None and state.nodes:
        start_vms(state, lay, state.nodes, progress)
