#!/usr/bin/env bash
# What the local cluster (k8s/scripts/cluster.sh) needs from Debian, installed
# when missing: containerd (1.6) runc containernetworking-plugins iptables
# conntrack busybox-static (the pause and test images are made of it), and the
# four-language demo's runtimes: python3 and openjdk-17-jdk-headless (javac and
# jlink; Node and Go are the project's own). Then builds kubelet,
# kube-controller-manager, kube-scheduler and kube-proxy (build-node.sh) and the
# cluster DNS image (CoreDNS from its Go module); both cached. Idempotent;
# prints nothing on success.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
missing=()
for pkg in containerd runc containernetworking-plugins iptables conntrack busybox-static python3 openjdk-17-jdk-headless; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
"$HERE/build-node.sh" >/dev/null
"$HERE/../images/build.sh" coredns >/dev/null
