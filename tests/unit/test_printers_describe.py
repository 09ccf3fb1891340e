"""`jota describe`: kubectl describe's layout, byte for byte, for the kinds users describe most."""

# ruff: noqa: E501  (golden outputs are kubectl's long lines)

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from jota.api.registry import by_kind
from jota.cli.printers import describe, events_for

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(kind: str, name: str, etype: str, reason: str, message: str, source: str,
          count: int, first: str, last: str, uid: str | None = None) -> dict[str, Any]:
    inv = {"kind": kind, "name": name, "namespace": "default"}
    if uid:
        inv["uid"] = uid
    return {"kind": "Event", "metadata": {"name": f"{name}.{reason}", "namespace": "default"},
            "involvedObject": inv, "type": etype, "reason": reason, "message": message,
            "source": {"component": source}, "count": count, "firstTimestamp": first,
            "lastTimestamp": last}


POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "name": "crash-1", "namespace": "default", "uid": "u1",
        "creationTimestamp": ago(minutes=5), "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "hello"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                             "uid": "rs1", "controller": True}],
    },
    "spec": {
        "priority": 0, "serviceAccountName": "default", "nodeName": "node-1",
        "containers": [{
            "name": "web", "image": "nginx:1.25",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                          "requests": {"cpu": "250m", "memory": "64Mi"}},
            "env": [{"name": "MODE", "value": "prod"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                    "fieldPath": "metadata.name"}}},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db",
                                                                        "key": "password"}}}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"},
                              "initialDelaySeconds": 3, "timeoutSeconds": 1, "periodSeconds": 10,
                              "successThreshold": 1, "failureThreshold": 3},
            "volumeMounts": [{"name": "data", "mountPath": "/data"},
                             {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True}],
        }],
        "volumes": [{"name": "data", "emptyDir": {}},
                    {"name": "cfg", "configMap": {"name": "web-cfg"}}],
        "tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}],
    },
    "status": {
        "phase": "Running", "hostIP": "10.0.0.11", "podIP": "10.244.1.6",
        "podIPs": [{"ip": "10.244.1.6"}], "startTime": ago(minutes=5),
        "conditions": [{"type": "Initialized", "status": "True"},
                       {"type": "Ready", "status": "False"},
                       {"type": "ContainersReady", "status": "False"},
                       {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{
            "name": "web", "ready": False, "restartCount": 5, "containerID": "docker://abc123",
            "imageID": "docker-pullable://nginx@sha256:1",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                         "startedAt": ago(minutes=3),
                                         "finishedAt": ago(minutes=2)}},
        }],
    },
}

POD_EVENTS = [
    event("Pod", "crash-1", "Warning", "BackOff",
          "Back-off restarting failed container web", "kubelet", 7, ago(minutes=4),
          ago(seconds=30), uid="u1"),
    event("Pod", "crash-1", "Normal", "Scheduled",
          "Successfully assigned default/crash-1 to node-1", "default-scheduler", 1,
          ago(minutes=5), ago(minutes=5)),
    event("Pod", "other", "Normal", "Scheduled", "not mine", "default-scheduler", 1,
          ago(minutes=5), ago(minutes=5)),
    event("Pod", "crash-1", "Normal", "Killing", "an older pod with the same name",
          "kubelet", 1, ago(minutes=9), ago(minutes=9), uid="old-uid"),
]

TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                                     "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}


def replica_set(name: str, image: str, replicas: int) -> dict[str, Any]:
    template = copy.deepcopy(TEMPLATE)
    template["metadata"]["labels"]["pod-template-hash"] = name.rsplit("-", 1)[-1]
    template["spec"]["containers"][0]["image"] = image
    return {"kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default",
                         "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d1",
                                              "controller": True}]},
            "spec": {"replicas": replicas, "template": template},
            "status": {"replicas": replicas}}


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "d1",
                 "creationTimestamp": ago(hours=2), "labels": {"app": "web"},
                 "annotations": {"deployment.kubernetes.io/revision": "2"}},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE,
             "strategy": {"type": "RollingUpdate",
                          "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}},
    "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
               "unavailableReplicas": 1,
               "conditions": [{"type": "Available", "status": "True",
                               "reason": "MinimumReplicasAvailable"},
                              {"type": "Progressing", "status": "True",
                               "reason": "NewReplicaSetAvailable"}]},
}
REPLICA_SETS = [replica_set("web-abc", "nginx:1.25", 3), replica_set("web-old", "nginx:1.24", 1),
                replica_set("web-older", "nginx:1.23", 0)]
