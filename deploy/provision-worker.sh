#!/usr/bin/env bash
# Makes this machine a Jota worker, as `kubeadm join`: Docker (Debian's docker.io, without
# docker0), then jota-node and jota-proxy as systemd units. The node joins with the
# bootstrap token in JOIN_DIR (written by provision-control-plane.sh): jota-node asks for
# a certificate, the controller-manager signs it, and the node registers itself.
#
# provision-worker.sh --address IP --pod-cidr CIDR --join-dir DIR [--name NAME]
#     [--wheelhouse DIR] [--source DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/install.sh
. "$here/install.sh"

address='' pod_cidr='' join_dir='' name=$(hostname) wheelhouse=$here/../dist source=$here/..
while [ $# -gt 0 ]; do
  case $1 in
    --address) address=$2; shift 2 ;;
    --pod-cidr) pod_cidr=$2; shift 2 ;;
    --join-dir) join_dir=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --wheelhouse) wheelhouse=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done
for flag in address pod_cidr join_dir; do
  [ -n "${!flag}" ] || { echo "error: --${flag//_/-} is required" >&2; exit 2; }
done

# The agent compiles its pause binary statically (gcc, libc6-dev); jota-proxy and the pod
# network program iptables; nsenter (util-linux) runs probes in pods' namespaces.
need_packages dockerd:docker.io iptables:iptables ip:iproute2 gcc:gcc
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] \
  || apt_install libc6-dev
install_jota "$wheelhouse" "$source"

echo ">> waiting for the join files in $join_dir"
wait_for "the control plane's join files" 600 test -f "$join_dir/cluster.yaml"
install -d -m 0700 /etc/jota/pki
install -m 0600 "$join_dir"/pki/* /etc/jota/pki/
serving=()
if [ -d "$join_dir/nodes/$name" ]; then  # the control plane issued our serving certificate
  install -m 0600 "$join_dir/nodes/$name"/* /etc/jota/pki/
  serving=(--serving-cert)
fi
deploy configure --from "$join_dir/cluster.yaml" --node-name "$name" \
  --node-address "$address" --pod-cidr "$pod_cidr" "${serving[@]}" --out /etc/jota/cluster.yaml

echo ">> systemd units"
old=$(cat /etc/docker/daemon.json 2>/dev/null || true)
deploy render --role worker --config /etc/jota/cluster.yaml --root /
systemctl daemon-reload
systemctl enable -q docker
if [ "$old" != "$(cat /etc/docker/daemon.json)" ] || ! systemctl -q is-active docker; then
  systemctl restart docker  # daemon.json changed: no docker0 from now on
fi
wait_for "dockerd" 60 docker info
# The docker0 its first start made stays behind a restart with "bridge": "none".
if ip link show docker0 >/dev/null 2>&1; then ip link delete docker0; fi
systemctl enable -q jota-node jota-proxy
systemctl restart jota-node jota-proxy

echo ">> waiting for $name to join (its certificate signed, /etc/jota/pki/kubelet.conf)"
wait_for "the join of $name" 180 test -s /etc/jota/pki/kubelet.conf
echo ">> $name joined the cluster at $(grep -m1 'server:' /etc/jota/pki/kubelet.conf)"
