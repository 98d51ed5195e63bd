# shellcheck shell=bash
# The cluster DNS image (sourced by build.sh): CoreDNS built from its Go module
# (github.com/coredns/coredns, `go install` of the released version, static),
# cached in ${MESHCP_CACHE:-~/.cache/meshcp}/coredns/<version>/coredns. The
# Corefile comes from the ConfigMap k8s/scripts/cluster.sh applies.
# ~3-4 min on 2 cores cold, nothing when cached.
COREDNS_VERSION=${MESHCP_COREDNS_VERSION:-v1.14.7}

coredns_binary() { # prints the path of the cached binary, building it first if needed
  local dir=$CACHE/coredns/$COREDNS_VERSION
  if [[ ! -x $dir/coredns ]]; then
    command -v go >/dev/null || die "'go' not found (CoreDNS is built from its Go module)"
    mkdir -p "$dir"
    echo "images/build.sh: building CoreDNS $COREDNS_VERSION from its Go module into $dir (~3-4 min cold)" >&2
    (
      export CGO_ENABLED=0 GOWORK=off GOBIN=$dir/bin GOFLAGS="-trimpath -buildvcs=false"
      go install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
    ) >"$dir/build.log" 2>&1 || { tail -n 30 "$dir/build.log" >&2; die "building CoreDNS failed (log: $dir/build.log)"; }
    mv -f "$dir/bin/coredns" "$dir/coredns"
    rmdir "$dir/bin" 2>/dev/null || true
  fi
  echo "$dir/coredns"
}

build_coredns() {
  local bin r=$WORK/coredns
  bin=$(coredns_binary)
  base_files "$r"
  mkdir -p "$r/usr/local/bin" "$r/etc/coredns"
  cp -L "$bin" "$r/usr/local/bin/coredns"
  finish coredns "meshcp.local/coredns:${COREDNS_VERSION#v}" "$(hash_of "$bin")" \
    --entrypoint '["/usr/local/bin/coredns"]' --cmd '["-conf","/etc/coredns/Corefile"]' --user 65532:65532
}
