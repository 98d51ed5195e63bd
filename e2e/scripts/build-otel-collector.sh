#!/usr/bin/env bash
# Build meshcp's test OpenTelemetry collector (e2e/otel-collector: the collector's
# OTLP receiver, go.opentelemetry.io/collector/receiver/otlpreceiver, writing spans
# as OTLP JSON lines) once into the cache; print the binary's path.
# Idempotent: a binary built from the same main.go and go.sum is reused.
#
# Usage: build-otel-collector.sh     → prints the path of the collector binary
# Env:   MESHCP_CACHE (default ~/.cache/meshcp)
# Needs: go (modules come through the Go proxy; ~3 min cold on 2 cores)
set -euo pipefail
die() { echo "build-otel-collector: error: $*" >&2; exit 1; }
src="$(cd "$(dirname "$0")/../otel-collector" && pwd)"
cache="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
key=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)
dir="$cache/otelcol/$key"
bin="$dir/meshcp-otelcol"
if [[ ! -x "$bin" ]]; then
  command -v go >/dev/null || die "go not found (install a Go toolchain)"
  mkdir -p "$dir"
  echo "build-otel-collector: building $src ($(grep -o 'otlpreceiver v[0-9.]*' "$src/go.mod"))" >&2
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" .) >&2 || die "go build failed"
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
