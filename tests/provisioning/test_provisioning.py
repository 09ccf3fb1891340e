"""deploy/'s provisioning, run for real: three Debian "machines" booting systemd.

Each machine is a container of a debootstrapped bookworm rootfs (node-image.sh) running
systemd as PID 1, as kind's node images do, with a dockerd of its own inside. The test
runs the very scripts the Vagrantfile runs (deploy/provision-control-plane.sh on one,
deploy/provision-worker.sh on two), with Jota from a wheelhouse built here, then checks
what a user would: every unit active, both workers joined and Ready, a Deployment's
pods running on both workers and reaching each other across them, and an Ingress
answering on the control plane's port 80 from the pods of both workers.

Nothing leaves this machine: the machines' only network is an internal Docker network
(no route out), packages come from the image, Jota from the wheelhouse (`pip install
--no-index`), pod images from this machine's engine (`docker save | docker load`).
Every container, network and volume made here is removed at the end; the image stays,
cached by a hash of node-image.sh, so a rerun skips debootstrap.

Not under the e2e lock: nothing here touches the jota0 bridge or the host's netns names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jota.local.docker import ensure_dockerd
from jota.local.images import TEST_IMAGE, build_test_image

ROOT = Path(__file__).resolve().parents[2]
NODE_IMAGE_SCRIPT = Path(__file__).with_name("node-image.sh")
PREFIX = f"jota-prov-{os.getpid()}"
BRIDGE = f"jprov{os.getpid()}"  # the network's Linux bridge (at most 15 characters)
# Docker drops what an --internal network's bridge carries for addresses outside its
# subnet, and pod IPs are: this accepts traffic between the machines' ports of the bridge
# (in DOCKER-USER, Docker's chain for such rules), and only there.
BRIDGE_RULE = ["DOCKER-USER", "-i", BRIDGE, "-o", BRIDGE, "-m", "comment", "--comment",
               f"jota provisioning test {os.getpid()}", "-j", "ACCEPT"]
SUBNET = "172.29.253"
CONTROL_PLANE = ("jota-cp", f"{SUBNET}.10")
WORKERS = [(f"jota-worker-{i}", f"{SUBNET}.{10 + i}", f"10.244.{i}.0/24") for i in (1, 2)]
# What `docker run` needs for systemd as PID 1 and a dockerd inside, without --privileged
# (refused here): every capability but SYS_RESOURCE, no seccomp or AppArmor profile, the
# host's cgroup tree writable, every device allowed, /run and /tmp as tmpfs as systemd
# expects. The nested dockerd's data is an anonymous volume: overlayfs cannot sit on the
# container's own overlay root.
SYSTEMD_FLAGS = ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                 "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                 "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                 "--device-cgroup-rule", "a *:* rwm", "--tmpfs", "/run", "--tmpfs", "/tmp",
                 "-v", "/var/lib/docker"]
CONTROL_PLANE_UNITS = ["etcd", "jota-apiserver", "jota-controller-manager", "jota-scheduler",
                       "jota-dns", "jota-routes", "jota-ingress"]
WORKER_UNITS = ["docker", "jota-node", "jota-proxy"]
PROVISION_TIMEOUT = 600.0
READY_TIMEOUT = 240.0
# The first run debootstraps the image (minutes), inside the first test's setup.
pytestmark = pytest.mark.timeout(2400)


def run(*argv: str, input: bytes | None = None, timeout: float = 120.0,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(list(argv), input=input.decode() if input else None,
                         capture_output=True, text=True, timeout=timeout, check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"`{' '.join(argv)}` exited {out.returncode}:\n"
                             f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


@dataclass(frozen=True)
class Machine:
    name: str
    container: str
    address: str

    def sh(self, script: str, timeout: float = 120.0, check: bool = True
           ) -> subprocess.CompletedProcess[str]:
        return run("docker", "exec", self.container, "bash", "-c", script, timeout=timeout,
                   check=check)

    def journal(self, unit: str) -> str:
        return self.sh(f"journalctl -u {unit} --no-pager | tail -40", check=False).stdout


@dataclass(frozen=True)
class Cluster:
    control_plane: Machine
    workers: list[Machine]

    def jota(self, *args: str, timeout: float = 60.0, check: bool = True
             ) -> subprocess.CompletedProcess[str]:
        return run("docker", "exec", self.control_plane.container, "jota", *args,
                   timeout=timeout, check=check)

    def diagnose(self) -> str:
        parts = [f"--- {m.name} {u}\n{m.journal(u)}"
                 for m, units in [(self.control_plane, CONTROL_PLANE_UNITS),
                                  *((w, WORKER_UNITS) for w in self.workers)]
                 for u in units]
        return "\n".join(parts)


def wait(what: str, check: Callable[[], bool], timeout: float,
         cluster: Cluster | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s\n"
                         f"{cluster.diagnose() if cluster else ''}")


def node_image() -> str:
    out = run("bash", str(NODE_IMAGE_SCRIPT), timeout=1800)
    return out.stdout.strip().splitlines()[-1]


def wheelhouse(into: Path) -> Path:
    """Jota's wheel and its dependencies', built here: the machines install offline."""
    pip = ROOT / ".venv" / "bin" / "pip"
    run(str(pip), "wheel", "-q", "--wheel-dir", str(into), str(ROOT), timeout=900)
    return into


def start_machine(image: str, network: str, name: str, address: str, mounts: list[str]
                  ) -> Machine:
    container = f"{PREFIX}-{name}"
    run("docker", "run", "-d", "--name", container, "--hostname", name,
        "--network", network, "--ip", address, *SYSTEMD_FLAGS, *mounts, image)
    machine = Machine(name, container, address)

    def booted() -> bool:
        out = machine.sh("systemctl is-system-running", check=False)
        return out.stdout.strip() in ("running", "degraded")

    wait(f"systemd on {name} to boot", booted, 120.0)
    return machine


def mount_lost_cgroup_hierarchies() -> list[str]:
    """Mount, on this machine, every cgroup v1 hierarchy its processes belong to that is
    mounted nowhere here, under /run/jota-cgroup.

    systemd in the machines mounts the controllers this host leaves unmounted (perf_event,
    hugetlb, net_cls,net_prio here), which creates those hierarchies kernel-wide, and their
    nested dockerd leaves cgroups in them, so they outlive the machines. containerd then
    finds a hierarchy in /proc/PID/cgroup with no mount point and the host engine's stats
    and OOM reports break ("cgroups: cannot find cgroup mount destination"): Docker's
    `stats` answers zeros and an OOM-killed container says Error. Mounting them is what a
    systemd host has anyway."""
    mounted = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        rest = line.partition(" - ")[2].split()
        fstype, options = (rest[0], rest[2]) if len(rest) >= 3 else ("", "")
        if fstype == "cgroup":
            mounted |= {",".join(sorted(o for o in options.split(",")
                                        if o not in ("rw", "ro", "relatime", "xattr")))}
    made = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _id, controllers, _path = line.split(":", 2)
        if not controllers or ",".join(sorted(controllers.split(","))) in mounted:
            continue
        target = Path("/run/jota-cgroup") / controllers
        target.mkdir(parents=True, exist_ok=True)
        options = f"none,{controllers}" if controllers.startswith("name=") else controllers
        run("mount", "-t", "cgroup", "-o", options, "cgroup", str(target))
        made.append(str(target))
    return made


def remove(prefix: str) -> None:
    while run("iptables", "-w", "-C", *BRIDGE_RULE, check=False).returncode == 0:
        run("iptables", "-w", "-D", *BRIDGE_RULE)
    names = run("docker", "ps", "-aq", "--filter", f"name=^{prefix}-", check=False)
    ids = names.stdout.split()
    if ids:
        run("docker", "rm", "-f", "-v", *ids, timeout=180, check=False)
    run("docker", "network", "rm", prefix, check=False)


def leftovers(prefix: str) -> list[str]:
    found = run("docker", "ps", "-aq", "--filter", f"name=^{prefix}-").stdout.split()
    found += run("docker", "network", "ls", "-q", "--filter", f"name=^{prefix}$"
                 ).stdout.split()
    if run("iptables", "-w", "-C", *BRIDGE_RULE, check=False).returncode == 0:
        found.append(" ".join(BRIDGE_RULE))
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert os.geteuid() == 0, "the provisioning test runs containers booting systemd: root"
    assert shutil.which("debootstrap"), "debootstrap is missing: run hack/install-deps.sh"
    ensure_dockerd()
    image = node_image()
    wheels = wheelhouse(tmp_path_factory.mktemp("wheels"))
    join = tmp_path_factory.mktemp("join")
    build_test_image()
    mounts = ["-v", f"{ROOT / 'deploy'}:/opt/jota/deploy:ro", "-v", f"{wheels}:/opt/wheels:ro",
              "-v", f"{join}:/join"]
    remove(PREFIX)  # what a run killed midway (a stopped session) left
    # --internal: the machines reach each other and nothing else.
    run("docker", "network", "create", "--internal", "--subnet", f"{SUBNET}.0/24",
        "-o", f"com.docker.network.bridge.name={BRIDGE}", PREFIX)
    try:
        run("iptables", "-w", "-I", *BRIDGE_RULE)
        cp = start_machine(image, PREFIX, *CONTROL_PLANE, mounts)
        workers = [start_machine(image, PREFIX, name, address, mounts)
                   for name, address, _ in WORKERS]
        made = Cluster(cp, workers)
        serving = " ".join(f"--worker {w.name}={w.address}" for w in workers)
        cp.sh(f"bash /opt/jota/deploy/provision-control-plane.sh --address {cp.address} "
              f"--join-dir /join --wheelhouse /opt/wheels --dns-upstream '' --ingress "
              f"{serving}",
              timeout=PROVISION_TIMEOUT)
        # Both workers provision side by side, as `vagrant up --parallel` would.
        procs = [subprocess.Popen(
            ["docker", "exec", w.container, "bash", "/opt/jota/deploy/provision-worker.sh",
             "--address", w.address, "--pod-cidr", cidr, "--join-dir", "/join",
             "--wheelhouse", "/opt/wheels"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for w, (_, _, cidr) in zip(workers, WORKERS, strict=True)]
        for w, proc in zip(workers, procs, strict=True):
            out, _ = proc.communicate(timeout=PROVISION_TIMEOUT)
            assert proc.returncode == 0, \
                f"provision-worker.sh on {w.name} exited {proc.returncode}:\n" \
                f"{out.decode(errors='replace')[-4000:]}\n{made.diagnose()}"
        for w in workers:  # no registry here: the pods' image comes from this engine
            save = subprocess.Popen(["docker", "save", TEST_IMAGE], stdout=subprocess.PIPE)
            run_load = subprocess.run(["docker", "exec", "-i", w.container, "docker", "load"],
                                      stdin=save.stdout, capture_output=True, timeout=300,
                                      check=False)
            save.wait(timeout=60)
            assert run_load.returncode == 0, run_load.stderr
        yield made
    finally:
        remove(PREFIX)
        mount_lost_cgroup_hierarchies()
        assert leftovers(PREFIX) == []


def test_every_unit_is_active(cluster: Cluster) -> None:
    for machine, units in [(cluster.control_plane, CONTROL_PLANE_UNITS),
                           *((w, WORKER_UNITS) for w in cluster.workers)]:
        out = machine.sh(f"systemctl is-active {' '.join(units)}", check=False)
        states = dict(zip(units, out.stdout.split(), strict=False))
        assert states == dict.fromkeys(units, "active"), \
            f"{machine.name}: {states}\n{cluster.diagnose()}"
    # Debian's own nginx.service is off: jota-ingress's nginx holds port 80.
    nginx = cluster.control_plane.sh("systemctl is-enabled nginx; systemctl is-active nginx",
                                     check=False)
    assert nginx.stdout.split() == ["disabled", "inactive"], nginx.stdout


def test_workers_join_and_are_ready(cluster: Cluster) -> None:
    def ready() -> bool:
        out = cluster.jota("get", "nodes", "-o", "json", check=False)
        if out.returncode != 0:
            return False
        nodes = {n["metadata"]["name"]: n for n in json.loads(out.stdout)["items"]}
        return all(w.name in nodes and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in nodes[w.name].get("status", {}).get("conditions", []))
            for w in cluster.workers)

    wait("both workers Ready", ready, READY_TIMEOUT, cluster)
    table = cluster.jota("get", "nodes").stdout
    for w in cluster.workers:
        assert w.name in table
    # They joined with the bootstrap token: each asked for a certificate, which the
    # controller-manager approved and signed.
    csrs = cluster.jota("get", "csr").stdout.splitlines()
    issued = [line for line in csrs[1:]
              if "system:bootstrap:" in line and "Approved,Issued" in line]
    assert len(issued) == len(cluster.workers), "\n".join(csrs)


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: web}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: web
        image: jota/busybox:latest
        imagePullPolicy: Never
        command: ["sh", "-c"]
        args: ["echo hello from $(hostname) > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
        ports: [{containerPort: 8080}]
"""


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """The Deployment's two pods, Running: {node name: pod}."""
    run("docker", "exec", "-i", cluster.control_plane.container, "jota", "apply", "-f", "-",
        input=DEPLOYMENT.encode())
    pods: list[dict[str, Any]] = []

    def running() -> bool:
        nonlocal pods
        out = cluster.jota("get", "pods", "-l", "app=web", "-o", "json", check=False)
        if out.returncode != 0:
            return False
        pods = [p for p in json.loads(out.stdout)["items"]
                if p.get("status", {}).get("phase") == "Running"
                and p["status"].get("podIP")]
        return len(pods) == 2

    wait("2 pods of Deployment web Running", running, READY_TIMEOUT, cluster)
    return {p["spec"]["nodeName"]: p for p in pods}


