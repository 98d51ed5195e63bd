#!/usr/bin/env bash
# Build meshcp's dashboard schema check (e2e/grafana-schema: Grafana's dashboard schema
# as the Grafana Foundation SDK's generated Go types read it, strict) once into the
# cache; print the binary's path. Idempotent: reused while main.go, go.mod, go.sum match.
#
# Usage: build-grafana-schema.sh     → prints the path of the checker
# Env:   MESHCP_CACHE (default ~/.cache/meshcp)
# Needs: go (the module comes through the Go proxy; ~1.5 min cold on 2 cores)
set -euo pipefail
die() { echo "build-grafana-schema: error: $*" >&2; exit 1; }
src="$(cd "$(dirname "$0")/../grafana-schema" && pwd)"
cache="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
key=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)
dir="$cache/grafana-schema/$key"
bin="$dir/meshcp-grafana-schema"
if [[ ! -x "$bin" ]]; then
  command -v go >/dev/null || die "go not found (install a Go toolchain)"
  mkdir -p "$dir"
  echo "build-grafana-schema: building $src ($(grep -o 'grafana-foundation-sdk/go v[0-9.]*' "$src/go.mod"))" >&2
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" .) >&2 || die "go build failed"
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
