"""Putting `rules.render` output into the kernel, and taking it all out again.

One `iptables-restore --noflush` per sync: every chain we declare is flushed and
refilled in the same transaction, chains we no longer declare are flushed and deleted
(`-X`), and nothing outside our chains is touched. The jump rules from the built-in
chains are the only rules outside our chains; they are checked (`-C`) and inserted
(`-I`) one by one, as kube-proxy's EnsureRule does.

After one full sync, later syncs are partial, as kube-proxy's since 1.27
(MinimizeIPTablesRestore): only the chains whose rules changed since the last applied
text are written, and the chains that vanished are deleted. With iptables-nft a full
restore of 1,000 services x 10 endpoints takes seconds; one changed endpoint then
costs milliseconds. A failed sync forgets what was applied, so the next one is full.

`prefix` runs every command elsewhere (e.g. `nsenter --net=/run/netns/NAME`), which is
how tests and benchmarks use a private network namespace.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

from node.proxy.rules import FILTER_CHAINS, JUMPS, NAT_CHAINS, SERVICE_CHAIN_PREFIXES

Runner = Callable[[Sequence[str], str], "subprocess.CompletedProcess[str]"]
OUR_CHAINS = {"filter": set(FILTER_CHAINS), "nat": set(NAT_CHAINS)}


def _run(argv: Sequence[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                          check=False, timeout=60)


def chains_in_save(text: str) -> dict[str, set[str]]:
    """table -> chain names, from `iptables-save` output."""
    out: dict[str, set[str]] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            out.setdefault(table, set())
        elif line.startswith(":") and table:
            out[table].add(line[1:].split()[0])
    return out


def is_ours(table: str, chain: str) -> bool:
    return chain in OUR_CHAINS.get(table, set()) or (
        table == "nat" and chain.startswith(SERVICE_CHAIN_PREFIXES))


def with_stale_deletions(rendered: str, existing: dict[str, set[str]]) -> str:
    """`rendered` plus a flush and `-X` for each of our nat chains it no longer declares."""
    declared = chains_in_save(rendered)
    stale = sorted(c for c in existing.get("nat", set())
                   if c.startswith(SERVICE_CHAIN_PREFIXES) and c not in declared.get("nat", ()))
    if not stale:
        return rendered
    head, sep, _ = rendered.rpartition("COMMIT\n")
    lines = [f":{c} - [0:0]" for c in stale] + [f"-X {c}" for c in stale]
    # Chain lines must precede rules in a table, so they go right after "*nat".
    nat_at = head.index("*nat\n") + len("*nat\n")
    head = head[:nat_at] + "\n".join(lines[:len(stale)]) + "\n" + head[nat_at:]
    return head + "\n".join(lines[len(stale):]) + "\n" + sep


Parsed = dict[str, dict[str, list[str]]]
"""table -> chain -> its rules ("-A ..." lines), in the order of the restore text."""


def parse_restore(text: str) -> Parsed:
    out: Parsed = {}
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("*"):
            table = out.setdefault(line[1:].strip(), {})
        elif line.startswith(":"):
            table.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            table.setdefault(line.split()[1], []).append(line)
    return out


def partial_restore(applied: Parsed, wanted: Parsed) -> str:
    """Restore text that turns `applied` into `wanted` touching only changed chains."""
    out: list[str] = []
    for table, chains in wanted.items():
        before = applied.get(table, {})
        changed = [c for c, rules in chains.items() if before.get(c) != rules]
        gone = [c for c in before if c not in chains and is_ours(table, c)]
        if not changed and not gone:
            continue
        out += [f"*{table}", *(f":{c} - [0:0]" for c in changed + gone)]
        out += [rule for c in changed for rule in chains[c]]
        out += [*(f"-X {c}" for c in gone), "COMMIT"]
    return "\n".join(out) + "\n" if out else ""


def cleanup_text(existing: dict[str, set[str]]) -> str:
    """Flush, then delete, every chain of ours that exists (jump rules must be gone first)."""
    out: list[str] = []
    for table in ("filter", "nat"):
        mine = sorted(c for c in existing.get(table, set()) if is_ours(table, c))
        if mine:
            out += [f"*{table}", *(f":{c} - [0:0]" for c in mine),
                    *(f"-X {c}" for c in mine), "COMMIT"]
    return "\n".join(out) + "\n" if out else ""


class Iptables:
    """The thin I/O side: iptables-save, iptables-restore, iptables -C/-I/-D."""

    def __init__(self, prefix: Sequence[str] = (), runner: Runner = _run) -> None:
        self.prefix = list(prefix)
        self._run = runner
        self._applied: Parsed | None = None  # what the last successful sync wrote

    def _call(self, argv: Sequence[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self._run([*self.prefix, *argv], stdin)

    def _must(self, argv: Sequence[str], stdin: str = "") -> str:
        out = self._call(argv, stdin)
        if out.returncode != 0:
            raise OSError(f"{' '.join(argv)} failed: {out.stderr.strip()}")
        return out.stdout

    def save(self) -> str:
        return self._must(["iptables-save"])

    def existing(self) -> dict[str, set[str]]:
        return chains_in_save(self.save())

    def restore(self, text: str) -> None:
        self._must(["iptables-restore", "-w", "--noflush"], text)

    def ensure_jumps(self) -> int:
        """Insert the missing jump rules at the top of the built-in chains."""
        added = 0
        for j in JUMPS:
            base = ["iptables", "-w", "-t", j.table]
            if self._call([*base, "-C", j.chain, *_unquoted(j.args())]).returncode == 0:
                continue
            self._must([*base, "-I", j.chain, *_unquoted(j.args())])
            added += 1
        return added

    def sync(self, rendered: str, full: bool = False) -> bool:
        """Make the kernel hold `rendered`, dropping our chains it no longer names.

        Partial when a previous sync succeeded and `full` is not asked; returns whether
        the sync was full. A full sync also re-checks the jump rules.
        """
        wanted = parse_restore(rendered)
        applied, self._applied = self._applied, None
        if applied is not None and not full:
            text = partial_restore(applied, wanted)
            if text:
                self.restore(text)
            self._applied = wanted
            return False
        self.restore(with_stale_deletions(rendered, self.existing()))
        self.ensure_jumps()
        self._applied = wanted
        return True

    def cleanup(self) -> None:
        """Remove the jump rules, then every chain of ours: the node is as before us."""
        self._applied = None
        for j in JUMPS:
            check = ["iptables", "-w", "-t", j.table, "-C", j.chain, *_unquoted(j.args())]
            while self._call(check).returncode == 0:
                self._must(["iptables", "-w", "-t", j.table, "-D", j.chain,
                            *_unquoted(j.args())])
        text = cleanup_text(self.existing())
        if text:
            self.restore(text)


def _unquoted(args: Sequence[str]) -> list[str]:
    """argv needs no shell quoting: the comment is one argument as it is."""
    return [a.strip('"') for a in args]
