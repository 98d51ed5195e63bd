#!/usr/bin/env bash
# Builds or installs one proxyless gRPC test program from its own registry, once:
#   install.sh grpc-go 1.85.0 | grpc-java 1.85.1 | grpcio 1.85.1 | grpc-js-xds 1.14.1
# prints the path of an executable `run` (run client xds:///T | run server --port N --name X).
# Cached under ${MESHCP_CACHE:-~/.cache/meshcp}/grpc-clients/IMPL@VERSION, keyed by this
# folder's sources: a changed program is rebuilt, an unchanged one is reused.
set -euo pipefail
impl=${1:?implementation}
version=${2:?version}
here=$(cd "$(dirname "$0")" && pwd)
cache=${MESHCP_CACHE:-$HOME/.cache/meshcp}/grpc-clients
dir=$cache/$impl@$version
case $impl in
  grpc-go) src=go ;;
  grpc-java) src=java ;;
  grpcio) src=python ;;
  grpc-js-xds) src=node ;;
  *) echo "unknown implementation $impl (grpc-go, grpc-java, grpcio, grpc-js-xds)" >&2; exit 2 ;;
esac
stamp=$( (cat "$here/$src"/* "$0"; echo "$impl@$version") | sha256sum | cut -c1-16)
if [ -x "$dir/run" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$dir/run"
  exit 0
fi
mkdir -p "$cache"
lock=$cache/.$impl@$version.lock
exec 9>"$lock"
flock 9
if [ -x "$dir/run" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$dir/run"
  exit 0
fi
work=$(mktemp -d "$cache/.build-$impl@$version.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/build.log
set +e
(
  set -euo pipefail
  case $impl in
    grpc-go)
      cp "$here/go/main.go" "$work/"
      cd "$work"
      printf 'module meshcp.io/grpcecho\n\ngo 1.24\n' >go.mod
      go get "google.golang.org/grpc@v$version"
      go mod tidy
      # Tidy may raise grpc to satisfy another module: the binary must be the version asked for.
      go list -m google.golang.org/grpc | grep -qx "google.golang.org/grpc v$version"
      CGO_ENABLED=0 go build -trimpath -o meshcp-grpc-go .
      mkdir -p "$work/out"
      mv meshcp-grpc-go "$work/out/"
      printf '#!/bin/sh\nexec "$(dirname "$0")/meshcp-grpc-go" "$@"\n' >"$work/out/run"
      ;;
    grpc-java)
      cd "$work"
      sed "s/@VERSION@/$version/g" "$here/java/pom.xml.in" >pom.xml
      mvn -q -B dependency:copy-dependencies -DoutputDirectory="$work/out/lib" -DincludeScope=runtime
      mkdir -p "$work/out/classes"
      javac -nowarn -d "$work/out/classes" -cp "$work/out/lib/*" "$here/java/Echo.java"
      printf '#!/bin/sh\nd=$(dirname "$0")\nexec java -XX:TieredStopAtLevel=1 -Xss512k -cp "$d/classes:$d/lib/*" Echo "$@"\n' >"$work/out/run"
      ;;
    grpcio)
      python3 -m venv "$work/out/venv"
      "$work/out/venv/bin/pip" install -q --disable-pip-version-check "grpcio==$version"
      cp "$here/python/echo.py" "$work/out/"
      printf '#!/bin/sh\nd=$(dirname "$0")\nexec "$d/venv/bin/python" -u "$d/echo.py" "$@"\n' >"$work/out/run"
      ;;
    grpc-js-xds)
      mkdir -p "$work/out"
      cd "$work/out"
      echo '{"private":true}' >package.json
      npm install -s --no-audit --no-fund "@grpc/grpc-js-xds@$version" @grpc/grpc-js@^1
      cp "$here/node/echo.cjs" "$work/out/"
      printf '#!/bin/sh\nd=$(dirname "$0")\nexec node "$d/echo.cjs" "$@"\n' >"$work/out/run"
      ;;
  esac
) >"$log" 2>&1
status=$?
set -e
if [ $status -ne 0 ] || [ ! -e "$work/out/run" ]; then
  echo "building $impl@$version failed:" >&2
  tail -30 "$log" >&2
  exit 1
fi
chmod +x "$work/out/run"
echo "$stamp" >"$work/out/stamp"
rm -rf "$dir"
mv "$work/out" "$dir"
echo "$dir/run"
