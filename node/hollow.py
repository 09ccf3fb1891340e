"""`jota-hollow-nodes`: many node agents in one process, on the in-memory runtime.

As Kubernetes' kubemark: each hollow node is the real agent (registration,
lease, pod workers, status) with `FakeRuntime` instead of Docker, so the
control plane sees N real-looking nodes whose pods "run" at no cost. Used by
the scheduler and controller tests and by bench/ for scale figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import tempfile
from pathlib import Path

from jota import log
from jota.client import Client
from node.agent.agent import Agent, AgentConfig
from node.agent.nodestatus import NodeConfig
from node.runtime.fake import FakeRuntime

logger = logging.getLogger("jota-hollow-nodes")


def hollow_agent(client: Client, name: str, root: Path, *, labels: dict[str, str],
                 max_pods: int) -> Agent:
    config = AgentConfig(
        node=NodeConfig(name=name, node_ip="127.0.0.1", runtime_version="",
                        max_pods=max_pods, labels={"jota.io/hollow": "true", **labels}),
        root_dir=root / name)
    config.root_dir.mkdir(parents=True, exist_ok=True)
    return Agent(client, FakeRuntime(), config)


async def run(apiserver: str, count: int, prefix: str, *, labels: dict[str, str],
              max_pods: int) -> None:
    client = Client(apiserver)
    with tempfile.TemporaryDirectory(prefix="jota-hollow-") as tmp:
        agents = [hollow_agent(client, f"{prefix}{i}", Path(tmp), labels=labels,
                               max_pods=max_pods) for i in range(count)]
        tasks = [asyncio.create_task(a.run(), name=f"hollow-{i}")
                 for i, a in enumerate(agents)]
        logger.info("hollow nodes started", extra={"count": count, "prefix": prefix})
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="jota-hollow-nodes",
                                description="Runs N node agents on an in-memory runtime.")
    p.add_argument("--apiserver", default="127.0.0.1:6443")
    p.add_argument("--count", type=int, default=10, help="how many nodes (default 10)")
    p.add_argument("--prefix", default="hollow-", help="node name prefix (default hollow-)")
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--node-labels", default="", help="labels for every node, k=v,k2=v2")
    p.add_argument("--v", "--log-level", dest="log_level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    args = p.parse_args(argv)
    log.setup(args.log_level)
    labels = dict(pair.split("=", 1) for pair in args.node_labels.split(",") if "=" in pair)

    async def amain() -> None:
        task = asyncio.create_task(run(args.apiserver, args.count, args.prefix,
                                       labels=labels, max_pods=args.max_pods))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(amain())


if __name__ == "__main__":
    main()
