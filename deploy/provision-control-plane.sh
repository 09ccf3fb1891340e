#!/usr/bin/env bash
# Makes this machine a Jota control plane, as `kubeadm init`: etcd (Debian's etcd-server),
# the CA and certificates, jota-apiserver, -controller-manager, -scheduler and -dns as
# systemd units, the admin's kubeconfig in /root/.jota/config, and a bootstrap token in
# JOIN_DIR (with the CA and the cluster's configuration), which workers read to join.
# Runs again harmlessly: the CA and certificates are kept, the units rendered afresh.
#
# provision-control-plane.sh --address IP --join-dir DIR [--name NAME]
#     [--worker NAME=IP ...] [--wheelhouse DIR] [--source DIR] [--dns-upstream "IP ..."|""]
#
# --worker issues that worker's serving certificate (in JOIN_DIR/nodes/NAME), which the
# apiserver checks when it dials the node for `jota logs` and `jota exec`; a worker not
# named serves a self-signed one and joins all the same, without logs and exec.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/install.sh
. "$here/install.sh"

address='' join_dir='' name=$(hostname) wheelhouse=$here/../dist source=$here/.. dns=() workers=()
while [ $# -gt 0 ]; do
  case $1 in
    --address) address=$2; shift 2 ;;
    --join-dir) join_dir=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --worker) workers+=(--node "$2"); shift 2 ;;
    --wheelhouse) wheelhouse=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    --dns-upstream) dns=(--dns-upstream "$2"); shift 2 ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$address" ] || { echo "error: --address is required" >&2; exit 2; }
[ -n "$join_dir" ] || { echo "error: --join-dir is required" >&2; exit 2; }

# Workers wait for cluster.yaml (written last): none from an earlier cluster may be
# found meanwhile.
rm -rf "$join_dir/cluster.yaml" "$join_dir/pki" "$join_dir/nodes"
need_packages etcd:etcd-server etcdctl:etcd-client
install_jota "$wheelhouse" "$source"

echo ">> /etc/jota/cluster.yaml (control plane $address)"
deploy configure --control-plane-address "$address" --node-name "$name" \
  --node-address "$address" "${dns[@]}" --out /etc/jota/cluster.yaml
deploy pki --config /etc/jota/cluster.yaml
install -d -m 0700 /root/.jota
install -m 0600 /etc/jota/pki/admin.conf /root/.jota/config
# Whatever HOME this runs with (sudo, cloud-init, vagrant), the CLI below is the admin.
export JOTA_CONFIG=/etc/jota/pki/admin.conf

echo ">> systemd units"
deploy render --role control-plane --config /etc/jota/cluster.yaml --root /
systemctl daemon-reload
systemctl enable -q etcd
systemctl restart etcd
units=(jota-apiserver jota-controller-manager jota-scheduler jota-dns)
[ -f /etc/systemd/system/jota-ingress.service ] && units+=(jota-ingress)
systemctl enable -q "${units[@]}"
systemctl restart "${units[@]}"

echo ">> waiting for the apiserver at $address:6443"
wait_for "jota-apiserver" 120 jota get namespaces

echo ">> a bootstrap token and the join files in $join_dir"
token=$(jota token create --description "provision-control-plane.sh for the workers")
[ ${#workers[@]} -eq 0 ] || deploy serving-certs "${workers[@]}" --out "$join_dir"
deploy join-files --config /etc/jota/cluster.yaml --token "$token" --out "$join_dir"
echo ">> control plane ready: workers join with provision-worker.sh --join-dir $join_dir"
