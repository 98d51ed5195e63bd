#!/usr/bin/env bash
# Install podman + runc and write the containers.conf that makes podman work on
# this kernel (crun fails: setrlimit on hybrid cgroups). Idempotent.
#
# Usage: install-podman.sh            # installs if needed, prints env line
#        eval "$(install-podman.sh --env)"   # only print the export line
set -euo pipefail

die() { echo "install-podman: error: $*" >&2; exit 1; }
log() { echo "install-podman: $*" >&2; }

CACHE_ROOT="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
CONF_DIR="$CACHE_ROOT/podman"
CONF="$CONF_DIR/containers.conf"

# Packages: podman itself, runc (crun does not work here), plus the helpers podman
# pulls in or needs for the default bridge network (netavark/aardvark-dns come as
# podman dependencies on bookworm) and rootless use (uidmap, slirp4netns).
PKGS=(podman runc uidmap slirp4netns fuse-overlayfs iptables)

want_env_only=0
[[ "${1:-}" == "--env" ]] && want_env_only=1

if [[ $want_env_only -eq 0 ]]; then
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null || die "not root and no sudo; cannot install ${missing[*]}"
      SUDO="sudo"
    fi
    log "installing: ${missing[*]}"
    $SUDO apt-get update -q >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${PKGS[@]}" >&2 \
      || die "apt-get install failed"
  else
    log "packages already installed: ${PKGS[*]}"
  fi
  command -v podman >/dev/null || die "podman not on PATH after install"
  command -v runc   >/dev/null || die "runc not on PATH after install"
fi

mkdir -p "$CONF_DIR"
desired=$(cat <<'CONF'
# Written by compat-matrix/scripts/install-podman.sh. Use with
#   CONTAINERS_CONF=<this file> podman --runtime runc ...
[containers]
# podman's default ulimits (nofile 1048576) exceed the host hard limit and cannot be
# raised here: runc fails with "error setting rlimit type 7". Inherit the host's.
default_ulimits = []

[engine]
runtime = "runc"
CONF
)
if [[ ! -f "$CONF" ]] || [[ "$(cat "$CONF")" != "$desired" ]]; then
  printf '%s\n' "$desired" > "$CONF"
  log "wrote $CONF"
fi

echo "export CONTAINERS_CONF=$CONF"
if [[ $want_env_only -eq 0 ]]; then
  log "invoke podman as: podman --runtime runc ..."
fi
