"""The API benchmark: Jota's apiserver against raw etcd, in the same run, same payloads.

Each Jota figure goes through the real path a controller takes (the async gRPC
`Client` -> jota-apiserver -> etcd); its baseline sends the same JSON bytes to
the same etcd through the same etcd client the apiserver uses (`Etcd`). Both
sides do the same client-side work: encode a dict to JSON before a write, decode
JSON after a read. So a ratio measures what the apiserver hop adds.

Latency is per call (monotonic clock) and throughput is operations / wall time
of the whole run. CPU time of the apiserver and etcd processes is read from
/proc around each case: on a small machine it explains most shortfalls.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from bench import (
    Delivery,
    Meter,
    Op,
    Result,
    Section,
    Table,
    Verdict,
    closing,
    cluster,
    measure,
    measure_interleaved,
    run_workers,
    watch_latency,
)
from bench.stats import fmt_ms, fmt_rate, fmt_ratio, percentile, ratio, summarize
from controlplane.storage.etcd import Etcd, prefix_end
from jota.api.gen import resources_pb2 as pb
from jota.api.gen import resources_pb2_grpc as pb_grpc
from jota.client.client import Client

Obj = dict[str, Any]
RAW = "/bench-raw"  # outside /registry/, so the apiserver's watch caches never see it


@dataclass(frozen=True)
class Sizes:
    creates_c1: int
    creates_c16: int
    gets_c1: int
    gets_c16: int
    updates_c1: int
    updates_c16: int
    list_runs: int
    watch_events: int
    list_pods: int = 1000
    watchers: int = 100
    watch_interval: float = 0.02  # one write every 20 ms: a steady 50 writes/s
    warmup: int = 20


FULL = Sizes(creates_c1=600, creates_c16=2400, gets_c1=1000, gets_c16=3200, updates_c1=500,
             updates_c16=1600, list_runs=30, watch_events=500)
QUICK = Sizes(creates_c1=100, creates_c16=480, gets_c1=200, gets_c16=640, updates_c1=100,
              updates_c16=320, list_runs=8, watch_events=100, warmup=5)


def pod(name: str, seq: str = "0") -> Obj:
    """A realistic pod (~1.5 KB of JSON): two containers, probes, env, volumes."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": "web", "tier": "frontend", "release": "stable",
                       "app.kubernetes.io/version": "1.27.3"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9102",
                            "bench/seq": seq},
        },
        "spec": {
            "containers": [
                {"name": "web", "image": "registry.example.com/shop/web:1.27.3",
                 "command": ["/usr/local/bin/web"], "args": ["--port=8080", "--log-level=info"],
                 "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                 "env": [{"name": "MODE", "value": "production"},
                         {"name": "POD_NAME",
                          "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                               "limits": {"cpu": "500m", "memory": "256Mi"}},
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                    "periodSeconds": 5},
                 "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10},
                 "volumeMounts": [{"name": "config", "mountPath": "/etc/web", "readOnly": True},
                                  {"name": "cache", "mountPath": "/var/cache/web"}]},
                {"name": "log-shipper", "image": "registry.example.com/infra/shipper:2.1.0",
                 "args": ["--input=/var/log/web", "--output=tcp://logs.infra:5170"],
                 "resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                               "limits": {"cpu": "100m", "memory": "64Mi"}},
                 "volumeMounts": [{"name": "logs", "mountPath": "/var/log/web"}]},
            ],
            "volumes": [{"name": "config", "configMap": {"name": "web-config"}},
                        {"name": "cache", "emptyDir": {}},
                        {"name": "logs", "emptyDir": {"sizeLimit": "1Gi"}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}],
        },
    }


def dump(obj: Obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def raw_key(area: str, namespace: str, name: str) -> bytes:
    return f"{RAW}/{area}/{namespace}/{name}".encode()


# ---- the workloads ----------------------------------------------------------------------


@dataclass
class Bench:
    client: Client
    etcd: Etcd
    meter: Meter
    address: str
    sizes: Sizes
    results: dict[str, Result] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)

    async def namespace(self, name: str) -> None:
        await self.client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}})