DEPLOYMENT_EVENTS = [event("Deployment", "web", "Normal", "ScalingReplicaSet",
                           "Scaled up replica set web-abc to 3", "deployment-controller", 1,
                           ago(hours=2), ago(hours=2))]

SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(days=3)},
    "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
             "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
             "selector": {"app": "web"}, "sessionAffinity": "None",
             "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
             "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080,
                        "protocol": "TCP"}]},
}
ENDPOINTS: dict[str, Any] = {"kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"},
             "subsets": [{"addresses": [{"ip": f"10.244.{i}.5"} for i in (1, 2, 3, 4)],
                          "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}
SLICE: dict[str, Any] = {"kind": "EndpointSlice",
         "metadata": {"name": "web-x1", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "web"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}},
                       {"addresses": ["10.244.2.5"], "conditions": {"ready": False}}]}

NODE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "node-1", "creationTimestamp": ago(days=10),
                 "labels": {"kubernetes.io/hostname": "node-1",
                            "node-role.kubernetes.io/control-plane": ""}},
    "spec": {"unschedulable": True, "podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"],
             "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]},
    "status": {
        "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                        "message": "node lease expired", "lastHeartbeatTime": ago(minutes=3),
                        "lastTransitionTime": ago(minutes=2)}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.11"},
                      {"type": "Hostname", "address": "node-1"}],
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "nodeInfo": {"kubeletVersion": "v1.31.0", "osImage": "Ubuntu 22.04",
                     "kernelVersion": "6.5.0", "containerRuntimeVersion": "docker://24.0.7",
                     "operatingSystem": "linux", "architecture": "amd64", "machineID": "m1",
                     "systemUUID": "s1", "bootID": "b1", "kubeProxyVersion": "v1.31.0"},
    },
}


def node_pod(name: str, resources: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default",
                                        "creationTimestamp": ago(minutes=5)},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "resources": resources}]},
            "status": {"phase": "Running"}}


NODE_RELATED = [
    node_pod("web-1", {"requests": {"cpu": "250m", "memory": "64Mi"},
                       "limits": {"cpu": "500m", "memory": "128Mi"}}),
    node_pod("api-1", {"requests": {"cpu": "100m", "memory": "128Mi"}}),
    {**node_pod("done-1", {}), "status": {"phase": "Succeeded"}},
    {"kind": "Lease", "metadata": {"name": "node-1"},
     "spec": {"holderIdentity": "node-1", "renewTime": ago(minutes=3)}},
]
NODE_EVENTS = [event("Node", "node-1", "Normal", "NodeNotReady",
                     "Node node-1 status is now: NodeNotReady", "node-controller", 1,
                     ago(minutes=2), ago(minutes=2))]


POD_TEXT = (
    "Name:             crash-1\n"
    "Namespace:        default\n"
    "Priority:         0\n"
    "Service Account:  default\n"
    "Node:             node-1/10.0.0.11\n"
    "Start Time:       Wed, 01 May 2024 11:55:00 +0000\n"
    "Labels:           app=web\n"
    "                  pod-template-hash=7d4b9c\n"
    "Annotations:      note: hello\n"
    "Status:           Running\n"
    "IP:               10.244.1.6\n"
    "IPs:\n"
    "  IP:           10.244.1.6\n"
    "Controlled By:  ReplicaSet/web-7d4b9c\n"
    "Containers:\n"
    "  web:\n"
    "    Container ID:   docker://abc123\n"
    "    Image:          nginx:1.25\n"
    "    Image ID:       docker-pullable://nginx@sha256:1\n"
    "    Port:           80/TCP\n"
    "    Host Port:      0/TCP\n"
    "    State:          Waiting\n"
    "      Reason:       CrashLoopBackOff\n"
    "    Last State:     Terminated\n"
    "      Reason:       Error\n"
    "      Exit Code:    1\n"
    "      Started:      Wed, 01 May 2024 11:57:00 +0000\n"
    "      Finished:     Wed, 01 May 2024 11:58:00 +0000\n"
    "    Ready:          False\n"
    "    Restart Count:  5\n"
    "    Limits:\n"
    "      cpu:     500m\n"
    "      memory:  128Mi\n"
    "    Requests:\n"
    "      cpu:     250m\n"
    "      memory:  64Mi\n"
    "    Liveness:  http-get http://:80/healthz delay=3s timeout=1s period=10s #success=1 #failure=3\n"
    "    Environment:\n"
    "      MODE:      prod\n"
    "      POD_NAME:  crash-1 (v1:metadata.name)\n"
    "      PASSWORD:  <set to the key 'password' in secret 'db'>  Optional: false\n"
    "    Mounts:\n"
    "      /data from data (rw)\n"
    "      /etc/cfg from cfg (ro)\n"
    "Conditions:\n"
    "  Type              Status\n"
    "  Initialized       True \n"
    "  Ready             False \n"
    "  ContainersReady   False \n"
    "  PodScheduled      True \n"
    "Volumes:\n"
    "  data:\n"
    "    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)\n"
    "    Medium:     \n"
    "    SizeLimit:  <unset>\n"
    "  cfg:\n"
    "    Type:        ConfigMap (a volume populated by a ConfigMap)\n"
    "    Name:        web-cfg\n"
    "    Optional:    false\n"
    "QoS Class:       Burstable\n"
    "Node-Selectors:  <none>\n"
    "Tolerations:     node.kubernetes.io/not-ready:NoExecute op=Exists for 300s\n"
    "                 node.kubernetes.io/unreachable:NoExecute op=Exists for 300s\n"
    "Events:\n"
    "  Type     Reason     Age               From               Message\n"
    "  ----     ------     ----              ----               -------\n"
    "  Normal   Scheduled  5m                default-scheduler  Successfully assigned default/crash-1 to node-1\n"
    "  Warning  BackOff    30s (x7 over 4m)  kubelet            Back-off restarting failed container web\n"
)

