#!/usr/bin/env bash
# Build a minimal local OCI image localhost/meshcp/envoy:vX.Y.Z holding only the
# Envoy binary, the shared libraries `ldd` lists (plus the dynamic loader) and a
# few runtime files (/etc/passwd, /etc/group, /tmp). The rootfs directory is
# tarred and `podman import`ed. Idempotent: an existing image is kept when its
# labels match the sha256 of the binary and of the rootfs contents.
# Prints the image ref on stdout (logs go to stderr).
#
# Usage: build-envoy-image.sh X.Y.Z
# Env:   CONTAINERS_CONF (default: the file written by install-podman.sh)
#        ENVOY_BINARY    (default: fetch-envoy.sh X.Y.Z) the binary to package
#        MESHCP_CACHE    (default: ~/.cache/meshcp)
#        FORCE=1         rebuild even if the image matches
#
# Image: ENTRYPOINT ["/usr/local/bin/envoy"]
#        CMD ["-c","/etc/envoy/envoy.yaml","--disable-hot-restart","--log-level","info"]
#        (--disable-hot-restart: with --network host every container shares one
#        abstract-socket namespace, and a second Envoy on the default base-id
#        dies with "unable to bind domain socket with base_id=0". If you pass
#        your own args, pass --disable-hot-restart or a distinct --base-id.)
#        runs as root by default; user `envoy` (101:101) exists for --user envoy.
set -euo pipefail

die() { echo "build-envoy-image: error: $*" >&2; exit 1; }
log() { echo "build-envoy-image: $*" >&2; }

[[ $# -eq 1 ]] || die "usage: $0 X.Y.Z"
VERSION="${1#v}"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version must look like X.Y.Z, got '$1'"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$CACHE_ROOT/podman/containers.conf}"
[[ -f "$CONTAINERS_CONF" ]] || die "$CONTAINERS_CONF missing; run $HERE/install-podman.sh first"
command -v podman >/dev/null || die "podman not found; run $HERE/install-podman.sh first"
command -v ldd >/dev/null || die "ldd not found"
PODMAN=(podman --runtime runc)

IMAGE="localhost/meshcp/envoy:v$VERSION"
# Bump when the rootfs layout, runtime files or --change settings below change,
# so existing images are rebuilt.
RECIPE=2
if [[ -n "${ENVOY_BINARY:-}" ]]; then
  ENVOY="$ENVOY_BINARY"
else
  ENVOY="$("$HERE/fetch-envoy.sh" "$VERSION")" || die "fetch-envoy.sh $VERSION failed"
fi
[[ -x "$ENVOY" ]] || die "envoy binary $ENVOY not executable"

# --- resolve the files that go into the rootfs -------------------------------
# ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the
# loader; linux-vdso has no file.
ldd_out="$(ldd "$ENVOY" 2>&1)" || die "ldd $ENVOY failed: $ldd_out"
grep -q 'not found' <<<"$ldd_out" && die "missing libraries for $ENVOY:"$'\n'"$ldd_out"
mapfile -t LIBS < <(awk '
  $2 == "=>" && $3 ~ /^\// { print $3; next }
  $1 ~ /^\// { print $1 }' <<<"$ldd_out" | sort -u)
((${#LIBS[@]})) || die "ldd listed no libraries for $ENVOY (static binary?)"
grep -q '/ld-linux' <<<"$(printf '%s\n' "${LIBS[@]}")" || die "ldd did not list a dynamic loader: $ldd_out"

ENVOY_SHA="$(sha256sum "$ENVOY" | cut -d' ' -f1)"
# The rootfs hash covers the recipe, the binary and every library (content +
# path), so a host libc upgrade or a recipe change also triggers a rebuild.
ROOTFS_SHA="$( { echo "recipe $RECIPE"; echo "envoy $ENVOY_SHA"; for l in "${LIBS[@]}"; do
  echo "$l $(sha256sum "$(readlink -f "$l")" | cut -d' ' -f1)"; done; } | sha256sum | cut -d' ' -f1)"

if [[ "${FORCE:-0}" != 1 ]] && "${PODMAN[@]}" image exists "$IMAGE" 2>/dev/null; then
  labels="$("${PODMAN[@]}" image inspect --format \
    '{{index .Labels "meshcp.envoy.sha256"}} {{index .Labels "meshcp.rootfs.sha256"}}' "$IMAGE")" \
    || die "podman image inspect $IMAGE failed"
  if [[ "$labels" == "$ENVOY_SHA $ROOTFS_SHA" ]]; then
    log "up to date: $IMAGE (envoy sha256 $ENVOY_SHA)"
    echo "$IMAGE"
    exit 0
  fi
  log "rebuilding $IMAGE: labels '$labels' != '$ENVOY_SHA $ROOTFS_SHA'"
fi
OLD_ID="$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"

# --- assemble the rootfs -----------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/meshcp-envoy-image.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
R="$WORK/rootfs"
mkdir -p "$R"/{usr/local/bin,etc/envoy,tmp,proc,sys,dev,run,var/tmp}
chmod 1777 "$R/tmp" "$R/var/tmp"
install -m 0755 "$ENVOY" "$R/usr/local/bin/envoy"
for l in "${LIBS[@]}"; do
  # Copy the real file (cp -L) to the exact path ldd printed: that is where the
  # loader (and the binary's PT_INTERP) look, whatever the host's symlinks are.
  mkdir -p "$R$(dirname "$l")"
  cp -L "$l" "$R$l"
done
cat > "$R/etc/passwd" <<'P'
root:x:0:0:root:/root:/sbin/nologin
envoy:x:101:101:envoy:/tmp:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
P
cat > "$R/etc/group" <<'G'
root:x:0:
envoy:x:101:
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
fi

tar -C "$R" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$WORK/rootfs.tar" . \
  || die "tar of rootfs failed"

log "importing $IMAGE ($(du -h "$WORK/rootfs.tar" | cut -f1) tar)"
"${PODMAN[@]}" import \
  --change 'ENTRYPOINT ["/usr/local/bin/envoy"]' \
  --change 'CMD ["-c", "/etc/envoy/envoy.yaml", "--disable-hot-restart", "--log-level", "info"]' \
  --change 'WORKDIR /' \
  --change 'STOPSIGNAL SIGTERM' \
  --change "LABEL meshcp.envoy.version=$VERSION" \
  --change "LABEL meshcp.envoy.sha256=$ENVOY_SHA" \
  --change "LABEL meshcp.rootfs.sha256=$ROOTFS_SHA" \
  --message "meshcp envoy $VERSION" --quiet \
  "$WORK/rootfs.tar" "$IMAGE" >/dev/null \
  || die "podman import failed"

got="$("${PODMAN[@]}" image inspect --format '{{index .Labels "meshcp.envoy.sha256"}}' "$IMAGE")" \
  || die "image $IMAGE not found after import"
[[ "$got" == "$ENVOY_SHA" ]] || die "imported image label '$got' != $ENVOY_SHA"
NEW_ID="$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$IMAGE")"
if [[ -n "$OLD_ID" && "$OLD_ID" != "$NEW_ID" ]]; then
  # The previous build is now untagged; drop it unless a container still uses it.
  "${PODMAN[@]}" rmi "$OLD_ID" >/dev/null 2>&1 || log "note: old image ${OLD_ID:0:12} kept (still in use?)"
fi
log "built $IMAGE (envoy sha256 $ENVOY_SHA)"
echo "$IMAGE"
