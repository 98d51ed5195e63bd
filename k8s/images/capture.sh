#!/bin/sh
# meshcp's traffic capture: run once per pod by the injected init container
# (NET_ADMIN, in the pod's network namespace), the way istio-init does.
#   - outbound TCP from the app goes to Envoy's capture listener
#     (127.0.0.1:$MESHCP_CAPTURE_PORT), which forwards it by its original
#     destination (SO_ORIGINAL_DST);
#   - inbound TCP to the pod goes to Envoy's inbound listener
#     ($MESHCP_INBOUND_PORT), which hands it to the app on 127.0.0.1;
#   - never captured: Envoy's own traffic (uid/gid $MESHCP_PROXY_UID), loopback,
#     and the ports in $MESHCP_EXCLUDE_OUTBOUND_PORTS (xDS) and
#     $MESHCP_EXCLUDE_INBOUND_PORTS (Envoy admin, health probes).
# Idempotent: the chains are flushed and refilled. Prints the rules it set.
set -eu
CAPTURE_PORT=${MESHCP_CAPTURE_PORT:-15001}
INBOUND_PORT=${MESHCP_INBOUND_PORT:-15006}
PROXY_UID=${MESHCP_PROXY_UID:-101}
EXCLUDE_OUT=${MESHCP_EXCLUDE_OUTBOUND_PORTS:-}
EXCLUDE_IN=${MESHCP_EXCLUDE_INBOUND_PORTS:-}
IPT=${MESHCP_IPTABLES:-iptables}

chain() { $IPT -t nat -N "$1" 2>/dev/null || $IPT -t nat -F "$1"; }
hook() { $IPT -t nat -C "$1" -p tcp -j "$2" 2>/dev/null || $IPT -t nat -A "$1" -p tcp -j "$2"; }

chain MESHCP_REDIRECT
chain MESHCP_IN_REDIRECT
chain MESHCP_INBOUND
chain MESHCP_OUTPUT
$IPT -t nat -A MESHCP_REDIRECT -p tcp -j REDIRECT --to-ports "$CAPTURE_PORT"
$IPT -t nat -A MESHCP_IN_REDIRECT -p tcp -j REDIRECT --to-ports "$INBOUND_PORT"

# Inbound: everything but Envoy's own ports and the excluded ones.
for port in "$CAPTURE_PORT" "$INBOUND_PORT" $(echo "$EXCLUDE_IN" | tr ',' ' '); do
  $IPT -t nat -A MESHCP_INBOUND -p tcp --dport "$port" -j RETURN
done
$IPT -t nat -A MESHCP_INBOUND -p tcp -j MESHCP_IN_REDIRECT
# A pod whose app declares no port gets no inbound listener (nothing would
# answer on $INBOUND_PORT): its inbound traffic goes straight to the app.
if [ "${MESHCP_CAPTURE_INBOUND:-true}" = true ]; then hook PREROUTING MESHCP_INBOUND; fi

# Outbound: Envoy's own connections (to upstreams, to xDS) leave untouched.
$IPT -t nat -A MESHCP_OUTPUT -m owner --uid-owner "$PROXY_UID" -j RETURN
$IPT -t nat -A MESHCP_OUTPUT -m owner --gid-owner "$PROXY_UID" -j RETURN
$IPT -t nat -A MESHCP_OUTPUT -o lo -j RETURN
$IPT -t nat -A MESHCP_OUTPUT -d 127.0.0.1/32 -j RETURN
for port in $(echo "$EXCLUDE_OUT" | tr ',' ' '); do
  $IPT -t nat -A MESHCP_OUTPUT -p tcp --dport "$port" -j RETURN
done
$IPT -t nat -A MESHCP_OUTPUT -p tcp -j MESHCP_REDIRECT
hook OUTPUT MESHCP_OUTPUT

$IPT -t nat -S
