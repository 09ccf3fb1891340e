#!/usr/bin/env bash
# Makes this machine a Jota control plane, as `kubeadm init`: etcd (Debian's etcd-server),
# the CA and certificates, jota-apiserver, -controller-manager, -scheduler and -dns as
# systemd units, the admin's kubeconfig in /root/.jota/config, and a bootstrap token in
# JOIN_DIR (with the CA and the cluster's configuration), which workers read to join.
# Runs again harmlessly: the CA and certificates are kept, the units rendered afresh.
#
# provision-control-plane.sh --address IP --join-dir DIR [--name NAME] [--ingress]
#     [--worker NAME=IP ...] [--wheelhouse DIR] [--source DIR] [--dns-upstream "IP ..."|""]
#
# --worker issues that worker's serving certificate (in JOIN_DIR/nodes/NAME), which the
# apiserver checks when it dials the node for `jota logs` and `jota exec`; a worker not
# named serves a self-signed one and joins all the same, without logs and exec.
#
# --ingress serves the cluster's Ingresses on this machine's ports 80 and 443: nginx
# (Debian's nginx-light, its own nginx.service stopped and disabled: jota-ingress runs
# nginx itself), jota-ingress, and jota-routes, which keeps a route to every node's pod
# CIDR (this machine is no node), since nginx proxies straight to the pods. Provisioning
# again without it takes both units away.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/install.sh
. "$here/install.sh"

address='' join_dir='' name=$(hostname) wheelhouse=$here/../dist source=$here/.. dns=() workers=()
ingress=()
while [ $# -gt 0 ]; do
  case $1 in
    --address) address=$2; shift 2 ;;
    --join-dir) join_dir=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --worker) workers+=(--node "$2"); shift 2 ;;
    --wheelhouse) wheelhouse=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    --dns-upstream) dns=(--dns-upstream "$2"); shift 2 ;;
    --ingress) ingress=(--ingress); shift ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$address" ] || { echo "error: --address is required" >&2; exit 2; }
[ -n "$join_dir" ] || { echo "error: --join-dir is required" >&2; exit 2; }

# Workers wait for cluster.yaml (written last): none from an earlier cluster may be
# found meanwhile.
rm -rf "$join_dir/cluster.yaml" "$join_dir/pki" "$join_dir/nodes"
need_packages etcd:etcd-server etcdctl:etcd-client
[ ${#ingress[@]} -eq 0 ] || need_packages nginx:nginx-light
install_jota "$wheelhouse" "$source"

echo ">> /etc/jota/cluster.yaml (control plane $address)"
deploy configure --control-plane-address "$address" --node-name "$name" \
  --node-address "$address" "${dns[@]}" "${ingress[@]}" --out /etc/jota/cluster.yaml
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
if [ ${#ingress[@]} -gt 0 ]; then
  # The package's nginx.service would hold port 80, where jota-ingress's nginx listens.
  if systemctl cat nginx.service >/dev/null 2>&1; then
    systemctl disable -q --now nginx.service
  fi
  units+=(jota-routes jota-ingress)
else
  # Ingress turned off since an earlier provisioning: its units go, and the routes.
  for unit in jota-ingress jota-routes; do
    [ -f "/etc/systemd/system/$unit.service" ] || continue
    systemctl disable -q --now "$unit"
    rm -f "/etc/systemd/system/$unit.service"
    [ "$unit" != jota-routes ] || ip route flush proto 74
  done
  systemctl daemon-reload
fi
systemctl enable -q "${units[@]}"
systemctl restart "${units[@]}"

echo ">> waiting for the apiserver at $address:6443"
wait_for "jota-apiserver" 120 jota get namespaces

echo ">> a bootstrap token and the join files in $join_dir"
token=$(jota token create --description "provision-control-plane.sh for the workers")
[ ${#workers[@]} -eq 0 ] || deploy serving-certs "${workers[@]}" --out "$join_dir"
deploy join-files --config /etc/jota/cluster.yaml --token "$token" --out "$join_dir"
echo ">> control plane ready: workers join with provision-worker.sh --join-dir $join_dir"
