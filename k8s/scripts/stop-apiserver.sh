#!/usr/bin/env bash
# Stop what start-apiserver.sh DIR started: kube-apiserver first, then etcd.
#
#   k8s/scripts/stop-apiserver.sh DIR [--keep-etcd]
#
# Each gets SIGTERM and up to $MESHCP_APISERVER_STOP_TIMEOUT seconds (default
# 30) to exit, then SIGKILL. DIR (keys, etcd data, logs) is kept, so a later
# start-apiserver.sh DIR finds the same objects. --keep-etcd stops only
# kube-apiserver. A DIR with nothing running is not an error.
set -euo pipefail

die() { echo "stop-apiserver.sh: $*" >&2; exit 1; }

KEEP_ETCD=
case $# in
  1) ;;
  2) [[ $2 == --keep-etcd ]] || die "usage: stop-apiserver.sh DIR [--keep-etcd]"; KEEP_ETCD=1 ;;
  *) die "usage: stop-apiserver.sh DIR [--keep-etcd]" ;;
esac
[[ -d $1 ]] || die "no such directory: $1"
DIR=$(cd "$1" && pwd)
TIMEOUT=${MESHCP_APISERVER_STOP_TIMEOUT:-30}
[[ -f $DIR/pids ]] || exit 0

alive() { # NAME PID: is PID a live process (not a zombie) running binary NAME?
  local exe=
  [[ -n $2 ]] || return 1
  IFS= read -r -d '' exe 2>/dev/null </proc/"$2"/cmdline || true
  [[ $exe == */"$1" ]]
}
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$DIR/pids"; }

stop() { # NAME
  local name=$1 pid i
  pid=$(pid_of "$name")
  alive "$name" "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < TIMEOUT * 10; i++)); do
    alive "$name" "$pid" || return 0
    sleep 0.1
  done
  echo "stop-apiserver.sh: $name (pid $pid) did not exit within ${TIMEOUT}s of SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$name" "$pid" || return 0
    sleep 0.1
  done
  die "$name (pid $pid) still runs after SIGKILL"
}

stop kube-apiserver
if [[ -n $KEEP_ETCD ]]; then
  printf 'etcd %s\nkube-apiserver \n' "$(pid_of etcd)" >"$DIR/pids"
else
  stop etcd
  rm -f "$DIR/pids"
fi
