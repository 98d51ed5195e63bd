#!/usr/bin/env bash
# Build a real kube-apiserver and etcd for meshcp's integration tests, from Go
# modules only (the Go module proxy), into
#   ${MESHCP_K8S_CACHE:-~/.cache/meshcp/k8s}/<k8s version>/{kube-apiserver,etcd}
# and print those two paths, one a line. Does nothing but print them when both
# are already there.
#
# kube-apiserver: k8s/apiserver/main.go, built against k8s.io/kubernetes
#   $MESHCP_K8S_VERSION (default below) with every staging module k8s.io/X
#   replaced by its published v0.N.P (read from k8s.io/kubernetes's go.mod).
# etcd: k8s/apiserver/etcd/main.go, built against go.etcd.io/etcd/server/v3 at
#   the version that k8s.io/kubernetes's go.mod requires.
#
# A cold build (empty Go caches) takes about 6 minutes on 2 cores, downloads
# ~750 MB of modules into GOMODCACHE and writes ~2 GB into GOCACHE; those
# caches (go env GOMODCACHE GOCACHE) make later builds faster.
# Build logs: <version dir>/build-{apiserver,etcd}.log.
set -euo pipefail

K8S_VERSION=${MESHCP_K8S_VERSION:-v1.34.4}
CACHE=${MESHCP_K8S_CACHE:-${MESHCP_CACHE:-$HOME/.cache/meshcp}/k8s}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../apiserver" && pwd)

die() { echo "build-apiserver.sh: $*" >&2; exit 1; }

[[ $K8S_VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] ||
  die "MESHCP_K8S_VERSION must look like v1.34.4, got '$K8S_VERSION'"
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

OUT=$CACHE/$K8S_VERSION
if [[ -x $OUT/kube-apiserver && -x $OUT/etcd ]]; then
  echo "$OUT/kube-apiserver"
  echo "$OUT/etcd"
  exit 0
fi

command -v go >/dev/null || die "'go' not found on PATH (Go >= 1.24 is needed)"
command -v python3 >/dev/null || die "'python3' not found on PATH"
mkdir -p "$OUT"

# One build at a time per version (parallel test runs may all ask for it).
exec 9>"$OUT/.lock"
flock 9 || die "could not lock $OUT/.lock"
if [[ -x $OUT/kube-apiserver && -x $OUT/etcd ]]; then
  echo "$OUT/kube-apiserver"
  echo "$OUT/etcd"
  exit 0
fi
echo "build-apiserver.sh: building kube-apiserver $K8S_VERSION and etcd into $OUT (about 6 min on 2 cores when cold)" >&2

# Run a step quietly; on failure show the end of its log and stop.
run_logged() { # LOG CMD...
  local log=$1; shift
  if ! "$@" >>"$log" 2>&1; then
    echo "build-apiserver.sh: failed: $*" >&2
    echo "--- last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

# Render a go.mod template: drop its leading "// " comment lines, then
# substitute each @NAME@ placeholder by the VALUE of a NAME=VALUE argument.
render() { # TEMPLATE OUTPUT NAME=VALUE...
  local tmpl=$1 out=$2; shift 2
  python3 - "$tmpl" "$out" "$@" <<'PY'
import sys
tmpl, out, *pairs = sys.argv[1:]
lines = open(tmpl).read().splitlines(keepends=True)
while lines and lines[0].startswith("//"):
    lines.pop(0)
text = "".join(lines)
for p in pairs:
    k, v = p.split("=", 1)
    text = text.replace("@" + k + "@", v)
if "@" in text:
    sys.exit("unsubstituted placeholder left in " + out)
open(out, "w").write(text)
PY
}

export CGO_ENABLED=0 GOWORK=off GOFLAGS="${GOFLAGS:-} -buildvcs=false"
BUILD=$OUT/src
rm -rf "$BUILD"
mkdir -p "$BUILD/apiserver" "$BUILD/etcd"

# k8s.io/kubernetes's own go.mod: the staging modules it replaces and the etcd
# server version it requires.
KLOG=$OUT/build-apiserver.log
: >"$KLOG"
run_logged "$KLOG" go mod download -json "k8s.io/kubernetes@$K8S_VERSION"
KMOD=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
REPLACES=$(awk -v v="$STAGING_VERSION" '
  $2 == "=>" && $3 ~ /^\.\/staging\/src\/k8s\.io\// { printf "\t%s => %s %s\n", $1, $1, v }
' "$KMOD")
[[ -n $REPLACES ]] || die "no staging replace directives found in $KMOD"
ETCD_VERSION=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$KMOD")
[[ -n $ETCD_VERSION ]] || die "k8s.io/kubernetes $K8S_VERSION does not require go.etcd.io/etcd/server/v3"

# Version stamps as upstream's hack/lib/version.sh sets them (kubectl and
# clients read them from /version).
MINOR=${K8S_VERSION#v1.}; MINOR=${MINOR%%.*}
BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
done

# kube-apiserver
sed '/^\/\/go:build ignore$/d' "$SRC/main.go" >"$BUILD/apiserver/main.go"
render "$SRC/go.mod.tmpl" "$BUILD/apiserver/go.mod" \
  "K8S_VERSION=$K8S_VERSION" "STAGING_REPLACES=$REPLACES"
(
  cd "$BUILD/apiserver"
  run_logged "$KLOG" go mod tidy
  run_logged "$KLOG" go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/kube-apiserver.tmp" .
)
mv -f "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"

# etcd
ELOG=$OUT/build-etcd.log
: >"$ELOG"
sed '/^\/\/go:build ignore$/d' "$SRC/etcd/main.go" >"$BUILD/etcd/main.go"
render "$SRC/etcd/go.mod.tmpl" "$BUILD/etcd/go.mod" "ETCD_VERSION=$ETCD_VERSION"
(
  cd "$BUILD/etcd"
  run_logged "$ELOG" go mod tidy
  run_logged "$ELOG" go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" .
)
mv -f "$OUT/etcd.tmp" "$OUT/etcd"
echo "$ETCD_VERSION" >"$OUT/etcd.version"

echo "$OUT/kube-apiserver"
echo "$OUT/etcd"