DEPLOYMENT_TEXT = (
    "Name:                   web\n"
    "Namespace:              default\n"
    "CreationTimestamp:      Wed, 01 May 2024 10:00:00 +0000\n"
    "Labels:                 app=web\n"
    "Annotations:            deployment.kubernetes.io/revision: 2\n"
    "Selector:               app=web\n"
    "Replicas:               3 desired | 3 updated | 3 total | 2 available | 1 unavailable\n"
    "StrategyType:           RollingUpdate\n"
    "MinReadySeconds:        0\n"
    "RollingUpdateStrategy:  25% max unavailable, 25% max surge\n"
    "Pod Template:\n"
    "  Labels:  app=web\n"
    "  Containers:\n"
    "   web:\n"
    "    Image:         nginx:1.25\n"
    "    Port:          80/TCP\n"
    "    Host Port:     0/TCP\n"
    "    Environment:   <none>\n"
    "    Mounts:        <none>\n"
    "  Volumes:         <none>\n"
    "  Node-Selectors:  <none>\n"
    "  Tolerations:     <none>\n"
    "Conditions:\n"
    "  Type           Status  Reason\n"
    "  ----           ------  ------\n"
    "  Available      True    MinimumReplicasAvailable\n"
    "  Progressing    True    NewReplicaSetAvailable\n"
    "OldReplicaSets:  web-old (1/1 replicas created)\n"
    "NewReplicaSet:   web-abc (3/3 replicas created)\n"
    "Events:\n"
    "  Type    Reason             Age   From                   Message\n"
    "  ----    ------             ----  ----                   -------\n"
    "  Normal  ScalingReplicaSet  120m  deployment-controller  Scaled up replica set web-abc to 3\n"
)

SERVICE_TEXT = (
    "Name:                     web\n"
    "Namespace:                default\n"
    "Labels:                   <none>\n"
    "Annotations:              <none>\n"
    "Selector:                 app=web\n"
    "Type:                     NodePort\n"
    "IP Family Policy:         SingleStack\n"
    "IP Families:              IPv4\n"
    "IP:                       10.96.0.10\n"
    "IPs:                      10.96.0.10\n"
    "Port:                     http  80/TCP\n"
    "TargetPort:               8080/TCP\n"
    "NodePort:                 http  30080/TCP\n"
    "Endpoints:                10.244.1.5:8080,10.244.2.5:8080,10.244.3.5:8080 + 1 more...\n"
    "Session Affinity:         None\n"
    "External Traffic Policy:  Cluster\n"
    "Internal Traffic Policy:  Cluster\n"
    "Events:                   <none>\n"
)