def test_a_deployment_runs_across_the_workers(cluster: Cluster,
                                              web: dict[str, dict[str, Any]]) -> None:
    assert set(web) == {w.name for w in cluster.workers}
    # Pod to pod across the workers: host-gw routes between the nodes' pod CIDRs.
    first, second = cluster.workers
    target = web[second.name]["status"]["podIP"]
    source = web[first.name]["metadata"]["name"]
    # busybox's `wget -T` crashes: `timeout` bounds it instead.
    out = cluster.jota("exec", str(source), "--", "timeout", "10", "wget", "-qO-",
                       f"http://{target}:8080/", check=False, timeout=60)
    assert f"hello from {web[second.name]['metadata']['name']}" in out.stdout, \
        f"{out.stdout}\n{out.stderr}"


def test_logs_come_from_both_workers(cluster: Cluster, web: dict[str, dict[str, Any]]) -> None:
    """The apiserver dials each worker with its own client certificate and checks the
    worker's serving certificate, which the control plane issued."""
    for node, pod in web.items():
        logs = cluster.jota("logs", pod["metadata"]["name"], check=False)
        assert logs.returncode == 0, f"{node}: {logs.stderr}"


def test_a_service_answers_by_name_on_both_workers(cluster: Cluster,
                                                   web: dict[str, dict[str, Any]]) -> None:
    """jota-dns on the control plane, reached through kube-dns's ClusterIP; the Service's
    ClusterIP through each worker's jota-proxy."""
    out = cluster.jota("expose", "deployment", "web", "--port", "80", "--target-port", "8080",
                       check=False)
    assert out.returncode == 0 or "AlreadyExists" in out.stderr, out.stderr
    for node, pod in web.items():
        def answered(name: str = str(pod["metadata"]["name"])) -> bool:
            got = cluster.jota("exec", name, "--", "timeout", "10", "wget", "-qO-",
                               "http://web.default.svc.cluster.local/", check=False,
                               timeout=60)
            return "hello from web-" in got.stdout

        wait(f"http://web.default.svc.cluster.local/ from a pod on {node}", answered, 60.0,
             cluster)


INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  rules:
  - host: web.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
"""


@pytest.fixture(scope="module")
def ingress(cluster: Cluster, web: dict[str, dict[str, Any]]) -> str:
    """Ingress web.example -> Service web (port 80 -> the pods' 8080); its host name."""
    out = cluster.jota("expose", "deployment", "web", "--port", "80", "--target-port", "8080",
                       check=False)
    assert out.returncode == 0 or "AlreadyExists" in out.stderr, out.stderr
    run("docker", "exec", "-i", cluster.control_plane.container, "jota", "apply", "-f", "-",
        input=INGRESS.encode())
    return "web.example"


def ingress_answers(cluster: Cluster, host: str, want: set[str]) -> list[str]:
    """Ask the control plane's port 80 for `host`, from this machine (as a user beside the
    VMs would), until every pod in `want` has answered; the answers."""
    answers: list[str] = []

    def every_pod_answered() -> bool:
        got = run("curl", "-sS", "--noproxy", "*", "--max-time", "5", "-H", f"Host: {host}",
                  f"http://{cluster.control_plane.address}/", check=False, timeout=30)
        answers.append(got.stdout.strip() or f"({got.returncode}) {got.stderr.strip()}")
        return {a.removeprefix("hello from ") for a in answers} >= want

    try:
        wait(f"http://{host}/ on {cluster.control_plane.address}:80 from pods {sorted(want)}",
             every_pod_answered, 120.0)
    except AssertionError as e:
        raise AssertionError(f"{e}\nanswers: {answers[-10:]}\n{cluster.diagnose()}") from None
    print(f"http://{host}/ via {cluster.control_plane.address}:80: {answers}")
    return answers


def test_an_ingress_answers_on_the_control_plane_from_pods_on_both_workers(
        cluster: Cluster, web: dict[str, dict[str, Any]], ingress: str) -> None:
    """jota-ingress's nginx on the control plane proxies straight to the pods, through
    the routes jota-routes keeps there to each worker's pod CIDR (the control plane is
    no node: no jota-node routes for it)."""
    def routed() -> bool:
        routes = cluster.control_plane.sh("ip route show proto 74").stdout
        return all(f"{cidr} via {w.address}" in routes
                   for w, (_, _, cidr) in zip(cluster.workers, WORKERS, strict=True))

    wait("the control plane's routes to both workers' pod CIDRs", routed, 60.0, cluster)
    pods = {str(p["metadata"]["name"]) for p in web.values()}
    ingress_answers(cluster, ingress, pods)

    def published() -> bool:
        out = cluster.jota("get", "ingress", "web", "-o", "json", check=False)
        lb = json.loads(out.stdout).get("status", {}).get("loadBalancer", {}) \
            if out.returncode == 0 else {}
        return lb.get("ingress") == [{"ip": cluster.control_plane.address}]

    wait("Ingress web's address: the control plane's", published, 60.0, cluster)


def test_provisioning_again_changes_nothing_a_user_sees(cluster: Cluster,
                                                        web: dict[str, dict[str, Any]],
                                                        ingress: str) -> None:
    """Both scripts run again (as `vagrant provision` does): the CA is kept, so the
    workers' certificates stay valid; the units restart, the pods keep running and the
    Ingress answers again."""
    ca = cluster.control_plane.sh("sha256sum /etc/jota/pki/ca.crt").stdout
    serving = " ".join(f"--worker {w.name}={w.address}" for w in cluster.workers)
    cluster.control_plane.sh(
        f"bash /opt/jota/deploy/provision-control-plane.sh --address "
        f"{cluster.control_plane.address} --join-dir /join --wheelhouse /opt/wheels "
        f"--dns-upstream '' --ingress {serving}", timeout=PROVISION_TIMEOUT)
    assert cluster.control_plane.sh("sha256sum /etc/jota/pki/ca.crt").stdout == ca
    first = cluster.workers[0]
    first.sh(f"bash /opt/jota/deploy/provision-worker.sh --address {first.address} "
             f"--pod-cidr {WORKERS[0][2]} --join-dir /join --wheelhouse /opt/wheels",
             timeout=PROVISION_TIMEOUT)
    test_every_unit_is_active(cluster)

    def still_running() -> bool:
        out = cluster.jota("get", "pods", "-l", "app=web", "-o", "json", check=False)
        if out.returncode != 0:
            return False
        pods = json.loads(out.stdout)["items"]
        return sorted(p["metadata"]["name"] for p in pods
                      if p.get("status", {}).get("phase") == "Running") == \
            sorted(p["metadata"]["name"] for p in web.values())

    wait("the same 2 pods Running after provisioning again", still_running, READY_TIMEOUT,
         cluster)
    logs = cluster.jota("logs", str(web[first.name]["metadata"]["name"]), check=False)
    assert logs.returncode == 0, logs.stderr
    ingress_answers(cluster, ingress, {str(p["metadata"]["name"]) for p in web.values()})


def test_workers_have_no_docker0(cluster: Cluster) -> None:
    """jota-node's bridge holds the pods; Docker's own would route 172.17.0.0/16 nowhere."""
    for w in cluster.workers:
        links = w.sh("ip -br link").stdout
        assert "jota-pods" in links and "docker0" not in links, f"{w.name}: {links}"