# ---- create, get, update -----------------------------------------------------------------


def jota_create(clients: list[Client], ns: str, store: dict[str, Obj]) -> Callable[[str], Op]:
    def make(tag: str) -> Op:
        async def op(w: int, j: int) -> None:
            name = f"{tag}-{w}-{j}"
            store[name] = await clients[w % len(clients)].create("pods", pod(name), ns)
        return op
    return make


def raw_write(etcd: Etcd, area: str, ns: str, store: dict[str, int],
              txn: bool) -> Callable[[str], Op]:
    def make(tag: str) -> Op:
        async def op(w: int, j: int) -> None:
            name = f"{tag}-{w}-{j}"
            key = raw_key(area, ns, name)
            if txn:
                revision = await etcd.create(key, dump(pod(name)))
                if revision is None:
                    raise RuntimeError(f"{key!r} exists already")
            else:
                revision = await etcd.put(key, dump(pod(name)))
            store[name] = revision
        return op
    return make


async def bench_writes(b: Bench) -> None:
    s, r = b.sizes, b.results
    for ns in ("bench-c1", "bench-c16s", "bench-c16m"):
        await b.namespace(ns)
    objs: dict[str, dict[str, Obj]] = {"bench-c1": {}, "bench-c16s": {}, "bench-c16m": {}}
    revs: dict[str, dict[str, int]] = {"bench-c1": {}, "bench-c16s": {}}
    own = [Client(b.address, timeout=60) for _ in range(16)]
    try:
        for c, ns, total in ((1, "bench-c1", s.creates_c1), (16, "bench-c16s", s.creates_c16)):
            cases = {f"create/jota/{c}": jota_create([b.client], ns, objs[ns])}
            if c > 1:
                cases["create/jota-own/16"] = jota_create(own, "bench-c16m", objs["bench-c16m"])
            cases[f"create/etcd-txn/{c}"] = raw_write(b.etcd, "create", ns, revs[ns], True)
            cases[f"create/etcd-put/{c}"] = raw_write(b.etcd, "put", ns, {}, False)
            r.update(await measure(b.meter, cases, c, total, s.warmup * c))

        shared = r["create/jota/16"].summary.ops_per_s
        per_task = r["create/jota-own/16"].summary.ops_per_s
        clients = [b.client] if shared >= per_task else own
        b.facts["c16 clients"] = "one shared client" if len(clients) == 1 else \
            "a client per task"
        for c, ns, total in ((1, "bench-c1", s.gets_c1), (16, "bench-c16s", s.gets_c16)):
            names = sorted(n for n in objs[ns] if not n.startswith("warm"))
            r.update(await measure(b.meter, {
                f"get/jota/{c}": jota_get(clients if c > 1 else [b.client], ns, names),
                f"get/etcd/{c}": raw_get(b.etcd, ns, names)}, c, total, s.warmup * c))
        for c, ns, total in ((1, "bench-c1", s.updates_c1),
                             (16, "bench-c16s", s.updates_c16)):
            owned = {w: sorted(n for n in objs[ns]
                               if not n.startswith("warm") and n.split("-")[1] == str(w))
                     for w in range(c)}
            # The raw side writes the very documents the apiserver stored.
            docs = {n: json.loads(dump(o)) for n, o in objs[ns].items()}
            r.update(await measure(b.meter, {
                f"update/jota/{c}": jota_update(clients if c > 1 else [b.client], ns, objs[ns],
                                                owned),
                f"update/etcd/{c}": raw_update(b.etcd, ns, docs, revs[ns], owned)},
                c, total, s.warmup * c))
    finally:
        for client in own:
            await client.close()
    stored, _ = await b.etcd.get(b"/registry/pods/bench-c1/p0-0-0")
    b.facts["request bytes"] = str(len(dump(pod("p0-0-0"))))
    b.facts["stored bytes"] = str(len(stored.value)) if stored else "?"


