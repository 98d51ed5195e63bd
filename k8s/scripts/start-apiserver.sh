#!/usr/bin/env bash
# Start a test control plane (etcd + kube-apiserver, nothing else) on
# 127.0.0.1 with free ports, state in DIR, and wait until /readyz is ok.
#
#   k8s/scripts/start-apiserver.sh DIR
#
# Builds the binaries first if needed (build-apiserver.sh; needs the Go module
# proxy only on a cold cache). Needs python3, openssl, curl. No other network.
#
# Writes into DIR:
#   kubeconfig      admin kubeconfig (client cert, user meshcp-admin in group
#                   system:masters), embedded CA and cert data
#   env             shell-sourceable: KUBECONFIG, MESHCP_APISERVER_URL,
#                   MESHCP_APISERVER_TOKEN, MESHCP_APISERVER_CA, MESHCP_ETCD_URL
#   token           admin bearer token (static token file, system:masters)
#   pids            "etcd PID" and "kube-apiserver PID" lines
#   ports           the ports used, reused by a later start when still free
#   pki/            CA, serving cert, admin client cert, service-account keys
#   etcd-data/      etcd data: kept across stop/start, so objects survive
#   etcd.log, kube-apiserver.log
#
# Starting again on a DIR keeps its keys, data and (when free) ports. If etcd
# from DIR still runs (stop-apiserver.sh --keep-etcd), it is reused.
#
# Environment:
#   MESHCP_K8S_VERSION            k8s version to use (build-apiserver.sh)
#   MESHCP_APISERVER_TIMEOUT      seconds to wait for readiness (default 120)
#   MESHCP_APISERVER_EXTRA_ARGS   extra kube-apiserver flags (word-split)
# Note: no controller-manager runs: namespaces are never finalized after a
# delete, no ServiceAccounts or tokens are made, and Pods are not scheduled.
set -euo pipefail

die() { echo "start-apiserver.sh: $*" >&2; exit 1; }

