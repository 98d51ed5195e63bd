#!/usr/bin/env bash
# Build actionlint (the GitHub Actions workflow linter, Go module
# github.com/rhysd/actionlint) once into the cache; print the binary's path.
# Idempotent: a built binary of the pinned version is reused.
#
# Usage: install-actionlint.sh          → prints the path of the actionlint binary
# Env:   MESHCP_CACHE (default ~/.cache/meshcp), ACTIONLINT_VERSION (default below)
# Needs: go (any recent toolchain; the module is fetched through the Go proxy)
set -euo pipefail

die() { echo "install-actionlint: error: $*" >&2; exit 1; }

VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
CACHE_ROOT="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
DIR="$CACHE_ROOT/actionlint/$VERSION"
BIN="$DIR/actionlint"

if [[ ! -x "$BIN" ]] || ! "$BIN" -version 2>/dev/null | grep -qx "${VERSION}"; then
  command -v go >/dev/null || die "go not found (install a Go toolchain, e.g. https://go.dev/dl/ or apt golang)"
  mkdir -p "$DIR"
  echo "install-actionlint: building github.com/rhysd/actionlint/cmd/actionlint@$VERSION" >&2
  # GOFLAGS=-mod=mod: ignore any go.work/go.mod around the caller.
  GOBIN="$DIR" GOFLAGS=-mod=mod GO111MODULE=on go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION" >&2 \
    || die "go install github.com/rhysd/actionlint/cmd/actionlint@$VERSION failed"
fi
"$BIN" -version >/dev/null 2>&1 || die "$BIN does not run"
echo "$BIN"
