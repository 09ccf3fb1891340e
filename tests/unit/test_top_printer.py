"""`jota top`'s tables in kubectl's format: millicores, MiB, percent of allocatable."""

from __future__ import annotations

from jota.cli.printers.top import node_table, pod_table


def pm(name: str, ns: str, *containers: tuple[str, str, str]) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns},
            "containers": [{"name": c, "usage": {"cpu": cpu, "memory": mem}}
                           for c, cpu, mem in containers]}


NODES = [{"metadata": {"name": "n1"},
          "status": {"allocatable": {"cpu": "2", "memory": "2Gi"}}},
         {"metadata": {"name": "n2"}, "status": {"allocatable": {"cpu": "2"}}}]


def test_top_nodes() -> None:
    metrics = [{"metadata": {"name": "n1"},
                "usage": {"cpu": "215000001n", "memory": "1117Mi"}}]
    assert node_table(metrics, NODES).splitlines() == [
        "NAME   CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)",
        "n1     216m         10%         1117Mi          54%",
        "n2     <unknown>    <unknown>   <unknown>       <unknown>",
    ]


def test_top_pods_sorted_by_cpu_with_sum() -> None:
    metrics = [pm("a", "ns", ("c", "5m", "12Mi")), pm("b", "ns", ("c", "250m", "4Mi"))]
    assert pod_table(metrics, sort_by="cpu", total=True).splitlines() == [
        "NAME   CPU(cores)   MEMORY(bytes)",
        "b      250m         4Mi",
        "a      5m           12Mi",
        "       ________     ________",
        "       255m         16Mi",
    ]


def test_top_pods_containers_all_namespaces() -> None:
    metrics = [pm("a", "ns", ("x", "1m", "1Mi"), ("y", "2m", "3Mi"))]
    assert pod_table(metrics, all_namespaces=True, containers=True,
                     headers=False).splitlines() == [
        "ns    a     x     1m    1Mi",
        "ns    a     y     2m    3Mi",
    ]


def test_get_podmetrics_columns_as_metrics_server() -> None:
    from datetime import UTC, datetime

    from jota.api.registry import by_plural
    from jota.cli.printers import print_table

    m = {"kind": "PodMetrics", "metadata": {"name": "burn", "namespace": "default"},
         "window": "15.002s", "containers": [
             {"name": "c", "usage": {"cpu": "347000123n", "memory": "524288"}},
             {"name": "d", "usage": {"cpu": "1000n", "memory": "1Mi"}}]}
    assert print_table(by_plural("podmetrics"), [m], now=datetime.now(UTC)).splitlines() == [
        "NAME   CPU          MEMORY   WINDOW",
        "burn   347001123n   1536Ki   15.002s",
    ]