NODE_TEXT = (
    "Name:               node-1\n"
    "Roles:              control-plane\n"
    "Labels:             kubernetes.io/hostname=node-1\n"
    "                    node-role.kubernetes.io/control-plane=\n"
    "Annotations:        <none>\n"
    "CreationTimestamp:  Sun, 21 Apr 2024 12:00:00 +0000\n"
    "Taints:             node.kubernetes.io/unschedulable:NoSchedule\n"
    "Unschedulable:      true\n"
    "Lease:\n"
    "  HolderIdentity:  node-1\n"
    "  AcquireTime:     <unset>\n"
    "  RenewTime:       Wed, 01 May 2024 11:57:00 +0000\n"
    "Conditions:\n"
    "  Type    Status  LastHeartbeatTime                 LastTransitionTime                Reason            Message\n"
    "  ----    ------  -----------------                 ------------------                ------            -------\n"
    "  Ready   False   Wed, 01 May 2024 11:57:00 +0000   Wed, 01 May 2024 11:58:00 +0000   KubeletNotReady   node lease expired\n"
    "Addresses:\n"
    "  InternalIP:  10.0.0.11\n"
    "  Hostname:    node-1\n"
    "Capacity:\n"
    "  cpu:     4\n"
    "  memory:  8Gi\n"
    "  pods:    110\n"
    "Allocatable:\n"
    "  cpu:     4\n"
    "  memory:  8Gi\n"
    "  pods:    110\n"
    "System Info:\n"
    "  Machine ID:                 m1\n"
    "  System UUID:                s1\n"
    "  Boot ID:                    b1\n"
    "  Kernel Version:             6.5.0\n"
    "  OS Image:                   Ubuntu 22.04\n"
    "  Operating System:           linux\n"
    "  Architecture:               amd64\n"
    "  Container Runtime Version:  docker://24.0.7\n"
    "  Kubelet Version:            v1.31.0\n"
    "  Kube-Proxy Version:         v1.31.0\n"
    "PodCIDR:                      10.244.1.0/24\n"
    "PodCIDRs:                     10.244.1.0/24\n"
    "Non-terminated Pods:          (2 in total)\n"
    "  Namespace                   Name     CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age\n"
    "  ---------                   ----     ------------  ----------  ---------------  -------------  ---\n"
    "  default                     web-1    250m (6%)     500m (12%)  64Mi (0%)        128Mi (1%)     5m\n"
    "  default                     api-1    100m (2%)     0 (0%)      128Mi (1%)       0 (0%)         5m\n"
    "Allocated resources:\n"
    "  (Total limits may be over 100 percent, i.e., overcommitted.)\n"
    "  Resource           Requests    Limits\n"
    "  --------           --------    ------\n"
    "  cpu                350m (8%)   500m (12%)\n"
    "  memory             192Mi (2%)  128Mi (1%)\n"
    "  ephemeral-storage  0 (0%)      0 (0%)\n"
    "Events:\n"
    "  Type    Reason        Age   From             Message\n"
    "  ----    ------        ----  ----             -------\n"
    "  Normal  NodeNotReady  2m    node-controller  Node node-1 status is now: NodeNotReady\n"
)


def test_describe_pod_with_events() -> None:
    assert describe(by_kind("Pod"), POD, POD_EVENTS, now=NOW) == POD_TEXT


def test_describe_deployment_with_replica_sets_and_events() -> None:
    out = describe(by_kind("Deployment"), DEPLOYMENT, DEPLOYMENT_EVENTS, now=NOW,
                   related=REPLICA_SETS)
    assert out == DEPLOYMENT_TEXT


def test_describe_service_with_endpoints() -> None:
    assert describe(by_kind("Service"), SERVICE, [], now=NOW, related=[ENDPOINTS]) == SERVICE_TEXT


def test_describe_service_prefers_endpoint_slices_and_skips_unready() -> None:
    out = describe(by_kind("Service"), SERVICE, [], now=NOW, related=[ENDPOINTS, SLICE])
    assert "Endpoints:                10.244.1.5:8080\n" in out
    none = describe(by_kind("Service"), SERVICE, [], now=NOW)
    assert "Endpoints:                <none>\n" in none


def test_describe_node_with_pods_lease_and_events() -> None:
    assert describe(by_kind("Node"), NODE, NODE_EVENTS, now=NOW, related=NODE_RELATED) == NODE_TEXT


def test_describe_minimal_pod_prints_none_everywhere() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]},
           "status": {"phase": "Pending"}}
    assert describe(by_kind("Pod"), pod, [], now=NOW) == (
        "Name:         p\n"
        "Namespace:    default\n"
        "Node:         <none>\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "Status:       Pending\n"
        "IP:           \n"
        "IPs:          <none>\n"
        "Containers:\n"
        "  c:\n"
        "    Image:        busybox\n"
        "    Port:         <none>\n"
        "    Host Port:    <none>\n"
        "    Environment:  <none>\n"
        "    Mounts:       <none>\n"
        "Volumes:          <none>\n"
        "QoS Class:        BestEffort\n"
        "Node-Selectors:   <none>\n"
        "Tolerations:      <none>\n"
        "Events:           <none>\n"
    )


