"""`jota get` tables: kubectl's columns, words and alignment for each kind."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jota.api.registry import by_kind
from jota.cli.printers import TablePrinter, TabWriter, print_table, print_watch_row

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def pod(name: str, *, ns: str = "default", phase: str = "Running",
        statuses: list[dict[str, Any]] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": ago(minutes=5),
                     "labels": {"app": "web"}, **meta},
        "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx:1.25"}]},
        "status": {"phase": phase, "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
                   "containerStatuses": statuses if statuses is not None else [
                       {"name": "web", "ready": True, "restartCount": 0,
                        "state": {"running": {"startedAt": ago(minutes=4)}}}]},
    }


RUNNING = pod("web-1")
CRASHING = pod("crash-1", statuses=[{
    "name": "web", "ready": False, "restartCount": 5,
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(minutes=2)}},
}])
CREATING = pod("new-1", phase="Pending", statuses=[
    {"name": "web", "ready": False, "restartCount": 0,
     "state": {"waiting": {"reason": "ContainerCreating"}}}])
CREATING["status"]["podIPs"] = []
CREATING["status"]["podIP"] = None
COMPLETED = pod("job-1-x7k2p", phase="Succeeded", statuses=[
    {"name": "web", "ready": False, "restartCount": 0,
     "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}])
TERMINATING = pod("old-1", deletionTimestamp=ago(seconds=10))
PODS = [RUNNING, CRASHING, CREATING, COMPLETED, TERMINATING]
POD = by_kind("Pod")


def test_pods() -> None:
    assert print_table(POD, PODS, now=NOW) == lines(
        "NAME          READY   STATUS              RESTARTS     AGE",
        "web-1         1/1     Running             0            5m",
        "crash-1       0/1     CrashLoopBackOff    5 (2m ago)   5m",
        "new-1         0/1     ContainerCreating   0            5m",
        "job-1-x7k2p   0/1     Completed           0            5m",
        "old-1         1/1     Terminating         0            5m",
    )


def test_pods_wide() -> None:
    assert print_table(POD, [RUNNING, CREATING], now=NOW, wide=True) == lines(
        "NAME    READY   STATUS              RESTARTS   AGE   IP           NODE     "
        "NOMINATED NODE   READINESS GATES",
        "web-1   1/1     Running             0          5m    10.244.1.5   node-1   "
        "<none>           <none>",
        "new-1   0/1     ContainerCreating   0          5m    <none>       node-1   "
        "<none>           <none>",
    )


def _init_pod(init_state: dict[str, Any], main_waiting: str = "PodInitializing") -> Any:
    p = pod("init-1", phase="Pending", statuses=[
        {"name": "web", "ready": False, "restartCount": 0,
         "state": {"waiting": {"reason": main_waiting}}}])
    p["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]
    p["status"]["initContainerStatuses"] = [
        {"name": "setup", "ready": False, "restartCount": 0, "state": init_state}]
    return p


@pytest.mark.parametrize(("p", "status"), [
    (_init_pod({"running": {}}), "Init:0/1"),
    (_init_pod({"waiting": {"reason": "PodInitializing"}}), "Init:0/1"),
    (_init_pod({"waiting": {"reason": "ImagePullBackOff"}}), "Init:ImagePullBackOff"),
    (_init_pod({"terminated": {"exitCode": 2}}), "Init:ExitCode:2"),
    (_init_pod({"terminated": {"exitCode": 1, "reason": "Error"}}), "Init:Error"),
    (_init_pod({"terminated": {"exitCode": 0, "reason": "Completed"}}), "PodInitializing"),
    (pod("oom", statuses=[{"name": "web", "ready": False, "restartCount": 0, "state": {
        "terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]), "OOMKilled"),
    (pod("err", phase="Failed", statuses=[{"name": "web", "ready": False, "restartCount": 0,
                                           "state": {"terminated": {"exitCode": 1,
                                                                    "reason": "Error"}}}]),
     "Error"),
    (pod("pending", phase="Pending", statuses=[]), "Pending"),
    (pod("gone", phase="Succeeded", deletionTimestamp=ago(seconds=1), statuses=[]),
     "Succeeded"),
])
def test_pod_status_column(p: Any, status: str) -> None:
    row = print_table(POD, [p], now=NOW, no_headers=True)
    assert row.split()[2] == status


def test_all_namespaces_show_labels_and_label_columns() -> None:
    other = pod("api-1", ns="prod")
    other["metadata"]["labels"] = {"app": "api", "tier": "be"}
    out = print_table(POD, [RUNNING, other], now=NOW, all_namespaces=True, show_labels=True,
                      label_columns=["tier", "app.kubernetes.io/name"])
    assert out == lines(
        "NAMESPACE   NAME    READY   STATUS    RESTARTS   AGE   TIER   NAME   LABELS",
        "default     web-1   1/1     Running   0          5m                  app=web",
        "prod        api-1   1/1     Running   0          5m    be            app=api,tier=be",
    )


def test_cluster_scoped_kinds_have_no_namespace_column() -> None:
    ns = {"metadata": {"name": "dev", "creationTimestamp": ago(days=2)},
          "status": {"phase": "Active"}}
    assert print_table(by_kind("Namespace"), [ns], now=NOW, all_namespaces=True) == lines(
        "NAME   STATUS   AGE", "dev    Active   2d")


def test_get_all_style_kind_prefix_and_no_headers() -> None:
    assert print_table(POD, [RUNNING], now=NOW, show_kind=True) == lines(
        "NAME        READY   STATUS    RESTARTS   AGE",
        "pod/web-1   1/1     Running   0          5m")
    deploy = {"metadata": {"name": "web", "creationTimestamp": ago(hours=2)},
              "spec": {"replicas": 3}, "status": {"readyReplicas": 2, "updatedReplicas": 3,
                                                  "availableReplicas": 2}}
    assert print_table(by_kind("Deployment"), [deploy], now=NOW, show_kind=True,
                       no_headers=True) == "deployment.apps/web   2/3   3     2     120m\n"


def test_no_objects_prints_nothing() -> None:
    assert print_table(POD, [], now=NOW) == ""


def test_watch_rows_keep_the_first_tables_widths() -> None:
    printer = TablePrinter(POD)
    first = printer.print([RUNNING], now=NOW)
    assert first == lines("NAME    READY   STATUS    RESTARTS   AGE",
                          "web-1   1/1     Running   0          5m")
    assert print_watch_row(printer, RUNNING, now=NOW) == "web-1   1/1     Running   0          5m\n"
    # A wider cell widens its column from then on, as kubectl's tabwriter does.
    assert print_watch_row(printer, CRASHING, now=NOW) == (
        "crash-1   0/1     CrashLoopBackOff   5 (2m ago)   5m\n")
    assert print_watch_row(printer, RUNNING, now=NOW) == (
        "web-1     1/1     Running            0            5m\n")


def test_watch_event_column() -> None:
    printer = TablePrinter(POD, watch_events=True)
    assert printer.print([RUNNING], now=NOW, event_type="ADDED") == lines(
        "EVENT      NAME    READY   STATUS    RESTARTS   AGE",
        "ADDED      web-1   1/1     Running   0          5m")
    assert print_watch_row(printer, RUNNING, now=NOW, event_type="MODIFIED") == (
        "MODIFIED   web-1   1/1     Running   0          5m\n")


def test_tabwriter_minimum_width_and_no_trailing_spaces() -> None:
    w = TabWriter(6, 3)
    assert w.format("A\tB\tC\nxx\t\tlast\n") == "A     B     C\nxx          last\n"


def obj(name: str, **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default",
                         "creationTimestamp": ago(days=2)}, **fields}


DEPLOY = obj("web", spec={
    "replicas": 3, "selector": {"matchLabels": {"app": "web"},
                                "matchExpressions": [{"key": "tier", "operator": "In",
                                                      "values": ["fe", "be"]}]},
    "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"},
                                         {"name": "log", "image": "busybox"}]}}},
    status={"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2})

SVC = obj("web", spec={"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                       "selector": {"app": "web"},
                       "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                 {"port": 443, "protocol": "TCP"}]})
LB = obj("lb", spec={"type": "LoadBalancer", "clusterIP": "10.96.0.11",
                     "ports": [{"port": 80, "nodePort": 31000}]})
LB_READY = obj("lb2", spec={"type": "LoadBalancer", "clusterIP": "10.96.0.12",
                            "ports": [{"port": 80, "nodePort": 31001}]},
               status={"loadBalancer": {"ingress": [{"hostname": "a-very-long-name.example"}]}})
HEADLESS = obj("db", spec={"clusterIP": "None", "clusterIPs": ["None"], "ports": []})

NODE = {"metadata": {"name": "node-1", "creationTimestamp": ago(days=10),
                     "labels": {"node-role.kubernetes.io/control-plane": "",
                                "node-role.kubernetes.io/worker": ""}},
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "False"}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}],
                   "nodeInfo": {"kubeletVersion": "v1.31.0", "osImage": "Ubuntu 22.04",
                                "kernelVersion": "6.5.0",
                                "containerRuntimeVersion": "docker://24.0.7"}}}
NODE2 = {"metadata": {"name": "node-2", "creationTimestamp": ago(days=10)},
         "status": {"conditions": [{"type": "Ready", "status": "True"}]}}

CASES: list[tuple[str, list[dict[str, Any]], bool, str]] = [
    ("Deployment", [DEPLOY], False, lines(
        "NAME   READY   UP-TO-DATE   AVAILABLE   AGE",
        "web    2/3     3            2           2d")),
    ("Deployment", [DEPLOY], True, lines(
        "NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES               SELECTOR",
        "web    2/3     3            2           2d    web,log      nginx:1.25,busybox   "
        "app=web,tier in (be,fe)")),
    ("ReplicaSet", [obj("web-abc", spec={"replicas": 3},
                        status={"replicas": 3, "readyReplicas": 2})], False, lines(
        "NAME      DESIRED   CURRENT   READY   AGE",
        "web-abc   3         3         2       2d")),
    ("StatefulSet", [obj("db", spec={"replicas": 3}, status={"readyReplicas": 1})], False,
     lines("NAME   READY   AGE", "db     1/3     2d")),
    ("DaemonSet", [obj("proxy", spec={"template": {"spec": {}}},
                       status={"desiredNumberScheduled": 2, "currentNumberScheduled": 2,
                               "numberReady": 1, "updatedNumberScheduled": 2,
                               "numberAvailable": 1})], False, lines(
        "NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE",
        "proxy   2         2         1       2            1           <none>          2d")),
    ("Service", [SVC, LB, LB_READY, HEADLESS], False, lines(
        "NAME   TYPE           CLUSTER-IP   EXTERNAL-IP        PORT(S)                AGE",
        "web    NodePort       10.96.0.10   <none>             80:30080/TCP,443/TCP   2d",
        "lb     LoadBalancer   10.96.0.11   <pending>          80:31000/TCP           2d",
        "lb2    LoadBalancer   10.96.0.12   a-very-long-n...   80:31001/TCP           2d",
        "db     ClusterIP      None         <none>             <none>                 2d")),
    ("Service", [SVC, LB_READY], True, lines(
        "NAME   TYPE           CLUSTER-IP   EXTERNAL-IP                PORT(S)                AGE"
        "   SELECTOR",
        "web    NodePort       10.96.0.10   <none>                     80:30080/TCP,443/TCP   2d "
        "   app=web",
        "lb2    LoadBalancer   10.96.0.12   a-very-long-name.example   80:31001/TCP           2d "
        "   <none>")),
    ("Endpoints", [obj("web", subsets=[{"addresses": [{"ip": f"10.0.0.{i}"} for i in (1, 2, 3, 4)],
                                        "ports": [{"port": 80}]}]),
                   obj("empty")], False, lines(
        "NAME    ENDPOINTS                                         AGE",
        "web     10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...   2d",
        "empty   <none>                                            2d")),
    ("Node", [NODE, NODE2], False, lines(
        "NAME     STATUS                        ROLES                  AGE   VERSION",
        "node-1   NotReady,SchedulingDisabled   control-plane,worker   10d   v1.31.0",
        "node-2   Ready                         <none>                 10d   ")),
    ("Node", [NODE], True, lines(
        "NAME     STATUS                        ROLES                  AGE   VERSION   INTERNAL-IP"
        "   EXTERNAL-IP   OS-IMAGE       KERNEL-VERSION   CONTAINER-RUNTIME",
        "node-1   NotReady,SchedulingDisabled   control-plane,worker   10d   v1.31.0   10.0.0.11  "
        "   <none>        Ubuntu 22.04   6.5.0            docker://24.0.7")),
    ("ConfigMap", [obj("cfg", data={"a": "1", "b": "2"}, binaryData={"c": "eA=="})], False,
     lines("NAME   DATA   AGE", "cfg    3      2d")),
    ("Secret", [obj("tls", type="kubernetes.io/tls", data={"tls.crt": "eA==", "tls.key": "eA=="})],
     False, lines("NAME   TYPE                DATA   AGE", "tls    kubernetes.io/tls   2      2d")),
    ("ServiceAccount", [obj("default")], False,
     lines("NAME      SECRETS   AGE", "default   0         2d")),
    ("Job", [obj("pi", spec={"completions": 1},
                 status={"succeeded": 1, "startTime": ago(minutes=10),
                         "completionTime": ago(minutes=9, seconds=20),
                         "conditions": [{"type": "Complete", "status": "True"}]}),
             obj("work", spec={"parallelism": 3}, status={"startTime": ago(minutes=3)}),
             obj("bad", spec={"completions": 2},
                 status={"conditions": [{"type": "Failed", "status": "True"}]})], False, lines(
        "NAME   STATUS     COMPLETIONS   DURATION   AGE",
        "pi     Complete   1/1           40s        2d",
        "work   Running    0/1 of 3      3m         2d",
        "bad    Failed     0/2                      2d")),
    ("CronJob", [obj("hello", spec={"schedule": "*/1 * * * *", "suspend": False},
                     status={"active": [{"name": "hello-1"}], "lastScheduleTime": ago(seconds=40)}),
                 obj("never", spec={"schedule": "@daily", "timeZone": "Etc/UTC"})], False, lines(
        "NAME    SCHEDULE      TIMEZONE   SUSPEND   ACTIVE   LAST SCHEDULE   AGE",
        "hello   */1 * * * *   <none>     False     1        40s             2d",
        "never   @daily        Etc/UTC    <unset>   0        <none>          2d")),
    ("HorizontalPodAutoscaler", [
        obj("web", spec={"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                         "minReplicas": 1, "maxReplicas": 10,
                         "metrics": [{"type": "Resource", "resource": {
                             "name": "cpu", "target": {"averageUtilization": 50}}}]},
            status={"currentReplicas": 3, "currentMetrics": [{"type": "Resource", "resource": {
                "name": "cpu", "current": {"averageUtilization": 73}}}]}),
        obj("api", spec={"scaleTargetRef": {"kind": "Deployment", "name": "api"},
                         "maxReplicas": 5,
                         "metrics": [{"type": "Resource", "resource": {
                             "name": "cpu", "target": {"averageUtilization": 50}}}]}),
        obj("mem", spec={"scaleTargetRef": {"kind": "Deployment", "name": "mem"},
                         "minReplicas": 1, "maxReplicas": 5,
                         "metrics": [{"type": "Resource", "resource": {
                             "name": "memory", "target": {"averageValue": "100Mi"}}}]})],
     False, lines(
        "NAME   REFERENCE        TARGETS                   MINPODS   MAXPODS   REPLICAS   AGE",
        "web    Deployment/web   cpu: 73%/50%              1         10        3          2d",
        "api    Deployment/api   cpu: <unknown>/50%        <unset>   5         0          2d",
        "mem    Deployment/mem   memory: <unknown>/100Mi   1         5         0          2d")),
    ("Event", [obj("web-1.17c", involvedObject={"kind": "Pod", "name": "web-1"}, type="Normal",
                   reason="Pulled", message="Container image already present\n", count=1,
                   firstTimestamp=ago(minutes=3), lastTimestamp=ago(minutes=3))], False, lines(
        "LAST SEEN   TYPE     REASON   OBJECT      MESSAGE",
        "3m          Normal   Pulled   pod/web-1   Container image already present")),
    ("Ingress", [obj("web", spec={"ingressClassName": "nginx",
                                  "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}],
                                  "tls": [{"hosts": ["a.example.com"]}]},
                     status={"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}]}}),
                 obj("any", spec={"rules": [{}]})], False, lines(
        "NAME   CLASS    HOSTS                         ADDRESS        PORTS     AGE",
        "web    nginx    a.example.com,b.example.com   192.168.1.10   80, 443   2d",
        "any    <none>   *                                            80        2d")),
    ("PersistentVolume", [obj("pv1", spec={"capacity": {"storage": "1Gi"},
                                           "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                                           "persistentVolumeReclaimPolicy": "Retain",
                                           "storageClassName": "standard",
                                           "claimRef": {"namespace": "default", "name": "data"}},
                              status={"phase": "Bound"})], False, lines(
        "NAME   CAPACITY   ACCESS MODES   RECLAIM POLICY   STATUS   CLAIM          STORAGECLASS   "
        "VOLUMEATTRIBUTESCLASS   REASON   AGE",
        "pv1    1Gi        RWO,ROX        Retain           Bound    default/data   standard       "
        "<unset>                          2d")),
    ("PersistentVolumeClaim", [obj("data", spec={"volumeName": "pv1",
                                                 "storageClassName": "standard"},
                                   status={"phase": "Bound", "capacity": {"storage": "1Gi"},
                                           "accessModes": ["ReadWriteOnce"]}),
                               obj("wait", spec={"storageClassName": "standard"},
                                   status={"phase": "Pending"})], False, lines(
        "NAME   STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   VOLUMEATTRIBUTESCLASS"
        "   AGE",
        "data   Bound     pv1      1Gi        RWO            standard       <unset>        "
        "         2d",
        "wait   Pending                                      standard       <unset>        "
        "         2d")),
    ("StorageClass", [obj("standard", provisioner="jota.io/hostpath",
                          volumeBindingMode="WaitForFirstConsumer")], False, lines(
        "NAME       PROVISIONER        RECLAIMPOLICY   VOLUMEBINDINGMODE      ALLOWVOLUMEEXPANSION"
        "   AGE",
        "standard   jota.io/hostpath   Delete          WaitForFirstConsumer   false          "
        "        2d")),
    ("Lease", [obj("node-1", spec={"holderIdentity": "node-1"})], False,
     lines("NAME     HOLDER   AGE", "node-1   node-1   2d")),
    ("Role", [obj("reader")], False,
     lines("NAME     CREATED AT", "reader   2024-04-29T12:00:00Z")),
    ("ClusterRole", [obj("admin")], False,
     lines("NAME    CREATED AT", "admin   2024-04-29T12:00:00Z")),
    ("RoleBinding", [obj("read", roleRef={"kind": "Role", "name": "reader"},
                         subjects=[{"kind": "User", "name": "jane"},
                                   {"kind": "ServiceAccount", "name": "ci",
                                    "namespace": "build"}])], True, lines(
        "NAME   ROLE          AGE   USERS   GROUPS   SERVICEACCOUNTS",
        "read   Role/reader   2d    jane             build/ci")),
    ("PodDisruptionBudget", [obj("web", spec={"minAvailable": 2},
                                 status={"disruptionsAllowed": 1}),
                             obj("api", spec={"maxUnavailable": "50%"})], False, lines(
        "NAME   MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE",
        "web    2               N/A               1                     2d",
        "api    N/A             50%               0                     2d")),
    ("PriorityClass", [obj("high", value=1000, globalDefault=True,
                           preemptionPolicy="PreemptLowerPriority")], False, lines(
        "NAME   VALUE   GLOBAL-DEFAULT   AGE   PREEMPTIONPOLICY",
        "high   1000    true             2d    PreemptLowerPriority")),
    ("NetworkPolicy", [obj("deny", spec={"podSelector": {}}),
                       obj("web", spec={"podSelector": {"matchLabels": {"app": "web"}}})],
     False, lines("NAME   POD-SELECTOR   AGE", "deny   <none>         2d",
                  "web    app=web        2d")),
    ("EndpointSlice", [obj("web-x1", addressType="IPv4", ports=[{"name": "http", "port": 80}],
                           endpoints=[{"addresses": ["10.244.1.5"]},
                                      {"addresses": ["10.244.2.7"]}]),
                       obj("web-x2", addressType="IPv4")], False, lines(
        "NAME     ADDRESSTYPE   PORTS     ENDPOINTS               AGE",
        "web-x1   IPv4          80        10.244.1.5,10.244.2.7   2d",
        "web-x2   IPv4          <unset>   <unset>                 2d")),
    ("ResourceQuota", [obj("q", status={"hard": {"pods": "10", "limits.cpu": "4",
                                                 "requests.cpu": "2"},
                                        "used": {"pods": "3", "requests.cpu": "500m"}})], False,
     lines("NAME   AGE   REQUEST                            LIMIT",
           "q      2d    pods: 3/10, requests.cpu: 500m/2   limits.cpu: 0/4")),
    ("LimitRange", [obj("lr")], False, lines("NAME   CREATED AT", "lr     2024-04-29T12:00:00Z")),
    ("IngressClass", [obj("nginx", spec={"controller": "k8s.io/ingress-nginx"})], False,
     lines("NAME    CONTROLLER             PARAMETERS   AGE",
           "nginx   k8s.io/ingress-nginx   <none>       2d")),
    ("Namespace", [obj("dev", status={"phase": "Terminating"})], False,
     lines("NAME   STATUS        AGE", "dev    Terminating   2d")),
    ("CustomResourceDefinition", [obj("foos.example.com")], False,
     lines("NAME               CREATED AT", "foos.example.com   2024-04-29T12:00:00Z")),
]


@pytest.mark.parametrize(("kind", "objs", "wide", "expected"), CASES,
                         ids=[f"{c[0]}{'-wide' if c[2] else ''}" for c in CASES])
def test_kind_columns(kind: str, objs: list[dict[str, Any]], wide: bool, expected: str) -> None:
    assert print_table(by_kind(kind), copy.deepcopy(objs), now=NOW, wide=wide) == expected


def test_unknown_kinds_print_name_and_age() -> None:
    from jota.api.registry import ResourceType

    rt = ResourceType("Widget", "widgets", "example.com", "v1")
    assert print_table(rt, [obj("w")], now=NOW) == lines("NAME   AGE", "w      2d")


def test_public_names_are_exported() -> None:
    import jota.cli.printers as printers

    for name in printers.__all__:
        assert getattr(printers, name) is not None
    assert {"print_table", "print_watch_row", "format_output", "describe", "events_for",
            "human_age", "TablePrinter"} <= set(printers.__all__)
