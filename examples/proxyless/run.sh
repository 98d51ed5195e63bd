#!/usr/bin/env bash
# Proxyless gRPC across languages through meshcp, no sidecar anywhere:
#   Go → Python, Python → Node, Node → Java, Java → Go.
# Each program comes from its own registry (Go module proxy, PyPI, npm, Maven
# Central) via compat-matrix/clients/install.sh, built once and cached.
# Usage: bash examples/proxyless/run.sh   (from the repository root, after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
install=compat-matrix/clients/install.sh
declare -A run=(
  [go]=$(bash $install grpc-go 1.85.0)
  [python]=$(bash $install grpcio 1.85.1)
  [node]=$(bash $install grpc-js-xds 1.14.1)
  [java]=$(bash $install grpc-java 1.85.1)
)
declare -A port=([go]=50061 [python]=50062 [java]=50063 [node]=50064)
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

node control-plane/bin/meshcp.js serve --file examples/proxyless/mesh.yaml --xds-address 127.0.0.1:18000 --admin-address 127.0.0.1:9902 2>"$work/meshcp.log" &
pids+=($!)
for lang in go python java node; do
  "${run[$lang]}" server --port "${port[$lang]}" --name "$lang-server" >"$work/$lang-server.out" 2>&1 &
  pids+=($!)
done
until curl -sf http://127.0.0.1:9902/readyz >/dev/null; do sleep 0.2; done

call() { # call CLIENT_LANG SERVER_LANG: 5 RPCs from a CLIENT_LANG client to the SERVER_LANG server
  node control-plane/bin/meshcp.js bootstrap --grpc --node-id "$1-client" --service web --namespace shop \
    --region eu --zone eu-1a --xds-address 127.0.0.1:18000 >"$work/$1.json"
  printf 'call 5 10000\n' | GRPC_XDS_BOOTSTRAP="$work/$1.json" "${run[$1]}" client "xds:///$2-echo.shop:50051" 2>/dev/null |
    grep -v '"ready"' | sed "s/^/$1 → $2: /"
}
call go python
call python node
call node java
call java go
node control-plane/bin/meshcp.js status --admin-address 127.0.0.1:9902
