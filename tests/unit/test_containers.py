"""Pod spec -> SandboxConfig / ContainerConfig, with kubelet's arithmetic and rules."""

from __future__ import annotations

from typing import Any

import pytest

from node.agent.containers import (
    POD_FQDN,
    container_config,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    parse_resolv_conf,
    pod_dns,
    qos_class,
    resources,
    sandbox_config,
)
from node.agent.env import ConfigError
from node.runtime import interface as cri
from node.runtime.interface import DNSConfig, Mount, PortMapping, Resources


def pod(*containers: dict[str, Any], name: str = "web-1", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "uid": "u-1",
                     "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {"containers": list(containers) or [{"name": "app", "image": "busybox"}],
                 **spec},
    }


def c(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": "busybox", **fields}


# ---- resources ----------------------------------------------------------------------------


@pytest.mark.parametrize(("milli", "shares"), [
    (0, 2), (1, 2), (2, 2), (3, 3), (100, 102), (250, 256), (1000, 1024), (1500, 1536),
    (300_000, 262_144),
])
def test_milli_cpu_to_shares(milli: int, shares: int) -> None:
    assert milli_cpu_to_shares(milli) == shares


@pytest.mark.parametrize(("milli", "quota"), [
    (0, 0), (1, 1000), (5, 1000), (10, 1000), (250, 25_000), (1000, 100_000), (2500, 250_000),
])
def test_milli_cpu_to_quota(milli: int, quota: int) -> None:
    assert milli_cpu_to_quota(milli) == quota


@pytest.mark.parametrize(("res", "want"), [
    ({}, Resources(cpu_shares=2)),
    ({"requests": {"cpu": "250m"}}, Resources(cpu_shares=256)),
    ({"limits": {"cpu": "500m"}}, Resources(cpu_shares=512, cpu_quota=50_000)),
    ({"requests": {"cpu": "100m"}, "limits": {"cpu": "1", "memory": "128Mi"}},
     Resources(cpu_shares=102, cpu_quota=100_000, memory_limit=134_217_728)),
    ({"requests": {"memory": "64Mi"}}, Resources(cpu_shares=2)),
    ({"limits": {"memory": "1G"}}, Resources(cpu_shares=2, memory_limit=1_000_000_000)),
])
def test_resources(res: dict[str, Any], want: Resources) -> None:
    assert resources(c(resources=res)) == want


G = {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}


@pytest.mark.parametrize(("containers", "init", "want"), [
    ([c()], [], "BestEffort"),
    ([c(resources={"limits": {"cpu": "1", "memory": "1Gi"}})], [], "Guaranteed"),
    ([c(resources=G)], [], "Guaranteed"),
    ([c(resources=G), c(name="b", resources=G)], [], "Guaranteed"),
    ([c(resources=G), c(name="b")], [], "Burstable"),
    ([c(resources={"requests": {"cpu": "100m"}})], [], "Burstable"),
    ([c(resources={"limits": {"cpu": "1"}})], [], "Burstable"),
    ([c(resources={"limits": {"cpu": "1", "memory": "1Gi"},
                   "requests": {"cpu": "500m", "memory": "1Gi"}})], [], "Burstable"),
    ([c(resources=G)], [c(name="init", resources={"requests": {"cpu": "1"}})], "Burstable"),
    ([c(resources={"requests": {"cpu": "0"}})], [], "BestEffort"),
    ([c(resources={"requests": {"nvidia.com/gpu": "1"}})], [], "BestEffort"),
])
def test_qos_class(containers: list[dict[str, Any]], init: list[dict[str, Any]],
                   want: str) -> None:
    assert qos_class(pod(*containers, initContainers=init)) == want


# ---- containers ---------------------------------------------------------------------------


def config(container: dict[str, Any], env: dict[str, str] | None = None,
           **spec: Any) -> Any:
    return container_config(pod(container, **spec), container, attempt=2, env=env or {},
                            mounts=[Mount("/h", "/c", True)])


def test_container_config_basics() -> None:
    cfg = config(c(command=["sh", "-c", "echo $(GREETING) $$(HOME)"], args=["$(NAME)", "x"],
                   workingDir="/srv", stdin=True, tty=True,
                   terminationMessagePath="/tmp/term"),
                 env={"GREETING": "hi", "NAME": "web"})
    assert cfg.name == "app" and cfg.image == "busybox" and cfg.attempt == 2
    assert cfg.command == ["sh", "-c", "echo hi $(HOME)"]
    assert cfg.args == ["web", "x"]
    assert cfg.working_dir == "/srv"
    assert cfg.env == {"GREETING": "hi", "NAME": "web"}
    assert cfg.mounts == [Mount("/h", "/c", True)]
    assert cfg.stdin and cfg.tty
    assert cfg.termination_message_path == "/tmp/term"
    assert cfg.labels == {cri.POD_UID: "u-1", cri.POD_NAMESPACE: "shop", cri.POD_NAME: "web-1",
                          cri.MANAGED: "true", cri.CONTAINER_NAME: "app", cri.ATTEMPT: "2"}


def test_default_termination_message_path() -> None:
    assert config(c()).termination_message_path == "/dev/termination-log"


def test_container_hash_changes_with_spec() -> None:
    a = config(c()).annotations["io.kubernetes.container.hash"]
    b = config(c(image="busybox:2")).annotations["io.kubernetes.container.hash"]
    assert a != b and a == config(c()).annotations["io.kubernetes.container.hash"]


@pytest.mark.parametrize(("pod_sc", "sc", "want"), [
    ({}, {}, {}),
    ({"runAsUser": 1000, "runAsGroup": 3000}, {},
     {"run_as_user": 1000, "run_as_group": 3000}),
    ({"runAsUser": 1000}, {"runAsUser": 2000}, {"run_as_user": 2000}),
    ({"runAsNonRoot": True, "runAsUser": 1000}, {}, {"run_as_user": 1000}),
    ({}, {"readOnlyRootFilesystem": True, "privileged": True},
     {"readonly_rootfs": True, "privileged": True}),
    ({}, {"capabilities": {"add": ["NET_ADMIN", "CAP_SYS_TIME", "cap_net_admin"],
                           "drop": ["ALL"]}},
     {"cap_add": ["NET_ADMIN", "SYS_TIME"], "cap_drop": ["ALL"]}),
    ({}, {"allowPrivilegeEscalation": False}, {"no_new_privileges": True}),
    ({}, {"allowPrivilegeEscalation": True}, {"no_new_privileges": False}),
])
def test_security_context(pod_sc: dict[str, Any], sc: dict[str, Any],
                          want: dict[str, Any]) -> None:
    cfg = config(c(securityContext=sc), securityContext=pod_sc)
    defaults: dict[str, Any] = {"run_as_user": None, "run_as_group": None, "readonly_rootfs": False,
                "privileged": False, "cap_add": [], "cap_drop": [], "no_new_privileges": False}
    assert vars(cfg.security) == {**defaults, **want}


@pytest.mark.parametrize(("pod_sc", "sc", "image_user", "message"), [
    ({"runAsNonRoot": True, "runAsUser": 0}, {}, "",
     "container's runAsUser breaks non-root policy"),
    ({"runAsNonRoot": True}, {"runAsUser": 0}, "",
     "container's runAsUser breaks non-root policy"),
    ({"runAsNonRoot": True}, {}, "", "container has runAsNonRoot and image will run as root"),
    ({}, {"runAsNonRoot": True}, "0:0", "container has runAsNonRoot and image will run as root"),
    ({}, {"runAsNonRoot": True}, "nobody",
     "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user "
     "is non-root"),
])
def test_run_as_non_root_refuses_root(pod_sc: dict[str, Any], sc: dict[str, Any],
                                      image_user: str, message: str) -> None:
    container = c(securityContext=sc)
    p = pod(container, securityContext=pod_sc)
    with pytest.raises(ConfigError) as e:
        container_config(p, container, attempt=0, env={}, mounts=[], image_user=image_user)
    assert e.value.reason == "CreateContainerConfigError"
    assert e.value.message == f'{message} (pod: "web-1_shop(u-1)", container: app)'


@pytest.mark.parametrize(("pod_sc", "sc", "image_user"), [
    ({"runAsNonRoot": True}, {}, "1000"),
    ({"runAsNonRoot": True}, {"runAsUser": 1000}, ""),
    ({"runAsNonRoot": True}, {"runAsNonRoot": False}, ""),
    ({"runAsUser": 0}, {}, ""),
])
def test_run_as_non_root_allows(pod_sc: dict[str, Any], sc: dict[str, Any],
                                image_user: str) -> None:
    container = c(securityContext=sc)
    container_config(pod(container, securityContext=pod_sc), container, attempt=0, env={},
                     mounts=[], image_user=image_user)


# ---- the sandbox ----------------------------------------------------------------------------


def sandbox(p: dict[str, Any], dns: list[str] | None = None, domain: str = "cluster.local",
            **kw: Any) -> Any:
    return sandbox_config(p, attempt=1, cluster_dns=["10.96.0.10"] if dns is None else dns,
                          cluster_domain=domain, network="jota0", **kw)


def test_sandbox_basics() -> None:
    cfg = sandbox(pod(hostNetwork=False, hostPID=True,
                      securityContext={"sysctls": [{"name": "net.core.somaxconn",
                                                    "value": "1024"}]}))
    assert cfg.pod == cri.PodRef("u-1", "shop", "web-1")
    assert cfg.attempt == 1 and cfg.network == "jota0"
    assert cfg.hostname == "web-1"
    assert cfg.labels == {"app": "web", cri.POD_UID: "u-1", cri.POD_NAMESPACE: "shop",
                          cri.POD_NAME: "web-1", cri.MANAGED: "true"}
    assert cfg.annotations == {"a": "b"}
    assert cfg.host_pid and not cfg.host_network
    assert cfg.sysctls == {"net.core.somaxconn": "1024"}


@pytest.mark.parametrize(("name", "spec", "hostname", "fqdn"), [
    ("web-1", {}, "web-1", None),
    ("web-1", {"hostname": "db-0"}, "db-0", None),
    ("web-1", {"hostname": "db-0", "subdomain": "db"}, "db-0",
     "db-0.db.shop.svc.cluster.local"),
    ("web-1", {"hostname": "db-0", "subdomain": "db", "setHostnameAsFQDN": True},
     "db-0.db.shop.svc.cluster.local", "db-0.db.shop.svc.cluster.local"),
    ("a" * 62 + "-b", {}, "a" * 62, None),  # cut to 63, then trailing '-' dropped
    ("web-1", {"hostNetwork": True}, "", None),  # the node's own hostname
])
def test_hostname(name: str, spec: dict[str, Any], hostname: str, fqdn: str | None) -> None:
    cfg = sandbox(pod(name=name, **spec))
    assert cfg.hostname == hostname
    assert cfg.annotations.get(POD_FQDN) == fqdn
    # /etc/hosts maps the pod IP to `<hostname>.<domain>` (kubelet's managed hosts file)
    if fqdn and fqdn != hostname:
        assert f"{cfg.hostname}.{cfg.domain}" == fqdn
    else:
        assert cfg.domain == ""


CLUSTER = DNSConfig(servers=["10.96.0.10"],
                    searches=["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"],
                    options=["ndots:5"])
HOST = DNSConfig(servers=["192.168.1.1"], searches=["lan"], options=["edns0"])


@pytest.mark.parametrize(("spec", "dns", "host", "want"), [
    ({}, ["10.96.0.10"], None, CLUSTER),
    ({"dnsPolicy": "ClusterFirst"}, ["10.96.0.10"], HOST,
     DNSConfig(["10.96.0.10"], [*CLUSTER.searches, "lan"], ["ndots:5"])),
    ({"dnsPolicy": "ClusterFirst"}, [], None, None),  # no cluster DNS: as Default
    ({"dnsPolicy": "ClusterFirst", "hostNetwork": True}, ["10.96.0.10"], None, None),
    ({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": True}, ["10.96.0.10"], None,
     CLUSTER),
    ({"dnsPolicy": "Default"}, ["10.96.0.10"], None, None),
    ({"dnsPolicy": "Default"}, ["10.96.0.10"], HOST, HOST),
    ({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["x.test"],
                                         "options": [{"name": "ndots", "value": "2"},
                                                     {"name": "edns0"}]}},
     ["10.96.0.10"], HOST, DNSConfig(["1.1.1.1"], ["x.test"], ["ndots:2", "edns0"])),
    ({"dnsConfig": {"nameservers": ["10.96.0.10", "8.8.8.8"], "searches": ["cluster.local", "a"],
                    "options": [{"name": "ndots", "value": "1"}, {"name": "timeout",
                                                                   "value": "3"}]}},
     ["10.96.0.10"], None,
     DNSConfig(["10.96.0.10", "8.8.8.8"], [*CLUSTER.searches, "a"], ["ndots:1", "timeout:3"])),
    ({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3",
                                                         "1.1.1.4"]}},
     [], None, DNSConfig(["1.1.1.1", "1.1.1.2", "1.1.1.3"], [], [])),
])
def test_dns(spec: dict[str, Any], dns: list[str], host: DNSConfig | None,
             want: DNSConfig | None) -> None:
    assert pod_dns(pod(**spec), cluster_dns=dns, cluster_domain="cluster.local",
                   host_dns=host) == want
    assert sandbox(pod(**spec), dns=dns, host_dns=host).dns == want


