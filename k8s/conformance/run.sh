#!/usr/bin/env bash
# Run the Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance,
# MESH-HTTP profile) against meshcp in the local cluster, and write its report:
#
#   sudo bash k8s/conformance/run.sh [REPORT]   (default k8s/conformance/gateway-api-<version>-mesh-report.yaml)
#
# Steps: build the suite's test binary (Go module, ~3 min cold) and its echo app
# (k8s/images/build.sh echo: Istio's echo server/client, ~2 min cold); start the
# cluster; load meshcp, Envoy, the capture init and echo images; helm install
# meshcp with the injector; install the Gateway API standard CRDs; run the suite
# with its test namespaces labelled for injection. Leaves the cluster up (stop
# it with k8s/scripts/cluster.sh down).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERSION=${MESHCP_GATEWAY_API_VERSION:-v1.6.3}
CACHE=${MESHCP_CACHE:-$HOME/.cache/meshcp}
DIR=$CACHE/gateway-api-conformance/$VERSION
REPORT=${1:-$HERE/gateway-api-$VERSION-mesh-report.yaml}

if [[ ! -x $DIR/conformance.test ]]; then
  mkdir -p "$DIR/src"
  printf 'module meshcp.local/gateway-api-conformance\n\ngo 1.26.0\n\nrequire sigs.k8s.io/gateway-api/conformance %s\n\n// The conformance module names its parent by a local replace; as a dependency it needs the release.\nreplace sigs.k8s.io/gateway-api => sigs.k8s.io/gateway-api %s\n' "$VERSION" "$VERSION" >"$DIR/src/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/gateway-api/conformance"\n' >"$DIR/src/tools.go"
  (cd "$DIR/src" && CGO_ENABLED=0 GOWORK=off GOFLAGS="-trimpath -buildvcs=false -mod=mod" go mod tidy &&
    CGO_ENABLED=0 GOWORK=off GOFLAGS="-trimpath -buildvcs=false -mod=mod" go test -c -o "$DIR/conformance.test" sigs.k8s.io/gateway-api/conformance)
fi
CRDS=$(cd "$DIR/src" && GOWORK=off go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard

images=$(bash "$ROOT/k8s/images/build.sh" meshcp envoy init echo)
env=$(bash "$ROOT/k8s/scripts/cluster.sh" up)
export KUBECONFIG
KUBECONFIG=$(sed -n 's/^KUBECONFIG=//p' <<<"$env")
# shellcheck disable=SC2046 # one archive per line
bash "$ROOT/k8s/scripts/cluster.sh" load $(awk '{ print $2 }' <<<"$images")
tools=$(bash "$ROOT/k8s/scripts/install-kube-tools.sh")
KUBECTL=$(sed -n 1p <<<"$tools"); HELM=$(sed -n 2p <<<"$tools")
meshcp_image=$(awk '$1 ~ /^meshcp.local\/meshcp:/ { print $1 }' <<<"$images")
"$HELM" upgrade --install meshcp "$ROOT/k8s/chart/meshcp" -n meshcp --create-namespace --wait --timeout 3m \
  --set image.repository="${meshcp_image%:*}" --set image.tag="${meshcp_image##*:}" --set image.pullPolicy=Never \
  --set injector.enabled=true --set injector.envoyImage='meshcp.local/envoy:v{version}' \
  --set injector.initImage=meshcp.local/init:1 --set injector.imagePullPolicy=Never
"$KUBECTL" apply -f "$CRDS" >/dev/null
cd "$DIR"
status=0
"$DIR/conformance.test" -test.run '^TestConformance$' -test.v -test.timeout 30m \
  --conformance-profiles=MESH-HTTP --supported-features=Mesh,HTTPRoute \
  --namespace-labels=meshcp.io/inject=enabled --allow-crds-mismatch \
  --organization=meshcp --project=meshcp --url=https://github.com/meshcp/meshcp \
  --version="$(node -p 'require(process.argv[1]).version' "$ROOT/control-plane/package.json" 2>/dev/null || echo dev)" --contact=meshcp \
  --report-output="$REPORT" >"$DIR/run.log" 2>&1 || status=$?
grep -E '^\s*--- (PASS|FAIL)' "$DIR/run.log" || true
echo "report: $REPORT (log: $DIR/run.log)"
exit "$status"