def jota_get(clients: list[Client], ns: str, names: list[str]) -> Callable[[str], Op]:
    def make(tag: str) -> Op:
        async def op(w: int, j: int) -> None:
            await clients[w % len(clients)].get("pods", names[(w * 7919 + j * 31) % len(names)],
                                                ns)
        return op
    return make


def raw_get(etcd: Etcd, ns: str, names: list[str]) -> Callable[[str], Op]:
    def make(tag: str) -> Op:
        async def op(w: int, j: int) -> None:
            kv, _ = await etcd.get(raw_key("create", ns, names[(w * 7919 + j * 31) %
                                                               len(names)]))
            if kv is None:
                raise RuntimeError("a raw pod is missing")
            json.loads(kv.value)
        return op
    return make


def jota_update(clients: list[Client], ns: str, objs: dict[str, Obj],
                owned: dict[int, list[str]]) -> Callable[[str], Op]:
    """Each worker updates only pods it created, so no two workers race on one pod."""
    def make(tag: str) -> Op:
        async def op(w: int, j: int) -> None:
            name = owned[w][j % len(owned[w])]
            obj = objs[name]
            obj["metadata"]["annotations"]["bench/seq"] = f"{tag}-{j}"
            objs[name] = await clients[w % len(clients)].update("pods", obj, ns)
        return op
    return make


def raw_update(etcd: Etcd, ns: str, docs: dict[str, Obj], revs: dict[str, int],
               owned: dict[int, list[str]]) -> Callable[[str], Op]:
    def make(tag: str) -> Op:
        async def op(w: int, j: int) -> None:
            name = owned[w][j % len(owned[w])]
            doc = docs[name]
            doc["metadata"]["annotations"]["bench/seq"] = f"{tag}-{j}"
            revision = await etcd.update(raw_key("create", ns, name), dump(doc), revs[name])
            if revision is None:
                raise RuntimeError(f"raw update of {name} conflicted")
            revs[name] = revision
        return op
    return make


# ---- list --------------------------------------------------------------------------------


