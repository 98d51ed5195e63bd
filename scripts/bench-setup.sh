#!/usr/bin/env bash
# Builds what the benchmarks need; idempotent. Go binaries (the load generator and
# the go-control-plane peer) are cached under ~/.cache/meshcp/bench and rebuilt only
# when bench/go.mod, go.sum or a .go file changes. Go modules come from the module
# proxy (go-control-plane v0.14, the envoy API module v1.40.0, grpc-go).
# Usage: scripts/bench-setup.sh [--go-only]
set -euo pipefail
cd "$(dirname "$0")/.."
export MESHCP_CACHE="${MESHCP_CACHE:-$HOME/.cache/meshcp}"
out="$MESHCP_CACHE/bench"
mkdir -p "$out"
step() { printf '== %s\n' "$*" >&2; }

command -v go >/dev/null || { echo "bench-setup: Go is required (https://go.dev/dl/)" >&2; exit 1; }
stamp=$( (cat bench/go.mod bench/go.sum; find bench/loadgen bench/gcp-server -name '*.go' | sort | xargs cat; go version) | sha256sum | cut -c1-16)
if [ -x "$out/loadgen" ] && [ -x "$out/gcp-server" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  step "Go benchmark binaries up to date ($out)"
else
  step "building loadgen and gcp-server into $out"
  (cd bench && GOFLAGS=-mod=mod go build -trimpath -o "$out/" ./loadgen ./gcp-server)
  echo "$stamp" > "$out/.stamp"
fi

[ "${1:-}" = "--go-only" ] && exit 0
if [ ! -f xds-protos/generated/descriptors.pb ] && [ ! -e xds-protos/generated ]; then
  step "Envoy API descriptors"
  node xds-protos/scripts/build-descriptors.mjs "$(node -p "require('./xds-protos/envoy-api.json').runtimeMinor")"
fi
step "TypeScript build"
npx tsc -b
# Each simulated Envoy holds a connection: 10,000 streams need more descriptors than the usual 1024.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
  echo "bench-setup: note: ulimit -n is $(ulimit -n); the 10,000-stream run needs ≥ 12000 (ulimit -n 20000)" >&2
fi
