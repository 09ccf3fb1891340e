#!/usr/bin/env bash
# `make demo`: a local Jota cluster of three nodes running the example web app,
# reached from this machine through the Ingress.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

if jota local status >/dev/null 2>&1; then
  echo ">> a local cluster is already running; replacing it"
  jota local down
fi
echo ">> starting a local cluster of 3 nodes"
jota local up --nodes 3
echo
echo ">> applying examples/"
jota apply -f examples/
echo
echo ">> waiting for the web Deployment"
jota rollout status deploy/web --timeout=180s
echo
jota get pods -o wide
echo
echo ">> waiting for the Ingress web to get its address"
addr=
for _ in $(seq 60); do
  addr=$(jota get ingress web -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null || true)
  [ -n "$addr" ] && break
  sleep 1
done
[ -n "$addr" ] || { echo "the Ingress got no address: is jota-ingress running? (jota local status)"; exit 1; }
jota get ingress web
echo
echo ">> curl --resolve web.example.test:80:$addr http://web.example.test/"
for i in $(seq 30); do
  if curl -fsS --max-time 5 --resolve "web.example.test:80:$addr" http://web.example.test/; then
    break
  fi
  [ "$i" = 30 ] && { echo "no answer through the Ingress"; exit 1; }
  sleep 1
done
echo
echo ">> asking each web pod for its page (pod IPs are routed from this machine)"
for ip in $(jota get pods -l app=web -o jsonpath='{.items[*].status.podIP}'); do
  printf '   http://%s:8080/  ->  ' "$ip"
  curl -fsS --max-time 10 "http://$ip:8080/" | tr -d '\n' | cut -c1-60
done
echo
jota get all
cat <<MSG

The cluster keeps running. Try:
  . .venv/bin/activate
  jota get nodes -o wide
  jota describe deploy web
  curl --resolve web.example.test:80:$addr http://web.example.test/
  jota set image deploy/web httpd=jota/busybox:latest && jota rollout status deploy/web
  jota logs deploy/web
  jota local down        # removes every namespace, engine, route and rule it made
MSG
