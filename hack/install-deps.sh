#!/usr/bin/env bash
# Installs what Jota's tests and demo need on a fresh Debian/Ubuntu machine, as root:
# system packages (etcd, busybox for test images, iptables, iproute2), then a virtualenv
# in .venv with Jota and its test extras. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
command -v iptables >/dev/null || need+=(iptables)
command -v ip >/dev/null || need+=(iproute2)
command -v dockerd >/dev/null || need+=(docker.io)
# Image-pull tests run a password-protected registry on loopback.
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
# Metrics tests scrape the node agent and the control plane with a real Prometheus;
# promtool (same package) checks deploy/prometheus and the Grafana dashboard's queries.
{ command -v prometheus && command -v promtool; } >/dev/null || need+=(prometheus)
# The node agent compiles its tiny pause binary statically.
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || need+=(libc6-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# bench/network measures HTTP requests/s with wrk; `make demo` curls the Ingress.
command -v curl >/dev/null || need+=(curl)
command -v wrk >/dev/null || need+=(wrk)
# tests/provisioning boots Debian machines from a debootstrapped rootfs and runs deploy/'s
# scripts in them; tests/integration validates the Vagrantfile (vagrant) and the scripts
# (shellcheck).
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v vagrant >/dev/null || need+=(vagrant)
command -v shellcheck >/dev/null || need+=(shellcheck)
if [ ${#need[@]} -gt 0 ]; then
  echo ">> installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# jota-ingress runs nginx itself (own config, pid and temp files): the package's own
# service must not start and hold port 80, so policy-rc.d forbids starting it during the
# install, and it is disabled and stopped in case it runs anyway.
if ! command -v nginx >/dev/null; then
  echo ">> installing nginx-light (not as a service)"
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq nginx-light >/dev/null
  [ -n "$made_policy" ] && rm -f "$policy"
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
  rm -f /etc/nginx/sites-enabled/default
fi

if [ ! -x .venv/bin/python ]; then
  echo ">> creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo ">> installing jota and its test extras into .venv"
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/pip install -q -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import jota, aetcd, grpc, fastjsonschema, kubernetes_validate'
  touch "$stamp"
fi
echo ">> dependencies ready"