async def bench_list(b: Bench) -> None:
    ns, n = "bench-list", b.sizes.list_pods
    await b.namespace(ns)
    await run_workers(jota_create([b.client], ns, {})("l"), 8, n // 8)
    prefix = f"/registry/pods/{ns}/".encode()
    channel = grpc.aio.insecure_channel(b.address, options=[
        ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    stub = pb_grpc.ResourcesStub(channel)  # type: ignore[no-untyped-call]

    def expect(items: int) -> None:
        if items != n:
            raise RuntimeError(f"listed {items} pods, expected {n}")

    async def cache() -> None:
        expect(len((await b.client.list("pods", ns, resource_version="0"))["items"]))

    async def consistent() -> None:
        expect(len((await b.client.list("pods", ns))["items"]))

    async def paged() -> None:
        expect(len((await b.client.list_all("pods", ns, page=500))["items"]))

    async def cache_undecoded() -> None:
        await stub.List(pb.ListRequest(ref=pb.ResourceRef(resource="pods", namespace=ns),
                                       resource_version="0"), timeout=60)

    async def raw_decoded() -> None:
        # Decoded in one call, as the client decodes a List: the cheapest way, so the
        # comparison measures the servers, not two styles of client-side decoding.
        result = await b.etcd.range(prefix, prefix_end(prefix))
        expect(len(json.loads(b"[" + b",".join(kv.value for kv in result.kvs) + b"]")))

    async def raw_bytes() -> None:
        expect(len((await b.etcd.range(prefix, prefix_end(prefix))).kvs))

    cases: dict[str, Callable[[], Awaitable[None]]] = {
        "list/jota-cache": cache, "list/jota-consistent": consistent, "list/jota-paged": paged,
        "list/jota-cache-undecoded": cache_undecoded, "list/etcd-decoded": raw_decoded,
        "list/etcd-bytes": raw_bytes}
    try:
        b.results.update(await measure_interleaved(b.meter, cases, b.sizes.list_runs, 3))
    finally:
        await channel.close()


# ---- watch -------------------------------------------------------------------------------


def _seq(obj: Obj) -> str:
    return str(obj["metadata"]["annotations"]["bench/seq"])


async def jota_watch(b: Bench, ns: str, watchers: int) -> Delivery:
    await b.namespace(ns)
    rv = (await b.client.list("pods", ns))["metadata"]["resourceVersion"]
    objs: dict[str, Obj] = {}
    half = b.sizes.watch_events // 2

    async def subscribe(i: int) -> AsyncIterator[str]:
        async with closing(b.client.watch("pods", ns, resource_version=rv)) as w:
            async for kind, obj in w:
                if kind in ("ADDED", "MODIFIED"):
                    yield _seq(obj)

    async def write(i: int, seq: str) -> None:
        if i < half:  # the first half creates pods, the second updates them
            name = f"w-{i}"
            objs[name] = await b.client.create("pods", pod(name, seq), ns)
        else:
            obj = objs[f"w-{i - half}"]
            obj["metadata"]["annotations"]["bench/seq"] = seq
            await b.client.update("pods", obj, ns)

    return await watch_latency(subscribe, write, b.sizes.watch_events, watchers,
                               b.sizes.watch_interval)


async def raw_watch(b: Bench, area: str, watchers: int) -> Delivery:
    prefix = f"{RAW}/{area}/".encode()
    start = await b.etcd.revision() + 1
    revs: dict[str, int] = {}
    docs: dict[str, Obj] = {}
    half = b.sizes.watch_events // 2

    async def subscribe(i: int) -> AsyncIterator[str]:
        async with closing(b.etcd.watch(prefix, start, progress_notify=False)) as w:
            async for _, evs in w:
                for ev in evs:
                    yield _seq(json.loads(ev.kv.value))

    async def write(i: int, seq: str) -> None:
        name = f"w-{i}" if i < half else f"w-{i - half}"
        key = prefix + name.encode()
        if i < half:
            docs[name] = pod(name, seq)
            revision = await b.etcd.create(key, dump(docs[name]))
        else:
            docs[name]["metadata"]["annotations"]["bench/seq"] = seq
            revision = await b.etcd.update(key, dump(docs[name]), revs[name])
        if revision is None:
            raise RuntimeError(f"raw watch write of {name} failed")
        revs[name] = revision

    return await watch_latency(subscribe, write, b.sizes.watch_events, watchers,
                               b.sizes.watch_interval)


async def bench_watch(b: Bench) -> dict[str, Delivery]:
    out: dict[str, Delivery] = {}
    for label, watchers in (("1", 1), ("many", b.sizes.watchers)):
        for side in ("jota", "etcd"):
            before = b.meter.read()
            if side == "jota":
                d = await jota_watch(b, f"bench-watch-{label}", watchers)
            else:
                d = await raw_watch(b, f"watch-{label}", watchers)
            out[f"{side}/{label}"] = d
            b.results[f"watch/{side}/{label}"] = Result(
                summarize(d.to_all or [0.0], d.seconds),
                b.meter.per_op(before, b.sizes.watch_events))
    return out


# ---- the run and its report --------------------------------------------------------------


async def run(quick: bool = False) -> Section:
    sizes = QUICK if quick else FULL
    with cluster() as (etcd_daemon, apiserver):
        meter = Meter({"apiserver": apiserver.proc.pid, "etcd": etcd_daemon.proc.pid})
        client = Client(apiserver.address, timeout=60)
        etcd = Etcd([etcd_daemon.address], timeout=60)
        b = Bench(client, etcd, meter, apiserver.address, sizes)
        try:
            await bench_list(b)
            await bench_writes(b)
            deliveries = await bench_watch(b)
        finally:
            await client.close()
            await etcd.close()
    return report(b, deliveries)


THROUGHPUT = ["Case", "Jota ops/s", "Jota p50 / p99 ms", "Baseline", "Baseline ops/s",
              "Baseline p50 / p99 ms", "Jota ÷ baseline ops/s",
              "CPU ms/op Jota (apiserver / etcd / bench)",
              "CPU ms/op baseline (apiserver / etcd / bench)"]
LATENCY = [*THROUGHPUT[:6], "Jota ÷ baseline p50 (below 1: Jota faster)", *THROUGHPUT[7:]]
CPU_NOTE = ("CPU ms/op: CPU time each process spent during the case divided by the "
            "operations (bench = this benchmark process, the client side).")


def _cpu(r: Result) -> str:
    return " / ".join(f"{r.cpu_ms.get(k, 0.0):.2f}" for k in ("apiserver", "etcd", "bench"))


def _row(case: str, jota: Result, base_name: str, base: Result, *, by_latency: bool = False
         ) -> list[str]:
    j, e = jota.summary, base.summary
    compare = ratio(j.p50, e.p50) if by_latency else ratio(j.ops_per_s, e.ops_per_s)
    return [case, fmt_rate(j.ops_per_s), f"{fmt_ms(j.p50)} / {fmt_ms(j.p99)}", base_name,
            fmt_rate(e.ops_per_s), f"{fmt_ms(e.p50)} / {fmt_ms(e.p99)}", fmt_ratio(compare),
            _cpu(jota), _cpu(base)]


def _p(samples: list[float], q: float) -> float:
    return percentile(samples, q) if samples else float("nan")


def report(b: Bench, deliveries: dict[str, Delivery]) -> Section:
    r, s = b.results, b.sizes
    best = max(("create/jota/16", "create/jota-own/16"), key=lambda k: r[k].summary.ops_per_s)
    create = Table("Create a pod", THROUGHPUT, notes=[
        f"{s.creates_c1} creates at c=1, {s.creates_c16} per case at c=16; c = concurrent "
        "asyncio tasks. \"Shared client\": the 16 tasks share one `Client` (one gRPC "
        "channel); \"a client per task\": each task has its own `Client`. `Etcd.create` is "
        "the put-if-absent transaction the apiserver itself issues; `Etcd.put` a plain put.",
        CPU_NOTE])
    for c, jota_keys in ((1, [("create/jota/1", "c=1")]),
                         (16, [("create/jota/16", "c=16, shared client"),
                               ("create/jota-own/16", "c=16, a client per task")])):
        for key, case in jota_keys:
            for base, name in ((f"create/etcd-txn/{c}", "`Etcd.create` (txn)"),
                               (f"create/etcd-put/{c}", "`Etcd.put`")):
                create.rows.append(_row(case, r[key], name, r[base]))
    get = Table("Get a pod", THROUGHPUT, notes=[
        f"{s.gets_c1} gets at c=1, {s.gets_c16} at c=16 ({b.facts['c16 clients']}, the faster "
        "arrangement for creates). The baseline decodes the JSON, as `Client.get` does.",
        CPU_NOTE])
    update = Table("Update a pod (with resourceVersion)", THROUGHPUT, notes=[
        f"{s.updates_c1} updates at c=1, {s.updates_c16} at c=16 ({b.facts['c16 clients']}); "
        "each task updates only pods it created, changing one annotation. The baseline "
        "writes the same stored document with `Etcd.update` (txn comparing mod_revision).",
        CPU_NOTE])
    for c in (1, 16):
        get.rows.append(_row(f"c={c}", r[f"get/jota/{c}"], "`Etcd.get` + JSON decode",
                             r[f"get/etcd/{c}"]))
        update.rows.append(_row(f"c={c}", r[f"update/jota/{c}"], "`Etcd.update` (txn)",
                                r[f"update/etcd/{c}"]))
    raw = "`Etcd.range` + JSON decode"
    listing = Table(f"List {s.list_pods} pods in one namespace", LATENCY, notes=[
        f"{s.list_runs} runs per case, one at a time, the cases taking turns. Every Jota "
        "case includes decoding the whole List in the client, as a controller would; the "
        "baseline decodes the same values the same way (one `json.loads` of them all).",
        f"Bare `Etcd.range` (bytes only, no decode): p50 "
        f"{fmt_ms(r['list/etcd-bytes'].summary.p50)} ms, p99 "
        f"{fmt_ms(r['list/etcd-bytes'].summary.p99)} ms. The List RPC from the watch cache "
        f"without decoding the reply: p50 {fmt_ms(r['list/jota-cache-undecoded'].summary.p50)}"
        f" ms, p99 {fmt_ms(r['list/jota-cache-undecoded'].summary.p99)} ms.", CPU_NOTE])
    for key, case in (("list/jota-cache", "`resourceVersion=\"0\"` (watch cache)"),
                      ("list/jota-consistent", "consistent (cache once fresh)"),
                      ("list/jota-paged", "`limit=500`, 2 pages (etcd)")):
        listing.rows.append(_row(case, r[key], raw, r["list/etcd-decoded"], by_latency=True))
    watch = _watch_table(b, deliveries)
    intro = (
        "Jota's apiserver (gRPC `Client` → jota-apiserver → etcd) against raw etcd through "
        "the same etcd client the apiserver uses (`controlplane.storage.etcd.Etcd`), "
        "in the same run, with the same payloads: a pod of "
        f"{b.facts['request bytes']} bytes of JSON ({b.facts['stored bytes']} bytes once the "
        "apiserver has added defaults, uid and status). Both sides do the same client-side "
        "work (JSON encode before a write, decode after a read). etcd and the apiserver are "
        "started fresh in a temporary directory, on loopback; the benchmark process, the "
        "apiserver and etcd share the machine's cores. Latency is per call; throughput is "
        "operations / wall time of the case.")
    return Section("API", intro, [create, get, update, listing, watch],
                   _verdicts(b, best, deliveries))


def _watch_table(b: Bench, deliveries: dict[str, Delivery]) -> Table:
    s = b.sizes
    table = Table("Watch delivery latency", [
        "Case", "Jota p50 / p99 ms", "Baseline", "Baseline p50 / p99 ms",
        "Jota ÷ baseline p99", "Events lost (Jota / baseline)",
        "CPU ms/event Jota (apiserver / etcd / bench)",
        "CPU ms/event baseline (apiserver / etcd / bench)"], notes=[
        f"{s.watch_events} writes (half creates, half updates) at one every "
        f"{s.watch_interval * 1e3:.0f} ms; latency = receipt by the watcher - just before "
        "the write call (same process, monotonic clock). Jota watchers use `Client.watch` "
        "(all over one client); the baseline watchers use `Etcd.watch` on a prefix holding "
        "only the written keys and decode each value, as `Client.watch` does.", CPU_NOTE])
    for label, name in (("1", "1 watcher"), ("many", f"{s.watchers} watchers")):
        j, e = deliveries[f"jota/{label}"], deliveries[f"etcd/{label}"]
        jr, er = b.results[f"watch/jota/{label}"], b.results[f"watch/etcd/{label}"]
        cases = [(name, j.per_delivery, e.per_delivery)]
        if label == "many":
            cases = [(f"{name}, each delivery", j.per_delivery, e.per_delivery),
                     (f"{name}, delivered to all", j.to_all, e.to_all)]
        for case, js, es in cases:
            table.rows.append([
                case, f"{fmt_ms(_p(js, 50))} / {fmt_ms(_p(js, 99))}", "`Etcd.watch`",
                f"{fmt_ms(_p(es, 50))} / {fmt_ms(_p(es, 99))}",
                fmt_ratio(ratio(_p(js, 99), _p(es, 99))), f"{j.missing} / {e.missing}",
                _cpu(jr), _cpu(er)])
    return table


def _create_shortfall(b: Bench, jota: Result, put: Result) -> str:
    """Why creates fall short, from the CPU figures: what any request costs (a get does no
    validation and one etcd read) against what a create adds on top."""
    api_cpu = jota.cpu_ms.get("apiserver", 0.0)
    get_cpu = b.results["get/jota/16"].cpu_ms.get("apiserver", 0.0)
    return (f" The apiserver, one Python process, spends {api_cpu:.2f} ms of CPU per create "
            f"(a ceiling near {1e3 / max(api_cpu, 1e-3):,.0f} creates/s on one core), while "
            f"etcd spends {put.cpu_ms.get('etcd', 0.0):.2f} ms per put. A get, which does no "
            f"defaulting or validation and a single etcd read, already costs "
            f"{get_cpu:.2f} ms of apiserver CPU: that is the per-request price of gRPC and "
            f"asyncio in Python; the other {max(api_cpu - get_cpu, 0.0):.2f} ms is the "
            "create's own work (JSON, defaults, validation, the namespace read and the etcd "
            f"transaction). The {os.cpu_count()} cores are shared with etcd "
            f"({jota.cpu_ms.get('etcd', 0.0):.2f} ms per create) and the benchmark client "
            f"({jota.cpu_ms.get('bench', 0.0):.2f} ms).")


def _verdicts(b: Bench, best: str, deliveries: dict[str, Delivery]) -> list[Verdict]:
    r = b.results
    jota, put = r[best], r["create/etcd-put/16"]
    how = "a client per task" if best.endswith("own/16") else "one shared client"
    share = ratio(jota.summary.ops_per_s, put.summary.ops_per_s)
    create = Verdict(
        "Create throughput at concurrency 16 at least half of raw etcd puts", share >= 0.5,
        f"{fmt_rate(jota.summary.ops_per_s)} creates/s ({how}) against "
        f"{fmt_rate(put.summary.ops_per_s)} `Etcd.put`/s: {fmt_ratio(share)}."
        + ("" if share >= 0.5 else _create_shortfall(b, jota, put)))
    cache, dec, raw = (r[k].summary for k in ("list/jota-cache", "list/etcd-decoded",
                                              "list/etcd-bytes"))
    undecoded = r["list/jota-cache-undecoded"].summary
    fast = cache.p50 < dec.p50
    stored = b.facts.get("stored bytes", "")
    mb = int(stored) * b.sizes.list_pods / 1e6 if stored.isdigit() else 0.0
    listing = Verdict(
        f"List of {b.sizes.list_pods} pods from the watch cache faster than raw etcd range",
        fast,
        f"p50 {fmt_ms(cache.p50)} ms against {fmt_ms(dec.p50)} ms for `Etcd.range` with the "
        f"same JSON decode ({fmt_ratio(ratio(cache.p50, dec.p50))}); a bare range that "
        f"leaves the values as bytes takes {fmt_ms(raw.p50)} ms, and the List RPC itself, "
        f"reply not decoded, {fmt_ms(undecoded.p50)} ms: decoding the {mb:.1f} MB reply in the "
        f"client is most of the {fmt_ms(cache.p50)} ms, on both sides."
        + ("" if fast else
           f" The apiserver spends {r['list/jota-cache'].cpu_ms.get('apiserver', 0.0):.1f} ms"
           " of CPU per list served from its cache.")
        + (" The margin is under 10%, within the spread between runs on this machine: "
           "read it as a tie." if abs(ratio(cache.p50, dec.p50) - 1) < 0.1 else ""))
    verdicts = [create, listing]
    for label, name in (("1", "one watcher"),
                        ("many", f"{b.sizes.watchers} watchers, delivered to all")):
        d = deliveries[f"jota/{label}"]
        samples = d.to_all if label == "many" else d.per_delivery
        p99 = _p(samples, 99)
        ok = p99 < 0.05 and d.missing == 0
        raw_p99 = _p(deliveries[f"etcd/{label}"].to_all, 99)
        verdicts.append(Verdict(
            f"Watch delivery p99 under 50 ms ({name})", ok,
            f"p99 {fmt_ms(p99)} ms (p50 {fmt_ms(_p(samples, 50))} ms); raw etcd watch p99 "
            f"{fmt_ms(raw_p99)} ms." + (f" {d.missing} deliveries never arrived."
                                        if d.missing else "")
            + ("" if ok else
               f" The apiserver spends "
               f"{b.results[f'watch/jota/{label}'].cpu_ms.get('apiserver', 0.0):.2f} ms of "
               "CPU per write including fan-out.")))
    return verdicts
