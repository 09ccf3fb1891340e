#!/usr/bin/env bash
# `make demo`: a local Jota cluster of two nodes running the example web app.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

if jota local status >/dev/null 2>&1; then
  echo ">> a local cluster is already running; replacing it"
  jota local down
fi
echo ">> starting a local cluster of 2 nodes"
jota local up --nodes 2
echo
echo ">> applying examples/"
jota apply -f examples/
echo
echo ">> waiting for the web Deployment"
jota rollout status deploy/web --timeout=180s
echo
jota get pods -o wide
echo
echo ">> asking each web pod for its page (pod IPs are routed from this machine)"
for ip in $(jota get pods -l app=web -o jsonpath='{.items[*].status.podIP}'); do
  printf '   http://%s:8080/  ->  ' "$ip"
  timeout 10 wget -qO- "http://$ip:8080/" | tr -d '\n' | cut -c1-60
done
echo
jota get all
cat <<MSG

The cluster keeps running. Try:
  . .venv/bin/activate
  jota get nodes -o wide
  jota describe deploy web
  jota set image deploy/web httpd=jota/busybox:latest && jota rollout status deploy/web
  jota logs deploy/web
  jota local down        # removes every namespace, engine, route and rule it made
MSG
