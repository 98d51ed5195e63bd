#!/usr/bin/env bash
# The steps of .github/workflows/compat-matrix.yml, one subcommand per step, so
# that what GitHub runs is what compat-matrix/test/workflow.test.ts runs here.
# Reads the GitHub Actions files when set (GITHUB_ENV, GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY); outside Actions it prints instead.
#
# Usage: ci.sh build | runtime | discover | run | summary
# Env:   RUNTIME     docker (default) | podman
#        REPORT_DIR  where the report goes (default compat-report)
#        ENVOY       discover: explicit X.Y.Z,… (skips discovery); run: the versions to run
#        SINCE       discover: releases newer than this (default: newest of the "releases" in xds-protos/envoy-api.json)
#        IMAGE, SCENARIOS   run: passed to `meshcp compat run --image/--scenarios`
#        DISCOVERED  summary: the releases discovery found (marked "new")
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=compat-matrix/scripts
RUNTIME="${RUNTIME:-docker}"
REPORT_DIR="${REPORT_DIR:-compat-report}"
export MESHCP_CACHE="${MESHCP_CACHE:-$HOME/.cache/meshcp}"
die() { echo "ci.sh: error: $*" >&2; exit 1; }
# key=value to a GitHub file (or to stderr outside Actions).
put() { local file="$1"; shift; if [ -n "$file" ]; then printf '%s\n' "$@" >> "$file"; else printf 'ci.sh: %s\n' "$@" >&2; fi; }

build() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  node xds-protos/scripts/build-descriptors.mjs
  npx tsc -b
}

runtime() {
  case "$RUNTIME" in
    docker)
      if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
        echo "ci.sh: docker daemon $(docker version --format '{{.Server.Version}}') at ${DOCKER_HOST:-the default socket}" >&2
      else
        # No daemon (or no docker): Debian's docker.io on a private socket, as on the machines this is built on.
        eval "$(bash "$HERE/dockerd.sh" start)"
        put "${GITHUB_ENV:-}" "DOCKER_HOST=$DOCKER_HOST"
      fi ;;
    podman)
      eval "$(bash "$HERE/install-podman.sh")"
      put "${GITHUB_ENV:-}" "CONTAINERS_CONF=$CONTAINERS_CONF" ;;
    *) die "RUNTIME must be docker or podman, got '$RUNTIME'" ;;
  esac
}

discover() {
  mkdir -p "$REPORT_DIR"
  if [ -n "${ENVOY:-}" ]; then
    put "${GITHUB_OUTPUT:-}" "envoy=$ENVOY" "discovered="
    return
  fi
  local since="${SINCE:-$(node -p "require('./xds-protos/envoy-api.json').releases.at(-1)")}"
  local hub=()
  [ "$RUNTIME" = docker ] && hub=(--docker-hub)
  local file="$REPORT_DIR/discovery.json"
  node "$HERE/discover-releases.mjs" --since "$since" "${hub[@]}" > "$file"
  local found
  found="$(node -e 'const d = require(require("path").resolve(process.argv[1]));
    for (const w of d.warnings) console.error("ci.sh: discovery warning: " + w);
    console.log(d.releases.map((r) => r.version).join(","))' "$file")"
  echo "ci.sh: releases newer than $since: ${found:-none}" >&2
  # The last verified release runs too: a failure on both is not the new release's.
  put "${GITHUB_OUTPUT:-}" "envoy=$since${found:+,$found}" "discovered=$found"
}

run() {
  local args=(compat run --runtime "$RUNTIME" --out "$REPORT_DIR")
  [ -n "${ENVOY:-}" ] && args+=(--envoy "$ENVOY")
  [ -n "${IMAGE:-}" ] && args+=(--image "$IMAGE")
  [ -n "${SCENARIOS:-}" ] && args+=(--scenarios "$SCENARIOS")
  node control-plane/bin/meshcp.js "${args[@]}"
}

summary() {
  local out="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
  node "$HERE/ci-summary.mjs" "$REPORT_DIR" "${DISCOVERED:-}" >> "$out"
}

case "${1:-}" in
  build|runtime|discover|run|summary) "$1" ;;
  *) die "usage: $0 build|runtime|discover|run|summary" ;;
esac
