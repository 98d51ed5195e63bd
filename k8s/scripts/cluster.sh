#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for meshcp's cluster
# tests and for trying meshcp locally:
#
#   k8s/scripts/cluster.sh up            start it (idempotent: a running, healthy
#                                        cluster is kept) and print its env
#   k8s/scripts/cluster.sh down          stop it and undo everything it did to
#                                        the host (idempotent, best effort per step)
#   k8s/scripts/cluster.sh env           print KUBECONFIG=… etc. (cluster must be up)
#   k8s/scripts/cluster.sh load TAR...   import image archives (k8s/images/build.sh)
#   k8s/scripts/cluster.sh status        exit 0 if up and healthy
#
# Needs root, Go (first run builds the binaries), Debian packages containerd,
# runc, containernetworking-plugins, iptables, busybox-static. No registry: the
# sandbox image and every pod image are archives imported into containerd's
# `k8s.io` namespace (pods use imagePullPolicy Never/IfNotPresent).
#
# What it runs (all v1.34 from Go modules, see build-apiserver.sh/build-node.sh):
# etcd and kube-apiserver on the bridge address $NODE_IP (pods reach the API
# server there; ports 2379/6443 on that address only, so nothing on 127.0.0.1
# clashes with the test apiserver of k8s/test), kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy (iptables mode), and a private
# containerd 1.6 (own socket, root and state dirs), and CoreDNS as the cluster
# DNS (Service kube-dns at $DNS_SERVICE_IP; image from k8s/images/build.sh
# coredns). Pods sit on the CNI bridge $BRIDGE, $POD_CIDR; Services get
# $SERVICE_CIDR. The node carries topology labels (region $NODE_REGION, zone
# $NODE_ZONE), so endpoints have a locality.
#
# What it changes on the host, and how `down` undoes it:
#   - processes: all started here, pids in $STATE/pids, stopped by pid (and any
#     containerd shim whose command line names this cluster's socket)
#   - the bridge $BRIDGE and pod network namespaces (/run/netns/cni-*, the ones
#     containerd's sandboxes use): deleted
#   - iptables: kubelet's and kube-proxy's KUBE-* chains (kube-proxy --cleanup
#     leaves kubelet's) and our MESHCP-CLUSTER chain (drops traffic from pods
#     that would leave the bridge): removed from every table, v4 and v6
#   - net.ipv4.ip_forward (the CNI bridge plugin turns it on) and
#     net.bridge.bridge-nf-call-iptables: restored to the values found at `up`
#   - mounts under $STATE and $RUN (kubelet bind-mounts its root dir, volumes,
#     container rootfs): unmounted; cgroups kubepods/*: removed
#   - files: $STATE, $RUN and kubelet's symlinks in /var/log/containers
# Logs stay in $LOGS for post-mortems.
#
# One cluster per host: a lock ($LOCK) serialises up/down, and a second `up`
# reuses the running cluster.
#
# Environment: MESHCP_CLUSTER_DIR (state, default /var/lib/meshcp-cluster),
#   MESHCP_CLUSTER_LOGS (default /tmp/meshcp-cluster-logs),
#   MESHCP_CLUSTER_TIMEOUT (seconds to wait for the cluster, default 180).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STATE=${MESHCP_CLUSTER_DIR:-/var/lib/meshcp-cluster}
RUN=/run/meshcp-cluster
LOGS=${MESHCP_CLUSTER_LOGS:-/tmp/meshcp-cluster-logs}
LOCK=/run/lock/meshcp-cluster.lock
TIMEOUT=${MESHCP_CLUSTER_TIMEOUT:-180}
BRIDGE=meshcp0
POD_CIDR=10.244.0.0/16
NODE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
FIRST_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
API_PORT=6443
NODE_NAME=meshcp-node
# The node's topology labels, as every cloud sets them: endpoints (and so
# sidecars and proxyless clients) get a locality from them.
NODE_REGION=local
NODE_ZONE=local-a
SOCK=$RUN/containerd.sock
CNI_NETWORK=meshcp-pods
CHAIN=MESHCP-CLUSTER