def test_search_paths_capped() -> None:
    searches = [f"d{i}.example" for i in range(40)]
    got = pod_dns(pod(dnsPolicy="None", dnsConfig={"searches": searches}), cluster_dns=[],
                  cluster_domain="cluster.local")
    assert got is not None and got.searches == searches[:32]


def test_parse_resolv_conf() -> None:
    text = ("# generated\nnameserver 192.168.1.1\nnameserver 192.168.1.2 ; x\n"
            "search lan corp\noptions edns0 ndots:2\n")
    assert parse_resolv_conf(text) == DNSConfig(["192.168.1.1", "192.168.1.2"], ["lan", "corp"],
                                                ["edns0", "ndots:2"])


def test_port_mappings_only_for_host_ports() -> None:
    p = pod(c(ports=[{"containerPort": 80, "hostPort": 8080},
                     {"containerPort": 53, "hostPort": 5353, "protocol": "UDP",
                      "hostIP": "127.0.0.1"},
                     {"containerPort": 9090}]),
            c(name="side", ports=[{"containerPort": 80, "hostPort": 8080}]))
    assert sandbox(p).port_mappings == [
        PortMapping(container_port=80, host_port=8080, protocol="TCP", host_ip=""),
        PortMapping(container_port=53, host_port=5353, protocol="UDP", host_ip="127.0.0.1"),
    ]


def test_host_network() -> None:
    cfg = sandbox(pod(hostNetwork=True))
    assert cfg.host_network and cfg.dns is None


def test_cluster_dns_flag_is_repeatable_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    from node.agent.main import build_parser
    args = build_parser().parse_args(["--cluster-dns", "10.96.0.10",
                                      "--cluster-dns", "10.96.0.11,fd00::a"])
    assert [ip for ips in args.cluster_dns for ip in ips] == ["10.96.0.10", "10.96.0.11",
                                                               "fd00::a"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--cluster-dns", "dns.local"])
    assert "--cluster-dns: invalid IP address 'dns.local'" in capsys.readouterr().err