[[ $# -eq 1 && -n $1 ]] || die "usage: start-apiserver.sh DIR"
for tool in python3 openssl curl; do
  command -v "$tool" >/dev/null || die "'$tool' not found on PATH"
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
TIMEOUT=${MESHCP_APISERVER_TIMEOUT:-120}
SERVICE_CIDR=10.0.0.0/24 # allocated from only; no traffic is ever sent there
FIRST_SERVICE_IP=10.0.0.1

BINS=$("$HERE/build-apiserver.sh") || die "building kube-apiserver/etcd failed"
APISERVER=$(sed -n 1p <<<"$BINS")
ETCD=$(sed -n 2p <<<"$BINS")

# --- processes already running from DIR --------------------------------------
alive() { # NAME PID: is PID a live process (not a zombie) running binary NAME?
  local exe=
  [[ -n $2 ]] || return 1
  IFS= read -r -d '' exe 2>/dev/null </proc/"$2"/cmdline || true
  [[ $exe == */"$1" ]]
}
pid_of() { if [[ -f $DIR/pids ]]; then awk -v n="$1" '$1 == n { print $2 }' "$DIR/pids"; fi; }

ETCD_PID=$(pid_of etcd)
APISERVER_PID=$(pid_of kube-apiserver)
STARTED_ETCD=
if alive kube-apiserver "$APISERVER_PID"; then
  die "kube-apiserver from $DIR already runs (pid $APISERVER_PID); run stop-apiserver.sh $DIR first"
fi
alive etcd "$ETCD_PID" || ETCD_PID=

# --- ports -------------------------------------------------------------------
# Reuse the ports of an earlier start when they are still free (or, for etcd,
# when that etcd still runs), else take new free ones from the kernel.
PORTS=$(
  python3 - "$DIR/ports" "${ETCD_PID:+keep-etcd}" <<'PY'
import os, socket, sys
path, keep_etcd = sys.argv[1], sys.argv[2] == "keep-etcd"
old = {}
if os.path.exists(path):
    for line in open(path):
        k, _, v = line.strip().partition("=")
        if v.isdigit():
            old[k] = int(v)
held = []
def take(port):
    s = socket.socket()
    # Our own earlier run's connections may linger in TIME_WAIT on that port;
    # the servers bind with SO_REUSEADDR, so check the way they will bind.
    # (A port some process still listens on stays taken.)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    held.append(s)
    return s.getsockname()[1]
out = []
for name in ("ETCD_CLIENT_PORT", "ETCD_PEER_PORT", "SECURE_PORT"):
    if keep_etcd and name.startswith("ETCD_") and name in old:
        out.append(old[name]); continue
    p = take(old[name]) if name in old else None
    out.append(p or take(0))
print(*out)
PY
) || die "could not find free ports on 127.0.0.1"
read -r ETCD_CLIENT_PORT ETCD_PEER_PORT SECURE_PORT <<<"$PORTS"
printf 'ETCD_CLIENT_PORT=%s\nETCD_PEER_PORT=%s\nSECURE_PORT=%s\n' \
  "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$SECURE_PORT" >"$DIR/ports"

# --- keys and certificates (made once per DIR) ---------------------------------
PKI=$DIR/pki
mkdir -p "$PKI"
ossl() { # run openssl quietly, show its output on failure
  local out
  out=$(openssl "$@" 2>&1) || die "openssl $1 failed: $out"
}
if [[ ! -f $PKI/done ]]; then
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 -subj "/CN=meshcp-test-ca"
  # kube-apiserver serving cert
  ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" -subj "/CN=kube-apiserver"
  printf '%s\n' \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:$FIRST_SERVICE_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" \
    >"$PKI/apiserver.ext"
  ossl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt"
  # admin client cert: group system:masters bypasses RBAC
  ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/admin.key" -out "$PKI/admin.csr" -subj "/O=system:masters/CN=meshcp-admin"
  printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" \
    >"$PKI/admin.ext"
  ossl x509 -req -in "$PKI/admin.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -extfile "$PKI/admin.ext" -out "$PKI/admin.crt"
  # service-account token signing key pair
  ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key"
  ossl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
  # static admin token
  TOKEN=$(openssl rand -hex 24)
  echo "$TOKEN,meshcp-admin-token,meshcp-admin-token,system:masters" >"$PKI/tokens.csv"
  echo "$TOKEN" >"$DIR/token"
  chmod 600 "$PKI"/*.key "$PKI/tokens.csv" "$DIR/token"
  touch "$PKI/done"
fi
TOKEN=$(cat "$DIR/token")
URL=https://127.0.0.1:$SECURE_PORT
ETCD_URL=http://127.0.0.1:$ETCD_CLIENT_PORT

b64() { base64 -w0 <"$1"; }
umask 077
cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: meshcp-test
  cluster:
    server: $URL
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: meshcp-admin
  user:
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
contexts:
- name: meshcp-test
  context:
    cluster: meshcp-test
    user: meshcp-admin
    namespace: default
current-context: meshcp-test
EOF
cat >"$DIR/env" <<EOF
KUBECONFIG=$DIR/kubeconfig
MESHCP_APISERVER_URL=$URL
MESHCP_APISERVER_TOKEN=$TOKEN
MESHCP_APISERVER_CA=$PKI/ca.crt
MESHCP_ETCD_URL=$ETCD_URL
EOF
umask 022

# --- waiting -------------------------------------------------------------------
DEADLINE=$((SECONDS + TIMEOUT))
wait_for() { # NAME PID LOG CHECK...: poll CHECK until it succeeds or NAME dies / deadline
  local name=$1 pid=$2 log=$3; shift 3
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "start-apiserver.sh: $name exited during startup; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      stop_started
      exit 1
    fi
    if ((SECONDS >= DEADLINE)); then
      echo "start-apiserver.sh: $name not ready after ${TIMEOUT}s; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      stop_started
      exit 1
    fi
    sleep 0.5
  done
}
stop_started() { # on failure: stop what this run started, keep a reused etcd
  if [[ -n $STARTED_ETCD ]]; then
    "$HERE/stop-apiserver.sh" "$DIR" || true
  else
    "$HERE/stop-apiserver.sh" "$DIR" --keep-etcd || true
  fi
}
write_pids() { printf 'etcd %s\nkube-apiserver %s\n' "$ETCD_PID" "${APISERVER_PID:-}" >"$DIR/pids"; }

# --- etcd ------------------------------------------------------------------------
if [[ -z $ETCD_PID ]]; then
  PEER=http://127.0.0.1:$ETCD_PEER_PORT
  nohup "$ETCD" \
    --name=meshcp \
    --data-dir="$DIR/etcd-data" \
    --listen-client-urls="$ETCD_URL" --advertise-client-urls="$ETCD_URL" \
    --listen-peer-urls="$PEER" --initial-advertise-peer-urls="$PEER" \
    --initial-cluster="meshcp=$PEER" --initial-cluster-state=new \
    --log-outputs=stderr \
    </dev/null >>"$DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  STARTED_ETCD=1
  APISERVER_PID=
  write_pids
fi
etcd_ok() { curl -sf --max-time 2 "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; }
wait_for etcd "$ETCD_PID" "$DIR/etcd.log" etcd_ok

# --- kube-apiserver --------------------------------------------------------------
# shellcheck disable=SC2206 # word splitting of the extra args is intended
EXTRA=(${MESHCP_APISERVER_EXTRA_ARGS:-})
nohup "$APISERVER" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$SECURE_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
  --authorization-mode=RBAC \
  --etcd-servers="$ETCD_URL" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --endpoint-reconciler-type=none \
  --allow-privileged=true \
  --profiling=false \
  "${EXTRA[@]}" \
  </dev/null >>"$DIR/kube-apiserver.log" 2>&1 &
APISERVER_PID=$!
write_pids

readyz_ok() {
  [[ $(curl -s --max-time 3 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $TOKEN" \
    "$URL/readyz" 2>/dev/null) == ok ]]
}
wait_for kube-apiserver "$APISERVER_PID" "$DIR/kube-apiserver.log" readyz_ok
