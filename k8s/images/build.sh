#!/usr/bin/env bash
# Assemble meshcp's cluster images from files on this machine (no registry, no
# container engine) and write each as a `docker save`-style archive:
#
#   k8s/images/build.sh NAME...      NAME: pause busybox meshcp envoy[@X.Y.Z] init coredns demo-*
#
# prints "REF ARCHIVE" per image. Archives go to
# ${MESHCP_CACHE:-~/.cache/meshcp}/images/; an archive is rebuilt only when its
# inputs changed (a hash of them is kept beside it). Import them into the
# cluster's containerd with `k8s/scripts/cluster.sh load ARCHIVE...`.
#
#   pause    meshcp.local/pause:3       the pod sandbox: busybox-static `sleep`
#   busybox  meshcp.local/busybox:1     busybox-static with its applets (tests)
#   meshcp   meshcp.local/meshcp:DEV    what k8s/Containerfile builds (see meshcp.sh)
#   envoy    meshcp.local/envoy:vX.Y.Z  the Envoy sidecar (envoy + ldd libs)
#   init     meshcp.local/init:1        the capture init container (iptables)
#   coredns  meshcp.local/coredns:X.Y.Z the cluster DNS (CoreDNS from its Go module)
#   demo-node demo-go demo-python demo-java   the four-language demo (see demo.sh)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${MESHCP_CACHE:-$HOME/.cache/meshcp}
OUT=$CACHE/images
mkdir -p "$OUT"
die() { echo "images/build.sh: $*" >&2; exit 1; }
BUSYBOX=${MESHCP_BUSYBOX:-/bin/busybox}

# copy_with_libs ROOTFS BINARY DEST: BINARY at DEST plus every library `ldd`
# lists, at the exact path ldd printed (where the loader looks).
copy_with_libs() {
  local r=$1 bin=$2 dest=$3 out lib
  mkdir -p "$r$(dirname "$dest")"
  [[ $bin -ef $r$dest ]] || cp -L "$bin" "$r$dest" # already in the rootfs: only its libraries
  out=$(ldd "$bin" 2>&1) || return 0 # static binary: nothing more
  grep -q 'not found' <<<"$out" && die "missing libraries for $bin: $out"
  while read -r lib; do
    [[ -n $lib ]] || continue
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$out" | sort -u)
}

base_files() { # ROOTFS: /etc/passwd, group, tmp and the mount points
  local r=$1
  mkdir -p "$r"/{etc,tmp,proc,sys,dev,run,var/tmp}
  chmod 1777 "$r/tmp" "$r/var/tmp"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'envoy:x:101:101:envoy:/tmp:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' >"$r/etc/passwd"
  printf '%s\n' 'root:x:0:' 'envoy:x:101:' 'nonroot:x:65532:' 'nogroup:x:65534:' >"$r/etc/group"
  : >"$r/etc/hosts"; : >"$r/etc/resolv.conf"; : >"$r/etc/hostname"
  echo 'hosts: files dns' >"$r/etc/nsswitch.conf"
}

busybox_applets() { # ROOTFS: busybox-static and a symlink per applet in /bin
  local r=$1 applet
  [[ -x $BUSYBOX ]] || die "$BUSYBOX missing (apt-get install busybox-static)"
  file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic' ||
    die "$BUSYBOX is not static (apt-get install busybox-static)"
  mkdir -p "$r/bin"
  cp -L "$BUSYBOX" "$r/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$r/bin/$applet"
  done
}

# finish NAME REF INPUT_HASH MKIMAGE_ARGS...: write the archive unless the
# recorded hash of its inputs matches.
finish() {
  local name=$1 ref=$2 hash=$3; shift 3
  local tar=$OUT/$name.tar
  if [[ -f $tar && -f $tar.inputs && $(cat "$tar.inputs") == "$ref $hash" ]]; then
    echo "$ref $tar"; return 0
  fi
  python3 "$HERE/mkimage.py" --rootfs "$WORK/$name" --tag "$ref" --out "$tar" "$@" >/dev/null
  echo "$ref $hash" >"$tar.inputs"
  echo "$ref $tar"
}
hash_of() { # files/dirs... → one sha256 over their content
  { echo "recipe $(sha256sum "$HERE"/*.sh "$HERE/mkimage.py" | cut -d' ' -f1 | tr '\n' ' ')"
    for p in "$@"; do
      if [[ -d $p ]]; then (cd "$p" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); else sha256sum "$(readlink -f "$p")"; fi
    done; } | sha256sum | cut -d' ' -f1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshcp-images.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

build_pause() {
  local r=$WORK/pause
  mkdir -p "$r/bin"; cp -L "$BUSYBOX" "$r/bin/busybox"
  finish pause meshcp.local/pause:3 "$(hash_of "$BUSYBOX")" \
    --entrypoint '["/bin/busybox","sleep","2147483647"]' --user 65535:65535
}
build_busybox() {
  local r=$WORK/busybox
  base_files "$r"; busybox_applets "$r"
  finish busybox meshcp.local/busybox:1 "$(hash_of "$BUSYBOX")" --cmd '["/bin/sh"]'
}

for name in "$@"; do
  case $name in
    pause) build_pause ;;
    busybox) build_busybox ;;
    meshcp) source "$HERE/meshcp.sh"; build_meshcp ;;
    envoy|envoy@*) source "$HERE/envoy.sh"; build_envoy "${name#envoy}" ;;
    init) source "$HERE/envoy.sh"; build_init ;;
    coredns) source "$HERE/coredns.sh"; build_coredns ;;
    echo) source "$HERE/echo.sh"; build_echo ;;
    demo-node|demo-go|demo-python|demo-java|demo-grpc-go) source "$HERE/demo.sh"; "build_${name//-/_}" ;;
    *) die "unknown image '$name' (pause busybox meshcp envoy[@X.Y.Z] init coredns demo-node demo-go demo-python demo-java demo-grpc-go)" ;;
  esac
done
