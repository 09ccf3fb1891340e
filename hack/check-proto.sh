#!/usr/bin/env bash
# Regenerates the gRPC code into a scratch folder and compares it with what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
.venv/bin/python -m grpc_tools.protoc -Ijota/api/gen=proto/jota/v1 --python_out="$tmp" \
  --grpc_python_out="$tmp" --pyi_out="$tmp" proto/jota/v1/resources.proto \
  proto/jota/v1/streams.proto
for f in resources_pb2.py resources_pb2.pyi resources_pb2_grpc.py \
         streams_pb2.py streams_pb2.pyi streams_pb2_grpc.py; do
  if ! cmp -s "$tmp/jota/api/gen/$f" "jota/api/gen/$f"; then
    echo "jota/api/gen/$f is stale: run 'make proto' and commit the result" >&2
    exit 1
  fi
done
echo ">> generated gRPC code is fresh"
