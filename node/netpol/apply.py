"""Putting `rules.render` output into the kernel, and taking it all out again.

Every sync is one full `iptables-restore --noflush` of the filter table: the chains
we declare are flushed and refilled, our chains no longer declared are deleted, and
nothing else is touched. A node's policy rules are few (one chain per guarded pod
and per policy), so kube-proxy's partial syncs would buy nothing here.

Our FORWARD jump must come before anything that accepts: kube-proxy's KUBE-FORWARD
accepts masquerade-marked packets and the pod network accepts its pod CIDR, so a
jump below them would never see that traffic. Each sync puts it back at the top
when something was inserted above it, as kube-router does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from node.netpol.rules import FORWARD_CHAIN, is_ours, jump_args
from node.proxy.apply import Runner, chains_in_save


def run(argv: Sequence[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                          check=False, timeout=60)


def with_stale_deletions(rendered: str, existing: set[str]) -> str:
    """`rendered` plus a flush and `-X` for each chain of ours it no longer declares."""
    declared = chains_in_save(rendered).get("filter", set())
    stale = sorted(c for c in existing if is_ours(c) and c not in declared)
    if not stale:
        return rendered
    head, sep, _ = rendered.rpartition("COMMIT\n")
    at = head.index("*filter\n") + len("*filter\n")
    head = head[:at] + "".join(f":{c} - [0:0]\n" for c in stale) + head[at:]
    return head + "".join(f"-X {c}\n" for c in stale) + sep


def cleanup_text(existing: set[str]) -> str:
    mine = sorted(c for c in existing if is_ours(c))
    if not mine:
        return ""
    return "\n".join(["*filter", *(f":{c} - [0:0]" for c in mine),
                      *(f"-X {c}" for c in mine), "COMMIT"]) + "\n"


def jump_is_first(forward_rules: str) -> bool:
    """Whether `iptables -S FORWARD` lists our jump as the chain's first rule."""
    rules = [line for line in forward_rules.splitlines() if line.startswith("-A ")]
    return bool(rules) and rules[0].endswith(f"-j {FORWARD_CHAIN}")


class PolicyIptables:
    """The thin I/O side: iptables-save, iptables-restore, the FORWARD jump."""

    def __init__(self, prefix: Sequence[str] = (), runner: Runner = run) -> None:
        self.prefix = list(prefix)
        self._run = runner

    def _must(self, argv: Sequence[str], stdin: str = "") -> str:
        out = self._run([*self.prefix, *argv], stdin)
        if out.returncode != 0:
            raise OSError(f"{' '.join(argv)} failed: {out.stderr.strip()}")
        return out.stdout

    def _ok(self, argv: Sequence[str]) -> bool:
        return self._run([*self.prefix, *argv], "").returncode == 0

    def existing(self) -> set[str]:
        return chains_in_save(self._must(["iptables-save", "-t", "filter"])).get(
            "filter", set())

    def sync(self, rendered: str) -> None:
        self._must(["iptables-restore", "-w", "--noflush"],
                   with_stale_deletions(rendered, self.existing()))
        if jump_is_first(self._must(["iptables", "-w", "-S", "FORWARD"])):
            return
        while self._ok(["iptables", "-w", "-C", "FORWARD", *jump_args()]):
            self._must(["iptables", "-w", "-D", "FORWARD", *jump_args()])
        self._must(["iptables", "-w", "-I", "FORWARD", "1", *jump_args()])

    def cleanup(self) -> None:
        """Remove the jump, then every chain of ours: the node is as before us."""
        while self._ok(["iptables", "-w", "-C", "FORWARD", *jump_args()]):
            self._must(["iptables", "-w", "-D", "FORWARD", *jump_args()])
        text = cleanup_text(self.existing())
        if text:
            self._must(["iptables-restore", "-w", "--noflush"], text)
