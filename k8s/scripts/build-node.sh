#!/usr/bin/env bash
# Build the node and controller binaries of meshcp's local cluster
# (k8s/scripts/cluster.sh) from Go modules only:
#   kubelet kube-controller-manager kube-scheduler kube-proxy
# into ${MESHCP_K8S_CACHE:-~/.cache/meshcp/k8s}/<k8s version>/, next to the
# kube-apiserver and etcd that build-apiserver.sh makes, and print the four
# paths, one a line. Does nothing but print them when all are already there.
#
# The upstream mains (k8s.io/kubernetes/cmd/<name>) are built straight from the
# module, with every staging module k8s.io/X replaced by its published v0.N.P
# (the same replace lines as build-apiserver.sh, read from k8s.io/kubernetes's
# go.mod). About 1m40s on 2 cores when the apiserver's build cache is warm,
# ~4m40s cold. Build log: <version dir>/build-node.log.
set -euo pipefail

K8S_VERSION=${MESHCP_K8S_VERSION:-v1.34.4}
CACHE=${MESHCP_K8S_CACHE:-${MESHCP_CACHE:-$HOME/.cache/meshcp}/k8s}
BINARIES=(kubelet kube-controller-manager kube-scheduler kube-proxy)

die() { echo "build-node.sh: $*" >&2; exit 1; }

[[ $K8S_VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] ||
  die "MESHCP_K8S_VERSION must look like v1.34.4, got '$K8S_VERSION'"
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
OUT=$CACHE/$K8S_VERSION

all_built() { local b; for b in "${BINARIES[@]}"; do [[ -x $OUT/$b ]] || return 1; done; }
print_paths() { local b; for b in "${BINARIES[@]}"; do echo "$OUT/$b"; done; }
if all_built; then print_paths; exit 0; fi

command -v go >/dev/null || die "'go' not found on PATH (Go >= 1.24 is needed)"
mkdir -p "$OUT"
exec 9>"$OUT/.node.lock"
flock 9 || die "could not lock $OUT/.node.lock"
if all_built; then print_paths; exit 0; fi
echo "build-node.sh: building ${BINARIES[*]} $K8S_VERSION into $OUT (~2-5 min on 2 cores)" >&2

LOG=$OUT/build-node.log
: >"$LOG"
run_logged() {
  if ! "$@" >>"$LOG" 2>&1; then
    echo "build-node.sh: failed: $*" >&2
    echo "--- last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}

export CGO_ENABLED=0 GOWORK=off GOFLAGS="${GOFLAGS:-} -buildvcs=false"
run_logged go mod download -json "k8s.io/kubernetes@$K8S_VERSION"
KMOD=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
REPLACES=$(awk -v v="$STAGING_VERSION" '
  $2 == "=>" && $3 ~ /^\.\/staging\/src\/k8s\.io\// { printf "\t%s => %s %s\n", $1, $1, v }
' "$KMOD")
[[ -n $REPLACES ]] || die "no staging replace directives found in $KMOD"

BUILD=$OUT/src/node
rm -rf "$BUILD"
mkdir -p "$BUILD"
# go.mod: k8s.io/kubernetes at this version, staging modules at their releases.
cat >"$BUILD/go.mod" <<MOD
module meshcp.local/k8s/node

go 1.24.0

godebug default=go1.24

require k8s.io/kubernetes $K8S_VERSION

replace (
$REPLACES
)
MOD
# deps.go keeps the four commands' packages (and so their dependencies) in the
# module graph for `go mod tidy`; the binaries are the upstream mains.
{
  echo "package deps"
  echo "import ("
  for b in "${BINARIES[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$b/app\""; done
  echo ")"
} >"$BUILD/deps.go"

MINOR=${K8S_VERSION#v1.}; MINOR=${MINOR%%.*}
BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
done

cd "$BUILD"
run_logged go mod tidy
for b in "${BINARIES[@]}"; do
  run_logged go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/$b.tmp" "k8s.io/kubernetes/cmd/$b"
  mv -f "$OUT/$b.tmp" "$OUT/$b"
done
print_paths