def test_describe_terminating_guaranteed_pod_without_events_section() -> None:
    pod = copy.deepcopy(POD)
    pod["metadata"]["deletionTimestamp"] = ago(seconds=20)
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    pod["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    out = describe(by_kind("Pod"), pod, None, now=NOW)
    assert "Status:                    Terminating (lasts 20s)\n" in out
    assert "Termination Grace Period:  30s\n" in out
    assert re.search(r"^QoS Class: +Guaranteed$", out, re.M)
    assert "Events" not in out


def test_describe_namespace() -> None:
    ns = {"kind": "Namespace", "metadata": {"name": "dev", "labels": {
        "kubernetes.io/metadata.name": "dev"}}, "status": {"phase": "Active"}}
    quota = {"kind": "ResourceQuota", "metadata": {"name": "q"},
             "status": {"hard": {"pods": "10", "requests.cpu": "2"},
                        "used": {"pods": "3", "requests.cpu": "500m"}}}
    assert describe(by_kind("Namespace"), ns, None, now=NOW) == (
        "Name:         dev\n"
        "Labels:       kubernetes.io/metadata.name=dev\n"
        "Annotations:  <none>\n"
        "Status:       Active\n"
        "\n"
        "No resource quota.\n"
        "\n"
        "No LimitRange resource.\n"
    )
    assert describe(by_kind("Namespace"), ns, None, now=NOW, related=[quota]) == (
        "Name:         dev\n"
        "Labels:       kubernetes.io/metadata.name=dev\n"
        "Annotations:  <none>\n"
        "Status:       Active\n"
        "\n"
        "Resource Quotas\n"
        "  Name:         q\n"
        "  Resource      Used  Hard\n"
        "  --------      ---   ---\n"
        "  pods          3     10\n"
        "  requests.cpu  500m  2\n"
        "\n"
        "No LimitRange resource.\n"
    )


def test_describe_generic_kind() -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "web", "namespace": "default", "uid": "h1",
                          "creationTimestamp": "2024-05-01T10:00:00Z"},
             "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}
    assert describe(by_kind("Lease"), lease, [], now=NOW) == (
        "Name:         web\n"
        "Namespace:    default\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "API Version:  coordination.k8s.io/v1\n"
        "Kind:         Lease\n"
        "Metadata:\n"
        "  Creation Timestamp:  2024-05-01T10:00:00Z\n"
        "  UID:                 h1\n"
        "Spec:\n"
        "  Holder Identity:         node-1\n"
        "  Lease Duration Seconds:  40\n"
        "Events:                    <none>\n"
    )


def test_describe_configmap_and_secret() -> None:
    cm = {"kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"},
          "data": {"mode": "prod", "app.conf": "a=1\nb=2"}}
    assert describe(by_kind("ConfigMap"), cm, [], now=NOW) == (
        "Name:         cfg\n"
        "Namespace:    default\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "\n"
        "Data\n"
        "====\n"
        "app.conf:\n"
        "----\n"
        "a=1\n"
        "b=2\n"
        "mode:\n"
        "----\n"
        "prod\n"
        "\n"
        "BinaryData\n"
        "====\n"
        "\n"
        "Events:  <none>\n"
    )
    secret = {"kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
              "type": "Opaque", "data": {"password": "c2VjcmV0", "user": "YWRtaW4="}}
    out = describe(by_kind("Secret"), secret, [], now=NOW)
    assert out == (
        "Name:         db\n"
        "Namespace:    default\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "\n"
        "Type:  Opaque\n"
        "\n"
        "Data\n"
        "====\n"
        "password:  6 bytes\n"
        "user:      5 bytes\n"
    )
    assert "secret" not in out.replace("Secret", "")


def test_events_for_filters_and_sorts() -> None:
    mine = events_for(POD, POD_EVENTS)
    assert [e["reason"] for e in mine] == ["Scheduled", "BackOff"]
    node_events = [{**NODE_EVENTS[0], "involvedObject": {"kind": "Node", "name": "node-1",
                                                        "uid": "node-1"}}]
    assert events_for({**NODE, "metadata": {**NODE["metadata"], "uid": "n-uid"}},
                      node_events) == node_events
