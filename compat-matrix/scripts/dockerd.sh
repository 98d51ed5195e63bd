#!/usr/bin/env bash
# A private Docker daemon for the compat matrix: Debian's docker.io, started on
# its own socket, data root, exec root and pidfile, so it never touches (or
# depends on) a system daemon. Idempotent.
#
# Usage: dockerd.sh install   apt-get install docker.io when dockerd is missing (no service is started)
#        dockerd.sh start     install if needed, start the private daemon unless it already answers;
#                             prints `export DOCKER_HOST=unix://…` on stdout
#        dockerd.sh stop      stop it by its pid, unmount what it left under its exec root, remove the exec root
#        dockerd.sh env       print the export line only
#        dockerd.sh status    exit 0 when the private daemon answers
# Env:   MESHCP_CACHE          (default ~/.cache/meshcp): the data root lives in $MESHCP_CACHE/docker/data,
#                              so images loaded once survive a stop/start
#        MESHCP_DOCKERD_RUN    (default /run/meshcp-dockerd): socket, pidfile, log and exec root
#                              (kept short: containerd's socket paths must fit in 108 bytes)
# Needs root (dockerd does): run as root or with sudo.
set -euo pipefail

die() { echo "dockerd.sh: error: $*" >&2; exit 1; }
log() { echo "dockerd.sh: $*" >&2; }

CACHE_ROOT="${MESHCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshcp}"
DATA_ROOT="$CACHE_ROOT/docker/data"
RUN_DIR="${MESHCP_DOCKERD_RUN:-/run/meshcp-dockerd}"
EXEC_ROOT="$RUN_DIR/exec"
SOCKET="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
LOGFILE="$RUN_DIR/dockerd.log"
export DOCKER_HOST="unix://$SOCKET"

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "dockerd needs root: run as root or install sudo"
  SUDO="sudo"
fi

install() {
  if command -v dockerd >/dev/null && command -v containerd >/dev/null && command -v runc >/dev/null; then
    return 0
  fi
  command -v apt-get >/dev/null || die "dockerd not found and no apt-get: install docker.io (dockerd, containerd, runc) by hand"
  log "installing docker.io (Debian's Docker 20.10) with apt-get"
  # Wait for a concurrent apt run instead of failing on its lock.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || die "apt-get update failed"
  # policy-rc.d (when present) keeps the package from starting a system daemon; we never use one.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends docker.io >&2 \
    || die "apt-get install docker.io failed"
  command -v dockerd >/dev/null || die "dockerd not on PATH after installing docker.io"
}

pid_alive() {
  [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

answers() {
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

start() {
  install
  if pid_alive && answers; then
    log "already running (pid $(cat "$PIDFILE"), $DOCKER_HOST)"
    echo "export DOCKER_HOST=$DOCKER_HOST"
    return 0
  fi
  pid_alive && stop
  $SUDO mkdir -p "$RUN_DIR" "$EXEC_ROOT" "$DATA_ROOT"
  # --iptables=false --bridge=none: no host firewall or bridge changes; cells use --network host.
  # --pidfile/--exec-root/--data-root/--host: nothing shared with a system dockerd (/var/run/docker*).
  $SUDO setsid dockerd \
    --host "$DOCKER_HOST" \
    --data-root "$DATA_ROOT" \
    --exec-root "$EXEC_ROOT" \
    --pidfile "$PIDFILE" \
    --iptables=false --ip-masq=false --bridge=none \
    --userland-proxy=false \
    --log-level warn \
    >"$LOGFILE" 2>&1 </dev/null &
  local waited=0
  until answers; do
    sleep 0.5
    waited=$((waited + 1))
    if ((waited > 120)); then
      tail -n 20 "$LOGFILE" >&2 || true
      die "dockerd did not answer on $SOCKET within 60 s (log: $LOGFILE)"
    fi
  done
  log "started dockerd $(docker version --format '{{.Server.Version}}') pid $(cat "$PIDFILE") on $DOCKER_HOST (data root $DATA_ROOT)"
  echo "export DOCKER_HOST=$DOCKER_HOST"
}

stop() {
  if pid_alive; then
    local pid
    pid="$(cat "$PIDFILE")"
    $SUDO kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd $pid ignored SIGTERM for 30 s; killing it"
      $SUDO kill -KILL "$pid" || true
    fi
    log "stopped dockerd (pid $pid)"
  fi
  # dockerd leaves mounts under its exec root (netns/…, containerd state); unmount them
  # deepest first, or removing the directory fails with EBUSY.
  if [[ -d "$EXEC_ROOT" ]]; then
    awk -v root="$EXEC_ROOT" 'index($2, root) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r mnt; do
      $SUDO umount "$mnt" 2>/dev/null || $SUDO umount -l "$mnt" || log "could not unmount $mnt"
    done
  fi
  $SUDO rm -rf "$EXEC_ROOT" "$SOCKET" "$PIDFILE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  status) pid_alive && answers ;;
  *) die "usage: $0 install|start|stop|env|status" ;;
esac
