# shellcheck shell=bash
# The Envoy sidecar image and the capture init image (sourced by build.sh).
#
# envoy: the same rootfs as compat-matrix/scripts/build-envoy-image.sh builds
#   for podman (the envoy binary from compat-matrix/scripts/fetch-envoy.sh, its
#   ldd libraries, passwd with envoy 101), written as an archive for containerd
#   instead of `podman import`ed. ENTRYPOINT envoy; the injector passes args.
# init: iptables from Debian's package (xtables-legacy-multi and its libraries,
#   the legacy backend: it needs no nft netlink support in the pod) plus
#   busybox-static for the capture script k8s/images/capture.sh.
ENVOY_DEFAULT_VERSION=1.40.0

build_envoy() {
  local version=${1#@}
  [[ -n $version ]] || version=$ENVOY_DEFAULT_VERSION
  local bin
  bin=$("$ROOT/compat-matrix/scripts/fetch-envoy.sh" "$version") || die "fetch-envoy.sh $version failed"
  local r=$WORK/envoy-$version
  base_files "$r"
  mkdir -p "$r/etc/envoy"
  copy_with_libs "$r" "$bin" /usr/local/bin/envoy
  finish "envoy-$version" "meshcp.local/envoy:v$version" "$(hash_of "$bin")" \
    --entrypoint '["/usr/local/bin/envoy"]' --user 101:101 --label "meshcp.envoy.version=$version"
}

build_init() {
  local r=$WORK/init multi
  multi=$(readlink -f "$(command -v xtables-legacy-multi)") || die "xtables-legacy-multi not found (apt-get install iptables)"
  base_files "$r"
  busybox_applets "$r"
  copy_with_libs "$r" "$multi" /usr/sbin/xtables-legacy-multi
  # Matches and targets (owner, REDIRECT, …) are dlopen()ed from here, so ldd
  # does not list them.
  local xt
  for xt in /usr/lib/*/xtables; do mkdir -p "$r$xt" && cp -L "$xt"/*.so "$r$xt/"; done
  local t
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf xtables-legacy-multi "$r/usr/sbin/$t"
  done
  mkdir -p "$r/usr/local/bin" && install -m 0755 "$HERE/capture.sh" "$r/usr/local/bin/meshcp-capture"
  finish init meshcp.local/init:1 "$(hash_of "$multi" "$HERE/capture.sh")" \
    --entrypoint '["/bin/sh","/usr/local/bin/meshcp-capture"]'
}
