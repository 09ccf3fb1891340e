"""Semantic validation: Kubernetes' rules and messages, all errors at once, docs manifests
valid after defaulting, and nothing but APIError escaping, whatever the input."""

from __future__ import annotations

import copy
import datetime as dt
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jota.api import errors
from jota.api.defaults import apply_defaults
from jota.api.registry import RESOURCES, by_kind
from jota.api.validation import RULES, semantic_errors, validate
from jota.api.validation.cron import next_after, parse_schedule

DOCS_MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - protocol: TCP
      port: 80
      targetPort: 9376
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: game-demo
data:
  player_initial_lives: "3"
  ui_properties_file_name: "user-interface.properties"
  game.properties: |
    enemy.types=aliens,monsters
    player.maximum-lives=5
  user-interface.properties: |
    color.good=purple
    color.bad=yellow
    allow.textmode=true
---
apiVersion: v1
kind: Secret
metadata:
  name: mysecret
type: Opaque
data:
  username: YWRtaW4=
  password: MWYyZDFlMmU2N2Rm
---
apiVersion: v1
kind: Secret
metadata:
  name: dotfile-secret
data:
  .secret-file: dmFsdWUtMg0KDQo=
---
apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl",  "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
            imagePullPolicy: IfNotPresent
            command:
            - /bin/sh
            - -c
            - date; echo Hello from the Kubernetes cluster
          restartPolicy: OnFailure
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: php-apache
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: php-apache
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 50
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: nginx
  serviceName: "nginx"
  replicas: 3
  minReadySeconds: 10
  template:
    metadata:
      labels:
        app: nginx
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.24
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ "ReadWriteOnce" ]
      storageClassName: "my-storage-class"
      resources:
        requests:
          storage: 1Gi
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: minimal-ingress
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx-example
  rules:
  - http:
      paths:
      - path: /testpath
        pathType: Prefix
        backend:
          service:
            name: test
            port:
              number: 80
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
    - Ingress
    - Egress
  ingress:
    - from:
        - ipBlock:
            cidr: 172.17.0.0/16
            except:
              - 172.17.1.0/24
        - namespaceSelector:
            matchLabels:
              project: myproject
        - podSelector:
            matchLabels:
              role: frontend
      ports:
        - protocol: TCP
          port: 6379
  egress:
    - to:
        - ipBlock:
            cidr: 10.0.0.0/24
      ports:
        - protocol: TCP
          port: 5978
---
apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  containers:
  - name: nginx
    image: nginx:1.14.2
    ports:
    - containerPort: 80
    resources:
      requests:
        memory: "64Mi"
        cpu: "250m"
      limits:
        memory: "128Mi"
        cpu: "500m"
    livenessProbe:
      httpGet:
        path: /healthz
        port: 8080
      initialDelaySeconds: 3
      periodSeconds: 3
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd-elasticsearch
  namespace: kube-system
  labels:
    k8s-app: fluentd-logging
spec:
  selector:
    matchLabels:
      name: fluentd-elasticsearch
  template:
    metadata:
      labels:
        name: fluentd-elasticsearch
    spec:
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      containers:
      - name: fluentd-elasticsearch
        image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2
        resources:
          limits:
            memory: 200Mi
          requests:
            cpu: 100m
            memory: 200Mi
        volumeMounts:
        - name: varlog
          mountPath: /var/log
      terminationGracePeriodSeconds: 30
      volumes:
      - name: varlog
        hostPath:
          path: /var/log
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: myclaim
spec:
  accessModes:
    - ReadWriteOnce
  volumeMode: Filesystem
  resources:
    requests:
      storage: 8Gi
  storageClassName: slow
---
apiVersion: v1
kind: Namespace
metadata:
  name: my-namespace
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: zk-pdb
spec:
  minAvailable: 2
  selector:
    matchLabels:
      app: zookeeper
