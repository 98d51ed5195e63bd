#!/usr/bin/env bash
# End-to-end check of the test control plane: build (or reuse) kube-apiserver
# and etcd, install kubectl, start them in a temp DIR, list namespaces, apply
# a CRD and an object of it, a Service and an EndpointSlice, then
#   1. restart kube-apiserver alone (etcd keeps running), and
#   2. stop both and start both again on the same DIR (etcd data on disk),
# checking after each that every object is still there; then stop.
#
#   k8s/scripts/smoke-apiserver.sh [DIR]
#
# DIR defaults to a new temp dir, removed on success. Prints one line on
# success; on failure, what failed and the end of the logs. -v prints the
# kubectl output as it goes.
set -euo pipefail

VERBOSE=
if [[ ${1:-} == -v ]]; then VERBOSE=1; shift; fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OWN_DIR=
if [[ $# -ge 1 ]]; then DIR=$1; else DIR=$(mktemp -d); OWN_DIR=1; fi

fail() {
  echo "smoke-apiserver.sh: FAILED: $*" >&2
  for log in "$DIR/kube-apiserver.log" "$DIR/etcd.log"; do
    [[ -f $log ]] && { echo "--- last lines of $log:" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}
cleanup() { "$HERE/stop-apiserver.sh" "$DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT

KUBECTL=$("$HERE/install-kube-tools.sh" | sed -n 1p)
START=$SECONDS
"$HERE/start-apiserver.sh" "$DIR" || fail "start-apiserver.sh"
FIRST_START=$((SECONDS - START))

k() { # kubectl against DIR; output shown with -v
  local out
  out=$("$KUBECTL" --kubeconfig "$DIR/kubeconfig" --request-timeout=20s "$@" 2>&1) ||
    fail "kubectl $*: $out"
  [[ -z $VERBOSE ]] || printf '$ kubectl %s\n%s\n' "$*" "$out"
  printf '%s' "$out" >"$DIR/.last"
}

k get ns
grep -q '^kube-system ' "$DIR/.last" || fail "namespace kube-system not listed"

k apply -f - <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.meshcp.dev
spec:
  group: smoke.meshcp.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
EOF
k wait --for=condition=Established --timeout=30s crd/widgets.smoke.meshcp.dev
k apply -f - <<'EOF'
apiVersion: smoke.meshcp.dev/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {size: 3}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 50051, targetPort: 50051, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: default
  labels: {kubernetes.io/service-name: echo}
addressType: IPv4
ports: [{name: grpc, port: 50051, protocol: TCP}]
endpoints:
# The API rejects loopback (and link-local) endpoint addresses. 192.0.2.0/24 is
# TEST-NET-1 (RFC 5737): stored only, no traffic is ever sent to it.
- addresses: [192.0.2.10]
  conditions: {ready: true}
EOF

check_objects() { # WHEN
  k get widget w1 -o 'jsonpath={.spec.size}'
  [[ $(cat "$DIR/.last") == 3 ]] || fail "$1: widget w1 has spec.size '$(cat "$DIR/.last")', want 3"
  k get service echo -o 'jsonpath={.spec.ports[0].port}'
  [[ $(cat "$DIR/.last") == 50051 ]] || fail "$1: service echo port '$(cat "$DIR/.last")', want 50051"
  k get endpointslice echo-1 -o 'jsonpath={.endpoints[0].addresses[0]}'
  [[ $(cat "$DIR/.last") == 192.0.2.10 ]] || fail "$1: endpointslice echo-1 address '$(cat "$DIR/.last")'"
}
check_objects "after apply"

"$HERE/stop-apiserver.sh" "$DIR" --keep-etcd || fail "stop-apiserver.sh --keep-etcd"
START=$SECONDS
"$HERE/start-apiserver.sh" "$DIR" || fail "start-apiserver.sh (kube-apiserver restart)"
APISERVER_RESTART=$((SECONDS - START))
check_objects "after kube-apiserver restart"

"$HERE/stop-apiserver.sh" "$DIR" || fail "stop-apiserver.sh"
[[ ! -f $DIR/pids ]] || fail "stop-apiserver.sh left $DIR/pids"
START=$SECONDS
"$HERE/start-apiserver.sh" "$DIR" || fail "start-apiserver.sh (full restart)"
FULL_RESTART=$((SECONDS - START))
check_objects "after etcd + kube-apiserver restart"

"$HERE/stop-apiserver.sh" "$DIR" || fail "final stop-apiserver.sh"
trap - EXIT
[[ -z $OWN_DIR ]] || rm -rf "$DIR"
echo "smoke-apiserver.sh: ok (ready in ${FIRST_START}s; apiserver restart ${APISERVER_RESTART}s; full restart ${FULL_RESTART}s; objects survived both)"
