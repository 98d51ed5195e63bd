#!/usr/bin/env bash
# End-to-end proof that an Envoy version runs in its own podman container:
# build (or reuse) the image, start it with a static bootstrap (admin + one
# listener answering with a direct_response), wait for admin /ready == LIVE,
# curl the listener, stop and remove the container. Times each step.
#
# Usage: smoke-envoy.sh X.Y.Z [host|bridge]      (default: host)
#   host:   --network host; admin bound to 127.0.0.1, listener to 127.0.0.1.
#   bridge: default podman bridge; admin + listener bound to 0.0.0.0 inside the
#           container and published on 127.0.0.1:<random host ports>.
# Env: READY_TIMEOUT (seconds, default 30), CONTAINERS_CONF, MESHCP_CACHE.
set -euo pipefail

die() { echo "smoke-envoy: error: $*" >&2; exit 1; }
log() { echo "smoke-envoy: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2fs", b - a }'; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 X.Y.Z [host|bridge]"
VERSION="${1#v}"
MODE="${2:-host}"
[[ "$MODE" == host || "$MODE" == bridge ]] || die "mode must be host or bridge, got '$MODE'"
READY_TIMEOUT="${READY_TIMEOUT:-30}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$CACHE_ROOT/podman/containers.conf}"
PODMAN=(podman --runtime runc)
command -v curl >/dev/null || die "curl not found"
command -v python3 >/dev/null || die "python3 not found (used to pick free ports)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

t=$(now)
IMAGE="$("$HERE/build-envoy-image.sh" "$VERSION")" || die "image build failed"
log "image $IMAGE ready in $(since "$t")"

ADMIN_PORT=$(free_port); LISTEN_PORT=$(free_port)
[[ "$ADMIN_PORT" != "$LISTEN_PORT" ]] || LISTEN_PORT=$(free_port)
if [[ $MODE == host ]]; then
  BIND=127.0.0.1; C_ADMIN=$ADMIN_PORT; C_LISTEN=$LISTEN_PORT
  NET=(--network host)
else
  # Published ports are DNATed to the container's bridge address, so Envoy has
  # to listen on 0.0.0.0 inside the container.
  BIND=0.0.0.0; C_ADMIN=9901; C_LISTEN=10000
  NET=(-p "127.0.0.1:$ADMIN_PORT:$C_ADMIN" -p "127.0.0.1:$LISTEN_PORT:$C_LISTEN")
fi

CONF_DIR="$(mktemp -d "${TMPDIR:-/tmp}/meshcp-envoy-smoke.XXXXXX")"
CID=""
cleanup() {
  if [[ -n "$CID" ]]; then
    "${PODMAN[@]}" rm -f -t 2 "$CID" >/dev/null 2>&1 || echo "smoke-envoy: warning: could not remove container $CID" >&2
  fi
  rm -rf "$CONF_DIR"
}
trap cleanup EXIT

BODY="meshcp-smoke envoy $VERSION"
cat > "$CONF_DIR/envoy.yaml" <<YAML
node: {id: smoke, cluster: smoke}
admin:
  address: {socket_address: {address: $BIND, port_value: $C_ADMIN}}
static_resources:
  listeners:
  - name: smoke
    address: {socket_address: {address: $BIND, port_value: $C_LISTEN}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: smoke
          route_config:
            name: smoke
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                direct_response: {status: 200, body: {inline_string: "$BODY"}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
YAML
chmod 0755 "$CONF_DIR"; chmod 0644 "$CONF_DIR/envoy.yaml"

t=$(now)
CID="$("${PODMAN[@]}" run --rm -d "${NET[@]}" \
  --name "meshcp-envoy-smoke-${VERSION//./-}-$MODE-$$" \
  -v "$CONF_DIR:/etc/envoy:ro" \
  "$IMAGE" -c /etc/envoy/envoy.yaml --disable-hot-restart --log-level info)" \
  || die "podman run failed"
log "container ${CID:0:12} started in $(since "$t") (mode $MODE, admin 127.0.0.1:$ADMIN_PORT, listener 127.0.0.1:$LISTEN_PORT)"

deadline=$(( $(date +%s) + READY_TIMEOUT ))
state=""
while :; do
  state="$(curl -fsS --max-time 1 "http://127.0.0.1:$ADMIN_PORT/ready" 2>/dev/null | tr -d '\r\n' || true)"
  [[ "$state" == LIVE ]] && break
  if ! "${PODMAN[@]}" container exists "$CID" || \
     [[ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$CID" 2>/dev/null)" != true ]]; then
    "${PODMAN[@]}" logs "$CID" >&2 2>&1 || true
    die "container exited before /ready was LIVE"
  fi
  if (( $(date +%s) >= deadline )); then
    "${PODMAN[@]}" logs --tail 50 "$CID" >&2 2>&1 || true
    die "admin /ready not LIVE after ${READY_TIMEOUT}s (last: '${state:-no answer}')"
  fi
  sleep 0.1
done
log "/ready LIVE $(since "$t") after podman run"

got="$(curl -fsS --max-time 5 "http://127.0.0.1:$LISTEN_PORT/anything")" || die "curl of listener failed"
[[ "$got" == "$BODY" ]] || die "listener answered '$got', expected '$BODY'"
log "listener answered: $got"

server_version="$(curl -fsS --max-time 2 "http://127.0.0.1:$ADMIN_PORT/server_info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" || true
log "admin /server_info version: $server_version"

t=$(now)
"${PODMAN[@]}" stop -t 5 "$CID" >/dev/null || die "podman stop failed"
"${PODMAN[@]}" rm -f "$CID" >/dev/null 2>&1 || true   # --rm usually removed it already
"${PODMAN[@]}" container exists "$CID" && die "container $CID still exists after stop/rm"
CID=""
log "stopped and removed in $(since "$t")"
echo "OK envoy $VERSION ($MODE)"
