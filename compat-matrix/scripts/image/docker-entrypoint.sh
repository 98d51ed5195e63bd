#!/bin/sh
# The entrypoint of the images build-envoy-image.sh makes: meshcp's own script
# with the contract of Envoy's ci/docker-entrypoint.sh (the official
# envoyproxy/envoy:vX.Y.Z images), so a run here behaves as one on real images:
#  - arguments that start with '-' are Envoy's: `envoy` is put in front of them;
#  - $loglevel, when set, becomes `--log-level $loglevel`;
#  - unless ENVOY_UID is 0, the command runs as the `envoy` user (uid 101, gid 101,
#    or ENVOY_UID / ENVOY_GID), after handing it the container's stdout and stderr.
# Upstream switches user with su-exec; this image has util-linux's setpriv.
set -e

case "$1" in
  -*) set -- envoy "$@" ;;
esac

if [ "$1" = envoy ] && [ -n "${loglevel:-}" ]; then
  set -- "$@" --log-level "$loglevel"
fi

if [ "${ENVOY_UID:-}" = 0 ]; then
  exec "$@"
fi
uid="${ENVOY_UID:-101}"
gid="${ENVOY_GID:-101}"
# Envoy may reopen /dev/stdout (an access log path); the pipes belong to root.
chown "$uid:$gid" /dev/stdout /dev/stderr 2>/dev/null || true
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