"""

MANIFESTS = list(yaml.safe_load_all(DOCS_MANIFESTS))


def rt_of(doc: dict[str, Any]) -> Any:
    return by_kind(doc["kind"], doc["apiVersion"])


@pytest.mark.parametrize("doc", MANIFESTS, ids=[f"{d['kind']}/{d['metadata']['name']}"
                                                for d in MANIFESTS])
def test_docs_manifests_validate_after_defaulting(doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(doc)
    rt = rt_of(doc)
    apply_defaults(rt, doc)
    validate(rt, doc)
    validate(rt, doc, old=copy.deepcopy(doc))  # an update that changes nothing


def manifest(kind: str) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(next(d for d in MANIFESTS if d["kind"] == kind))
    apply_defaults(rt_of(doc), doc)
    return doc


def web() -> dict[str, Any]:
    doc = manifest("Deployment")
    doc["metadata"]["name"] = "web"
    return doc


def message(doc: dict[str, Any], old: dict[str, Any] | None = None) -> str:
    with pytest.raises(errors.Invalid) as exc:
        validate(rt_of(doc), doc, old)
    return exc.value.message


def causes(doc: dict[str, Any], old: dict[str, Any] | None = None) -> set[str]:
    with pytest.raises(errors.Invalid) as exc:
        validate(rt_of(doc), doc, old)
    return {str(c) for c in exc.value.causes}


def test_negative_replicas_in_kubectl_words() -> None:
    doc = web()
    doc["spec"]["replicas"] = -1
    assert message(doc) == (
        'Deployment "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


def test_unknown_field_is_named() -> None:
    doc = web()
    doc["spec"]["template"]["spec"]["contaners"] = []
    doc["spec"]["contaners"] = doc["spec"]["template"]["spec"].pop("containers")
    with pytest.raises(errors.Invalid) as exc:
        validate(rt_of(doc), doc)
    assert errors.unknown_field("spec.contaners") in exc.value.causes
    assert "spec.contaners" in exc.value.message


def test_several_errors_are_reported_at_once() -> None:
    doc = web()
    doc["spec"]["replicas"] = -1
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    doc["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "12ZZ", "memory": "1Gi"}, "requests": {"memory": "2Gi"}}
    doc["metadata"]["labels"]["bad key!"] = "x"
    found = causes(doc)
    c0 = "spec.template.spec.containers[0]"
    assert {
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        f"{c0}.image: Required value",
        f'{c0}.resources.limits[cpu]: Invalid value: "12ZZ": quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        f'{c0}.resources.requests: Invalid value: "2Gi": must be less than or equal to memory '
        "limit of 1Gi",
    } <= found
    assert any(c.startswith('metadata.labels: Invalid value: "bad key!": name part must')
               for c in found)
    assert message(doc).startswith('Deployment "web" is invalid: [')


def test_selector_must_match_template_labels() -> None:
    doc = web()
    doc["spec"]["selector"]["matchLabels"] = {"app": "other"}
    assert causes(doc) == {
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"nginx"}: '
        "`selector` does not match template `labels`"
    }


def test_selector_required_and_not_empty() -> None:
    doc = web()
    del doc["spec"]["selector"]
    assert "spec.selector: Required value" in causes(doc)
    doc["spec"]["selector"] = {}
    assert (
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
        "deployment"
    ) in causes(doc)


def test_selector_is_immutable() -> None:
    old = web()
    new = web()
    new["spec"]["selector"]["matchLabels"]["tier"] = "web"
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
    assert causes(new, old) == {
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":'
        '"nginx", "tier":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: '
        "field is immutable"
    }


@pytest.mark.parametrize("kind", ["DaemonSet", "StatefulSet"])
def test_selector_is_immutable_for_other_controllers(kind: str) -> None:
    old = manifest(kind)
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchExpressions": [
        {"key": "app", "operator": "Exists"}]}
    assert any(c.startswith("spec.selector: Invalid value: v1.LabelSelector{") and
               c.endswith("field is immutable") for c in causes(new, old))


def test_metadata_name_namespace_uid_are_immutable() -> None:
    old = web()
    old["metadata"].update(namespace="default", uid="u1")
    new = copy.deepcopy(old)
    new["metadata"].update(name="web2", namespace="other", uid="u2")
    assert causes(new, old) == {
        'metadata.name: Invalid value: "web2": field is immutable',
        'metadata.namespace: Invalid value: "other": field is immutable',
        'metadata.uid: Invalid value: "u2": field is immutable',
    }


NAME_63 = "a" * 63


@pytest.mark.parametrize("kind,name,ok", [
    ("ConfigMap", "a" * 253, True),
    ("ConfigMap", "a" * 254, False),
    ("ConfigMap", "my.config", True),
    ("Namespace", NAME_63, True),
    ("Namespace", NAME_63 + "a", False),
    ("Namespace", "my.ns", False),
    ("Service", NAME_63, True),
    ("Service", NAME_63 + "a", False),
    ("Service", "1svc", False),
    ("Deployment", "Web", False),
])
def test_name_syntax_per_kind(kind: str, name: str, ok: bool) -> None:
    doc = manifest(kind)
    doc["metadata"]["name"] = name
    if ok:
        validate(rt_of(doc), doc)
    else:
        assert any(c.startswith("metadata.name: Invalid value") for c in causes(doc))


def test_name_or_generate_name_required() -> None:
    doc = web()
    del doc["metadata"]["name"]
    assert causes(doc) == {"metadata.name: Required value: name or generateName is required"}
    doc["metadata"]["generateName"] = "web-"
    validate(rt_of(doc), doc)


def test_annotations_total_size() -> None:
    doc = web()
    doc["metadata"]["annotations"] = {"big": "x" * (256 * 1024)}
    assert causes(doc) == {str(errors.too_long("metadata.annotations", 262144))}


POD = "spec.template.spec"


@pytest.mark.parametrize("change,expected", [
    (lambda c: c.update(name="Nginx"),
     f'{POD}.containers[0].name: Invalid value: "Nginx": a lowercase RFC 1123 label must '
     "consist of lower case alphanumeric characters or '-', and must start and end with an "
     "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
    (lambda c: c["ports"].append({"containerPort": 70000, "protocol": "TCP"}),
     f"{POD}.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 "
     "and 65535, inclusive"),
    (lambda c: c["ports"][0].update(protocol="HTTP"),
     f'{POD}.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: '
     '"SCTP", "TCP", "UDP"'),
    (lambda c: c["ports"][0].update(name="metrics-port-1234"),
     f'{POD}.containers[0].ports[0].name: Invalid value: "metrics-port-1234": must be no '
     "more than 15 characters"),
    (lambda c: c.update(imagePullPolicy="Sometimes"),
     f'{POD}.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported '
     'values: "Always", "IfNotPresent", "Never"'),
    (lambda c: c.update(resources={"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}),
     f'{POD}.containers[0].resources.requests: Invalid value: "1": must be less than or equal '
     "to cpu limit of 500m"),
    (lambda c: c.update(resources={"limits": {"gpu": "1"}}),
     f'{POD}.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard '
     "resource for containers"),
    (lambda c: c.update(volumeMounts=[{"name": "data", "mountPath": "/data"}]),
     f'{POD}.containers[0].volumeMounts[0].name: Not found: "data"'),
    (lambda c: c.update(livenessProbe={"tcpSocket": {"port": 80}, "successThreshold": 2}),
     f"{POD}.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"),
    (lambda c: c.update(readinessProbe={"periodSeconds": 5}),
     f"{POD}.containers[0].readinessProbe: Required value: must specify a handler type"),
    (lambda c: c.update(env=[{"name": "1BAD"}]),
     f'{POD}.containers[0].env[0].name: Invalid value: "1BAD": a valid environment variable '
     "name must consist of alphabetic characters, digits, '_', '-', or '.', and must not "
     "start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex "
     "used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"),
])
def test_container_rules(change: Any, expected: str) -> None:
    doc = web()
    change(doc["spec"]["template"]["spec"]["containers"][0])
    assert causes(doc) == {expected}


def test_container_names_unique() -> None:
    doc = web()
    containers = doc["spec"]["template"]["spec"]["containers"]
    containers.append(dict(containers[0], ports=[]))
    assert causes(doc) == {f'{POD}.containers[1].name: Duplicate value: "nginx"'}


def test_containers_required() -> None:
    doc = web()
    doc["spec"]["template"]["spec"]["containers"] = []
    assert causes(doc) == {f"{POD}.containers: Required value"}


@pytest.mark.parametrize("policy,expected", [
    ("Never", f'{POD}.restartPolicy: Unsupported value: "Never": supported values: "Always"'),
    ("Sometimes", f'{POD}.restartPolicy: Unsupported value: "Sometimes": supported values: '
                  '"Always", "OnFailure", "Never"'),
])
def test_deployment_restart_policy(policy: str, expected: str) -> None:
    doc = web()
    doc["spec"]["template"]["spec"]["restartPolicy"] = policy
    assert causes(doc) == {expected}


def test_job_restart_policy() -> None:
    doc = manifest("Job")
    del doc["spec"]["template"]["spec"]["restartPolicy"]
    assert causes(doc) == {
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'}
    doc["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert causes(doc) == {
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
        '"OnFailure", "Never"'}


def test_job_template_and_selector_are_immutable() -> None:
    old = manifest("Job")
    old["spec"]["selector"] = {"matchLabels": {"job-name": "pi"}}
    old["spec"]["template"]["metadata"] = {"labels": {"job-name": "pi"}}
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5.36"
    assert causes(new, old) == {
        "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"}
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["x"] = "y"
    new["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    assert any(c.startswith("spec.selector:") and c.endswith("field is immutable")
               for c in causes(new, old))


@pytest.mark.parametrize("schedule,detail", [
    ("", None),
    ("every minute", "expected exactly 5 fields, found 2: [every minute]"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("TZ=UTC 0 * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
])
def test_cron_job_schedule(schedule: str, detail: str | None) -> None:
    doc = manifest("CronJob")
    doc["spec"]["schedule"] = schedule
    expected = ("spec.schedule: Required value" if detail is None else
                f'spec.schedule: Invalid value: "{schedule}": {detail}')
    assert causes(doc) == {expected}


@pytest.mark.parametrize("schedule", ["*/5 * * * *", "0 9 * * MON-FRI", "@daily", "0 0 1,15 * *",
                                      "30 2 * JAN,jul ?", "0-30/10 * * * *"])
def test_cron_schedules_that_parse(schedule: str) -> None:
    parse_schedule(schedule)


def test_cron_next_after() -> None:
    s = parse_schedule("30 9 * * MON-FRI")
    assert next_after(s, dt.datetime(2024, 6, 1, 10, 0)) == dt.datetime(2024, 6, 3, 9, 30)
    every = parse_schedule("* * * * *")
    assert next_after(every, dt.datetime(2024, 1, 1, 0, 0, 30)) == dt.datetime(2024, 1, 1, 0, 1)


def test_cron_job_name_at_most_52() -> None:
    doc = manifest("CronJob")
    doc["metadata"]["name"] = "a" * 53
    assert causes(doc) == {
        f'metadata.name: Invalid value: "{"a" * 53}": must be no more than 52 characters'}


def service() -> dict[str, Any]:
    return manifest("Service")


@pytest.mark.parametrize("change,expected", [
    (lambda s: s.pop("ports"), "spec.ports: Required value"),
    (lambda s: s["ports"][0].update(port=0),
     "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
    (lambda s: s["ports"][0].update(targetPort="HTTP_PORT"),
     'spec.ports[0].targetPort: Invalid value: "HTTP_PORT": must contain only alpha-numeric '
     "characters (a-z, 0-9), and hyphens (-)"),
    (lambda s: s.update(type="Public"),
     'spec.type: Unsupported value: "Public": supported values: "ClusterIP", "ExternalName", '
     '"LoadBalancer", "NodePort"'),
    (lambda s: s["ports"][0].update(nodePort=30080),
     "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
    (lambda s: (s.update(type="NodePort", externalTrafficPolicy="Cluster"),
                s["ports"][0].update(nodePort=70000)),
     "spec.ports[0].nodePort: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    (lambda s: s["ports"].append({"port": 443, "protocol": "TCP", "targetPort": 443}),
     "spec.ports[0].name: Required value"),
    (lambda s: s.update(clusterIP="10.0.0.300"),
     'spec.clusterIP: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. '
     "10.9.8.7 or 2001:db8::ffff)"),
])
def test_service_rules(change: Any, expected: str) -> None:
    doc = service()
    change(doc["spec"])
    assert expected in causes(doc)


def test_headless_and_external_name_services_need_no_ports() -> None:
    doc = service()
    del doc["spec"]["ports"]
    doc["spec"]["clusterIP"] = "None"
    validate(rt_of(doc), doc)
    ext = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
           "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    apply_defaults(rt_of(ext), ext)
    validate(rt_of(ext), ext)


def test_service_cluster_ip_is_immutable_once_set() -> None:
    old = service()
    old["spec"]["clusterIP"] = "10.96.0.10"
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.11"
    assert causes(new, old) == {'spec.clusterIP: Invalid value: "10.96.0.11": field is immutable'}
    unset = service()
    new = copy.deepcopy(unset)
    new["spec"]["clusterIP"] = "10.96.0.11"
    validate(rt_of(new), new, unset)


def test_config_map_keys() -> None:
    doc = manifest("ConfigMap")
    doc["data"]["bad key"] = "x"
    assert causes(doc) == {
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of '
        "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
        "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"}


def test_secret_data_must_be_base64() -> None:
    doc = manifest("Secret")
    doc["data"]["password"] = "not base64!"
    assert causes(doc) == {"data[password]: Invalid value: illegal base64 data at input byte 3"}
    doc["data"]["password"] = "YWRtaW4"
    assert causes(doc) == {"data[password]: Invalid value: illegal base64 data at input byte 4"}


def test_secret_type_keys() -> None:
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
           "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}}
    assert causes(doc) == {"data[tls.key]: Required value"}


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_immutable_config(kind: str) -> None:
    old = manifest(kind)
    old["immutable"] = True
    new = copy.deepcopy(old)
    new["data"] = {"a": "Yg=="}
    assert causes(new, old) == {"data: Forbidden: field is immutable when `immutable` is set"}
    new = copy.deepcopy(old)
    new["immutable"] = False
    assert causes(new, old) == {
        "immutable: Forbidden: field is immutable when `immutable` is set"}
    mutable = copy.deepcopy(old)
    mutable["immutable"] = False
    changed = copy.deepcopy(mutable)
    changed["data"] = {"a": "Yg=="}
    validate(rt_of(changed), changed, mutable)


def test_pvc_spec_immutable_except_resources() -> None:
    old = manifest("PersistentVolumeClaim")
    new = copy.deepcopy(old)
    new["spec"]["resources"]["requests"]["storage"] = "16Gi"
    new["spec"]["volumeName"] = "pv-1"
    validate(rt_of(new), new, old)
    new["spec"]["storageClassName"] = "fast"
    assert causes(new, old) == {
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims"}


def test_pvc_needs_access_modes_and_storage() -> None:
    doc = manifest("PersistentVolumeClaim")
    doc["spec"] = {"volumeMode": "Filesystem"}
    assert causes(doc) == {
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value"}


@pytest.mark.parametrize("spec,expected", [
    ({"minReplicas": 5, "maxReplicas": 2},
     "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"),
    ({"maxReplicas": 0}, "spec.maxReplicas: Invalid value: 0: must be greater than 0"),
    ({"minReplicas": 0}, "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"),
])
def test_hpa_bounds(spec: dict[str, Any], expected: str) -> None:
    doc = manifest("HorizontalPodAutoscaler")
    doc["spec"].update(spec)
    assert expected in causes(doc)


def test_label_selector_expressions() -> None:
    doc = manifest("NetworkPolicy")
    doc["spec"]["podSelector"] = {"matchExpressions": [
        {"key": "role", "operator": "In"},
        {"key": "tier", "operator": "Exists", "values": ["x"]},
        {"key": "env", "operator": "Like", "values": ["x"]}]}
    assert causes(doc) == {
        "spec.podSelector.matchExpressions[0].values: Required value: must be specified when "
        "`operator` is 'In' or 'NotIn'",
        "spec.podSelector.matchExpressions[1].values: Forbidden: may not be specified when "
        "`operator` is 'Exists' or 'DoesNotExist'",
        'spec.podSelector.matchExpressions[2].operator: Invalid value: "Like": not a valid '
        "selector operator"}


def test_ingress_path_type_required() -> None:
    doc = manifest("Ingress")
    del doc["spec"]["rules"][0]["http"]["paths"][0]["pathType"]
    assert causes(doc) == {
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"}


def test_every_rule_is_a_known_kind() -> None:
    kinds = {r.kind for r in RESOURCES}
    assert set(RULES) <= kinds


def test_validate_is_fast() -> None:
    doc = web()
    rt = rt_of(doc)
    validate(rt, doc)
    n = 300
    start = time.perf_counter()
    for _ in range(n):
        validate(rt, doc)
    assert (time.perf_counter() - start) / n < 0.001


def test_non_object_documents_are_bad_requests() -> None:
    with pytest.raises(errors.BadRequest):
        validate(by_kind("Pod"), [])  # type: ignore[arg-type]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["", "Always", "250m", "-1", "web", "a/b", "None"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(
        ["spec", "metadata", "name", "template", "containers", "selector", "ports",
         "matchLabels", "labels", "data", "replicas", "image", "resources", "limits"]),
        children, max_size=4),
    max_leaves=20,
)
FUZZ_KINDS = ["Deployment", "Pod", "Service", "Secret", "CronJob", "StatefulSet",
              "HorizontalPodAutoscaler", "Ingress"]


def _graft(base: Any, path: list[int], value: Any) -> Any:
    """Replace one subtree of `base`, chosen by `path`, with `value`."""
    if not path or not isinstance(base, dict | list) or not base:
        return value
    if isinstance(base, dict):
        k = sorted(base)[path[0] % len(base)]
        base[k] = _graft(base[k], path[1:], value)
    else:
        i = path[0] % len(base)
        base[i] = _graft(base[i], path[1:], value)
    return base


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(FUZZ_KINDS), doc=JSONISH,
       path=st.lists(st.integers(0, 20), max_size=8), graft=st.booleans())
def test_garbage_only_raises_api_errors(kind: str, doc: Any, path: list[int],
                                        graft: bool) -> None:
    rt = by_kind(kind)
    if graft:
        base: Any = next((copy.deepcopy(m) for m in MANIFESTS if m["kind"] == kind),
                         {"spec": {}})
        doc = _graft(base, path, doc)
    old = copy.deepcopy(doc) if graft else None
    try:
        apply_defaults(rt, doc)
        validate(rt, doc, old=old)
    except errors.InternalError:
        raise
    except errors.APIError:
        pass
    if isinstance(doc, dict):
        semantic_errors(rt, doc, old)  # the rules themselves never crash on garbage