log() { echo "cluster.sh: $*" >&2; }
die() { log "$*"; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (it runs containerd, kubelet and changes iptables)"; }

take_lock() {
  mkdir -p "$(dirname "$LOCK")"
  exec 8>"$LOCK"
  flock -w 600 8 || die "another cluster.sh holds $LOCK"
}

# --- processes -------------------------------------------------------------
pid_of() { [[ -f $STATE/pids ]] && awk -v n="$1" '$1 == n { print $2 }' "$STATE/pids" | tail -n1; }
alive() { # NAME: the recorded pid runs and is not a zombie
  local pid state
  pid=$(pid_of "$1") || return 1
  [[ -n $pid ]] || return 1
  state=$(awk '/^State:/ { print $2 }' /proc/"$pid"/status 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}
start() { # NAME BINARY ARGS...: run in the background, own session, log to $LOGS/NAME.log
  local name=$1; shift
  # 8>&-: the lock must not outlive this script in the daemons.
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 8>&- &
  echo "$name $!" >>"$STATE/pids"
}
stop_pid() { # PID: TERM, wait up to 10s, KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    [[ $(awk '/^State:/ { print $2 }' /proc/"$pid"/status 2>/dev/null) == Z ]] && return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
stop_named() { local pid; pid=$(pid_of "$1") && [[ -n $pid ]] && alive "$1" && stop_pid "$pid"; return 0; }

wait_until() { # WHAT SECONDS CMD...: poll CMD every 0.5s
  local what=$1 limit=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < limit)) || { log "timed out waiting for $what (logs: $LOGS)"; return 1; }
    sleep 0.5
  done
}

# --- binaries --------------------------------------------------------------
binaries() {
  local bins
  bins=$("$HERE/build-apiserver.sh") || die "build-apiserver.sh failed"
  APISERVER=$(sed -n 1p <<<"$bins"); ETCD=$(sed -n 2p <<<"$bins")
  bins=$("$HERE/build-node.sh") || die "build-node.sh failed"
  KUBELET=$(sed -n 1p <<<"$bins"); KCM=$(sed -n 2p <<<"$bins")
  SCHEDULER=$(sed -n 3p <<<"$bins"); KUBE_PROXY=$(sed -n 4p <<<"$bins")
  bins=$("$HERE/install-kube-tools.sh") || die "install-kube-tools.sh failed"
  KUBECTL=$(sed -n 1p <<<"$bins")
  for tool in containerd containerd-shim-runc-v2 runc ctr iptables ip openssl python3 curl; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install containerd runc iptables iproute2 openssl)"
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
    die "CNI plugins missing in /usr/lib/cni (apt-get install containernetworking-plugins)"
}

kubectl() { "$KUBECTL" --kubeconfig "$STATE/kubeconfig" "$@"; }
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }

# --- certificates ----------------------------------------------------------
ossl() { local out; out=$(openssl "$@" 2>&1) || die "openssl $1 failed: $out"; }
client_cert() { # NAME SUBJECT
  ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "$2"
  printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >"$PKI/$1.ext"
  ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 \
    -extfile "$PKI/$1.ext" -out "$PKI/$1.crt"
}
kubeconfig_for() { # NAME: $STATE/NAME.kubeconfig with NAME's client cert
  local b64='base64 -w0'
  cat >"$STATE/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: meshcp-cluster
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority-data: $($b64 <"$PKI/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $($b64 <"$PKI/$1.crt")
    client-key-data: $($b64 <"$PKI/$1.key")
contexts:
- name: meshcp-cluster
  context: {cluster: meshcp-cluster, user: $1, namespace: default}
current-context: meshcp-cluster
EOF
  chmod 600 "$STATE/$1.kubeconfig"
}
make_pki() {
  PKI=$STATE/pki
  mkdir -p "$PKI"
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 30 -subj "/CN=meshcp-cluster-ca"
  ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" -subj "/CN=kube-apiserver"
  printf '%s\n' \
    "subjectAltName=IP:$NODE_IP,IP:127.0.0.1,IP:$FIRST_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >"$PKI/apiserver.ext"
  ossl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 \
    -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt"
  client_cert admin "/O=system:masters/CN=meshcp-cluster-admin"
  client_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  client_cert controller-manager "/CN=system:kube-controller-manager"
  client_cert scheduler "/CN=system:kube-scheduler"
  client_cert kube-proxy "/CN=system:kube-proxy"
  ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key"
  ossl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
  chmod 600 "$PKI"/*.key
  for name in admin kubelet controller-manager scheduler kube-proxy; do kubeconfig_for "$name"; done
  cp "$STATE/admin.kubeconfig" "$STATE/kubeconfig"
}

# --- host state --------------------------------------------------------------
record_host() { # what `down` restores, written once per up
  mkdir -p "$STATE/host"
  [[ -f $STATE/host/ip_forward ]] || cat /proc/sys/net/ipv4/ip_forward >"$STATE/host/ip_forward"
  if [[ ! -f $STATE/host/bridge_nf ]]; then
    cat /proc/sys/net/bridge/bridge-nf-call-iptables >"$STATE/host/bridge_nf" 2>/dev/null || echo none >"$STATE/host/bridge_nf"
  fi
  if [[ -d /var/log/containers ]]; then touch "$STATE/host/had_var_log_containers"; fi
  if [[ -d /run/netns ]]; then touch "$STATE/host/had_run_netns"; fi
}

network_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE"
  fi
  ip addr replace "$NODE_IP/16" dev "$BRIDGE" || die "cannot address $BRIDGE"
  ip link set "$BRIDGE" up
  # kube-proxy's Service DNAT between pods on one bridge needs bridged frames
  # to traverse iptables.
  if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then modprobe br_netfilter 2>/dev/null || true; fi
  if [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables; fi
  # Keep pod traffic on the bridge: the CNI plugin turns on ip_forward, and
  # nothing from the pods may be routed off this machine.
  iptables -N "$CHAIN" 2>/dev/null || iptables -F "$CHAIN"
  iptables -A "$CHAIN" -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
  iptables -C FORWARD -j "$CHAIN" 2>/dev/null || iptables -I FORWARD 1 -j "$CHAIN"
  mkdir -p "$STATE/cni/net.d" "$STATE/cni/ipam"
  cat >"$STATE/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "rangeStart": "10.244.1.2", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "loopback" }
  ]
}
EOF
}

# --- containerd --------------------------------------------------------------
containerd_up() {
  mkdir -p "$STATE/containerd" "$RUN"
  cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "meshcp.local/pause:3"
  # This sandbox lacks CAP_SYS_RESOURCE: without this, kubelet's negative
  # oom_score_adj makes runc fail ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF
  start containerd containerd --config "$STATE/containerd.toml"
  wait_until containerd 30 ctr --address "$SOCK" version || die "containerd did not start"
}

load_images() { # ARCHIVE...
  local tar
  for tar in "$@"; do
    ctr_ images import "$tar" >>"$LOGS/images.log" 2>&1 || die "ctr images import $tar failed (see $LOGS/images.log)"
  done
}

# --- control plane and node --------------------------------------------------
control_plane_up() {
  start etcd "$ETCD" --name=meshcp --data-dir="$STATE/etcd" \
    --listen-client-urls="http://$NODE_IP:2379" --advertise-client-urls="http://$NODE_IP:2379" \
    --listen-peer-urls="http://$NODE_IP:2380" --initial-advertise-peer-urls="http://$NODE_IP:2380" \
    --initial-cluster="meshcp=http://$NODE_IP:2380" --initial-cluster-state=new \
    --listen-metrics-urls="" --log-outputs=stderr
  wait_until etcd 30 curl -sf --max-time 2 "http://$NODE_IP:2379/health" || die "etcd did not start"
  start kube-apiserver "$APISERVER" \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$API_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --etcd-servers="http://$NODE_IP:2379" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --allow-privileged=true --profiling=false
  wait_until kube-apiserver 90 curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://$NODE_IP:$API_PORT/readyz" || die "kube-apiserver did not become ready"
  start kube-controller-manager "$KCM" --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --bind-address="$NODE_IP" --secure-port=10257 --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false
  start kube-scheduler "$SCHEDULER" --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address="$NODE_IP" --secure-port=10259 --leader-elect=false --profiling=false
}

node_up() {
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: $NODE_IP
healthzPort: 10248
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$SOCK
podLogsDir: $STATE/pod-logs
clusterDomain: cluster.local
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: ""
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
# Imported images have no registry to come back from: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
serializeImagePulls: false
maxPods: 110
EOF
  start kubelet "$KUBELET" --config="$STATE/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" \
    --node-ip="$NODE_IP" --hostname-override="$NODE_NAME" -v=1 \
    --node-labels="topology.kubernetes.io/region=$NODE_REGION,topology.kubernetes.io/zone=$NODE_ZONE"
  cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: $NODE_IP:10256
metricsBindAddress: $NODE_IP:10249
# Leave the host's conntrack and route_localnet sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
  start kube-proxy "$KUBE_PROXY" --config="$STATE/kube-proxy.yaml"
}

# --- cluster DNS ---------------------------------------------------------------
# CoreDNS (k8s/images/coredns.sh) as the Service kube-dns at $DNS_SERVICE_IP, the
# address kubelet writes into every pod's resolv.conf: Service names resolve
# as in any cluster (payments.shop, payments.shop.svc.cluster.local). Nothing
# is forwarded: the host's resolvers are out of reach here, so other names fail fast.
# It listens on 1053 (uid 65532, no capabilities); the Service maps 53 to it.
dns_up() { # IMAGE
  kubectl apply -f - >>"$LOGS/dns.log" 2>&1 <<EOF || die "applying the CoreDNS manifest failed (see $LOGS/dns.log)"
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
  - {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 5
        }
        cache 5
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      terminationGracePeriodSeconds: 1
      containers:
        - name: coredns
          image: $1
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - {name: dns, containerPort: 1053, protocol: UDP}
            - {name: dns-tcp, containerPort: 1053, protocol: TCP}
          readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
          livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10, failureThreshold: 5}
          securityContext: {runAsUser: 65532, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_SERVICE_IP
  selector: {k8s-app: kube-dns}
  ports:
    - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
    - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
EOF
  kubectl -n kube-system rollout status deployment/coredns --timeout="${TIMEOUT}s" >>"$LOGS/dns.log" 2>&1 ||
    die "CoreDNS did not become ready (see $LOGS/dns.log, kubectl -n kube-system logs deploy/coredns)"
}

healthy() {
  local name
  for name in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    alive "$name" || return 1
  done
  [[ -f $STATE/up ]] || return 1
  curl -sf --max-time 3 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "https://$NODE_IP:$API_PORT/readyz" >/dev/null 2>&1
}

node_ready() { [[ $(kubectl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]; }
default_sa() { kubectl -n default get serviceaccount default; }

print_env() {
  cat <<EOF
KUBECONFIG=$STATE/kubeconfig
MESHCP_CLUSTER_NODE_IP=$NODE_IP
MESHCP_CLUSTER_API=https://$NODE_IP:$API_PORT
MESHCP_CLUSTER_CONTAINERD=$SOCK
MESHCP_CLUSTER_LOGS=$LOGS
EOF
}

cmd_up() {
  need_root
  binaries
  local images
  images=$("$ROOT/k8s/images/build.sh" pause coredns) || die "building the pause and CoreDNS images failed"
  take_lock
  if healthy; then log "already up"; print_env; return 0; fi
  if [[ -e $STATE || -e $RUN ]] || ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "cleaning up a previous, incomplete cluster first"
    teardown
  fi
  local t0=$SECONDS
  mkdir -p "$STATE" "$LOGS"
  : >"$STATE/pids"
  for f in "$LOGS"/*.log; do [[ -e $f ]] && : >"$f"; done
  # From here on, a failure tears down what was started.
  trap 'log "up failed; tearing down"; teardown; exit 1' ERR
  set -E
  record_host
  make_pki
  network_up
  containerd_up
  # shellcheck disable=SC2046 # one archive path per line
  load_images $(awk '{ print $2 }' <<<"$images")
  control_plane_up
  node_up
  wait_until "node $NODE_NAME Ready" "$TIMEOUT" node_ready || false
  wait_until "the default ServiceAccount" "$TIMEOUT" default_sa || false
  dns_up "$(awk '$1 ~ /coredns/ { print $1 }' <<<"$images")"
  touch "$STATE/up"
  trap - ERR
  log "up in $((SECONDS - t0))s"
  print_env
}

# --- teardown: every step best effort ----------------------------------------
netns_of_sandboxes() { # network namespace paths of this containerd's containers
  local id
  for id in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ containers info "$id" 2>/dev/null | python3 -c '
import json, sys
try:
    spec = json.load(sys.stdin).get("Spec") or {}
except ValueError:
    sys.exit(0)
for ns in (spec.get("linux") or {}).get("namespaces") or []:
    if ns.get("type") == "network" and ns.get("path"):
        print(ns["path"])'
  done | sort -u
}

delete_iptables_chains() { # remove KUBE-* chains and ours from every table
  local cmd table chains chain rule
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle raw; do
      chains=$("$cmd" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && ($2 ~ /^KUBE-/ || $2 == "'"$CHAIN"'") { print $2 }')
      [[ -n $chains ]] || continue
      # Rules in built-in chains that jump to them.
      "$cmd" -t "$table" -S 2>/dev/null | awk '$1 == "-A" && $0 ~ / -j (KUBE-|'"$CHAIN"')/' | while read -r rule; do
        # shellcheck disable=SC2086 # the rule is a list of words
        "$cmd" -t "$table" ${rule/-A/-D} 2>/dev/null || true
      done
      for chain in $chains; do "$cmd" -t "$table" -F "$chain" 2>/dev/null || true; done
      for chain in $chains; do "$cmd" -t "$table" -X "$chain" 2>/dev/null || true; done
    done
  done
}

unmount_under() { # DIR: unmount every mount at or below DIR, deepest first
  local dir=$1 mnt
  [[ -n $dir && $dir != / ]] || return 0
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done
}

remove_cgroups() { # kubepods (kubelet's QoS tree) in every v1 hierarchy
  local h
  for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d $h ]] || continue
    find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

teardown() {
  set +e
  trap - ERR
  local name pid netns
  [[ -n ${KUBECTL:-} ]] || KUBECTL=$("$HERE/install-kube-tools.sh" 2>/dev/null | sed -n 1p)
  # 1. With the API server still up: stop the controllers (nothing recreates
  #    pods), delete every pod, and let kubelet tear the sandboxes down (CNI DEL).
  if alive kube-apiserver && alive kubelet && [[ -n $KUBECTL ]]; then
    stop_named kube-controller-manager
    stop_named kube-scheduler
    kubectl delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1
    wait_until "pods to stop" 30 bash -c "[[ -z \$(ctr --address '$SOCK' -n k8s.io tasks ls -q 2>/dev/null) ]]"
  fi
  # 2. Stop the Kubernetes processes, newest first.
  for name in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_named "$name"; done
  # 3. Whatever containers remain: kill them, remember their network namespaces.
  netns=""
  if ! alive containerd && [[ -f $STATE/containerd.toml ]]; then
    # containerd died (or was killed): start it again, only to find and stop
    # the containers it left and learn their network namespaces.
    mkdir -p "$LOGS"
    start containerd containerd --config "$STATE/containerd.toml"
    wait_until "containerd (for cleanup)" 30 ctr --address "$SOCK" version
  fi
  if alive containerd; then
    netns=$(netns_of_sandboxes)
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
    sleep 0.5
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1; done
  fi
  stop_named containerd
  # Shims outlive containerd: stop the ones serving this cluster's socket.
  for pid in $(grep -lz -- "$SOCK" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [[ $(readlink /proc/"$pid"/exe 2>/dev/null) == *containerd-shim* ]] && stop_pid "$pid"
  done
  # 4. Network namespaces the sandboxes used (their veths go with them).
  for path in $netns; do
    [[ $path == /var/run/netns/cni-* || $path == /run/netns/cni-* ]] || continue
    umount "$path" 2>/dev/null || umount -l "$path" 2>/dev/null
    rm -f "$path"
  done
  [[ -f $STATE/host/had_run_netns ]] || rmdir /run/netns 2>/dev/null
  rm -f /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
  # 5. iptables: kube-proxy's rules, then every KUBE-* chain left (kubelet's) and ours.
  [[ -n ${KUBE_PROXY:-} ]] || KUBE_PROXY=$("$HERE/build-node.sh" 2>/dev/null | sed -n 4p)
  [[ -x ${KUBE_PROXY:-} ]] && "$KUBE_PROXY" --cleanup >/dev/null 2>&1
  delete_iptables_chains
  # 6. Mounts, cgroups, the bridge, sysctls, files.
  unmount_under "$STATE"
  unmount_under "$RUN"
  remove_cgroups
  ip link del "$BRIDGE" 2>/dev/null
  if [[ -f $STATE/host/ip_forward ]]; then cat "$STATE/host/ip_forward" >/proc/sys/net/ipv4/ip_forward; fi
  if [[ -f $STATE/host/bridge_nf && $(cat "$STATE/host/bridge_nf") != none ]]; then
    cat "$STATE/host/bridge_nf" >/proc/sys/net/bridge/bridge-nf-call-iptables
  fi
  find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null
  [[ -f $STATE/host/had_var_log_containers ]] || rmdir /var/log/containers 2>/dev/null
  rm -rf "$STATE" "$RUN"
  set -e
  return 0
}

cmd_down() {
  need_root
  take_lock
  local t0=$SECONDS
  set +e
  teardown
  log "down in $((SECONDS - t0))s"
}

case ${1:-} in
  up) set -e; cmd_up ;;
  down) cmd_down ;;
  env) [[ -f $STATE/up ]] || die "the cluster is not up"; print_env ;;
  status) healthy ;;
  load)
    shift
    need_root
    [[ -f $STATE/up ]] || die "the cluster is not up"
    mkdir -p "$LOGS"
    load_images "$@"
    ;;
  *) die "usage: cluster.sh up|down|env|status|load TAR..." ;;
esac
