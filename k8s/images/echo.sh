# shellcheck shell=bash
# The Gateway API conformance suite's echo app (sourced by build.sh): its mesh
# manifests run registry.k8s.io/gateway-api/echo-advanced, which is Istio's echo
# test app (server + client from istio.io/istio pkg/test/echo/cmd). Built from
# that Go module into ${MESHCP_CACHE:-~/.cache/meshcp}/istio-echo (~2 min), with
# a self-signed /cert.crt and /cert.key for its TLS port, as the upstream image has.
ISTIO_ECHO_VERSION=${MESHCP_ISTIO_ECHO_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}
ECHO_REF=registry.k8s.io/gateway-api/echo-advanced:v1.5.1

build_echo() {
  local dir=$CACHE/istio-echo/$ISTIO_ECHO_VERSION r=$WORK/echo
  if [[ ! -x $dir/server || ! -x $dir/client ]]; then
    rm -rf "$dir/src" && mkdir -p "$dir/src"
    printf 'module meshcp.local/istio-echo\n\ngo 1.26.0\n\nrequire istio.io/istio %s\n' "$ISTIO_ECHO_VERSION" >"$dir/src/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "istio.io/istio/pkg/test/echo/cmd/client"\n\t_ "istio.io/istio/pkg/test/echo/cmd/server"\n)\n' >"$dir/src/tools.go"
    (
      cd "$dir/src"
      export CGO_ENABLED=0 GOWORK=off GOFLAGS="-trimpath -buildvcs=false"
      go mod tidy && go build -ldflags '-s -w' -o "$dir/server" istio.io/istio/pkg/test/echo/cmd/server &&
        go build -ldflags '-s -w' -o "$dir/client" istio.io/istio/pkg/test/echo/cmd/client
    ) >"$dir/build.log" 2>&1 || { tail -n 30 "$dir/build.log" >&2; die "building Istio's echo app failed (log: $dir/build.log)"; }
  fi
  base_files "$r"
  busybox_applets "$r"
  mkdir -p "$r/usr/local/bin"
  cp "$dir/server" "$dir/client" "$r/usr/local/bin/"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj /CN=echo \
    -keyout "$r/cert.key" -out "$r/cert.crt" >/dev/null 2>&1 || die "openssl failed"
  chmod 0644 "$r/cert.key"
  finish echo "$ECHO_REF" "$(hash_of "$dir/server" "$dir/client")" \
    --entrypoint '["/usr/local/bin/server"]' --env PATH=/usr/local/bin:/usr/bin:/bin
}
