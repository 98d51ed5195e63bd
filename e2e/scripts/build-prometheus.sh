#!/usr/bin/env bash
# Build a real Prometheus server (github.com/prometheus/prometheus/cmd/prometheus, Apache-2.0,
# from the Go module proxy) once into the cache; print the binary's path. The dashboard test
# (e2e/test/dashboard-prometheus.test.ts) lets it scrape meshcp and runs every panel's query
# through its HTTP API. Built with `remove_all_sd` (only static/file/http discovery: the cloud
# service-discovery SDKs are most of the build and the test scrapes one static target) and
# without the web UI's assets (the test uses the API only). Idempotent: reused per version.
#
# Usage: build-prometheus.sh     → prints the path of the prometheus binary
# Env:   MESHCP_CACHE (default ~/.cache/meshcp), MESHCP_PROMETHEUS_VERSION (Go module version)
# Needs: go (cold: 6 CPU-minutes, 21 min 42 s wall on this shared 2-core host at load 12-16;
#        a 75 MB binary; nothing built is committed)
set -euo pipefail
die() { echo "build-prometheus: error: $*" >&2; exit 1; }
version="${MESHCP_PROMETHEUS_VERSION:-v0.316.0}"   # Prometheus 3.x is tagged v0.3xx.y for Go modules
cache="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
dir="$cache/prometheus/$version"
bin="$dir/prometheus"
if [[ ! -x "$bin" ]]; then
  command -v go >/dev/null || die "go not found (install a Go toolchain)"
  mkdir -p "$dir"
  echo "build-prometheus: building github.com/prometheus/prometheus/cmd/prometheus@$version" >&2
  (cd "$dir" && CGO_ENABLED=0 GOBIN="$dir/bin.tmp" go install -trimpath -tags remove_all_sd \
    "github.com/prometheus/prometheus/cmd/prometheus@$version") >&2 || die "go install failed"
  mv "$dir/bin.tmp/prometheus" "$bin"
  rmdir "$dir/bin.tmp"
fi
echo "$bin"
