#!/usr/bin/env bash
# `make demo`: start a local Jota cluster and deploy the example app into it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

if jota local status >/dev/null 2>&1; then
  echo ">> a local cluster is already running; restarting it"
  jota local down
fi
echo ">> starting a local cluster"
jota local up
echo
echo ">> applying examples/"
jota apply -f examples/
echo
echo ">> jota get all"
jota get all
echo
echo ">> jota get configmaps,secrets"
jota get configmaps,secrets
cat <<MSG

The control plane is running with the example app stored in it. Node agents, which run
the pods in Docker, arrive with issue B: until then the pods stay Pending.
Stop the cluster with: .venv/bin/jota local down
MSG
