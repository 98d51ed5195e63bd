# shellcheck shell=bash
# The cluster DNS image (sourced by build.sh): CoreDNS built from its Go module
# (github.com/coredns/coredns at $COREDNS_VERSION) with only the plugins the
# cluster's Corefile uses (k8s/images/coredns/main.go: cache, errors, health,
# kubernetes, loadbalance, log, ready), static, cached in
# ${MESHCP_CACHE:-~/.cache/meshcp}/coredns/<version>-<hash of main.go>/coredns.
# The Corefile comes from the ConfigMap k8s/scripts/cluster.sh applies.
COREDNS_VERSION=${MESHCP_COREDNS_VERSION:-v1.14.7}

coredns_binary() { # prints the path of the cached binary, building it first if needed
  local src=$HERE/coredns/main.go key dir
  key=$(cat "$src" | sha256sum | cut -c1-12)
  dir=$CACHE/coredns/$COREDNS_VERSION-$key
  if [[ ! -x $dir/coredns ]]; then
    command -v go >/dev/null || die "'go' not found (CoreDNS is built from its Go module)"
    echo "images/build.sh: building CoreDNS $COREDNS_VERSION (its Go module, the cluster's plugins) into $dir" >&2
    rm -rf "$dir/src" && mkdir -p "$dir/src"
    cp "$src" "$dir/src/main.go"
    printf 'module meshcp.local/coredns\n\ngo 1.24.0\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" >"$dir/src/go.mod"
    (
      cd "$dir/src"
      export CGO_ENABLED=0 GOWORK=off GOFLAGS="-trimpath -buildvcs=false"
      go mod tidy && go build -ldflags "-s -w" -o "$dir/coredns.tmp" .
    ) >"$dir/build.log" 2>&1 || { tail -n 30 "$dir/build.log" >&2; die "building CoreDNS failed (log: $dir/build.log)"; }
    mv -f "$dir/coredns.tmp" "$dir/coredns"
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
