# shellcheck shell=bash
# The four-language demo's app images (sourced by build.sh), each from the
# sources in k8s/demo/<language>/ and a runtime found on this machine, plus
# busybox-static (a shell and wget for `kubectl exec`):
#   demo-node    meshcp.local/demo-node:1    Node 24 (scripts/node.sh) + server.mjs
#   demo-go      meshcp.local/demo-go:1      a static `go build` of main.go
#   demo-python  meshcp.local/demo-python:1  Debian's python3.11, its stdlib (no tests,
#                                            no tkinter/idle) + server.py
#   demo-java    meshcp.local/demo-java:1    a jlink runtime (java.base, java.net.http,
#                                            jdk.httpserver) of the host's JDK + Server.class
# All run as uid 65532 and listen on :8080.
DEMO=$ROOT/k8s/demo
DEMO_ENV=(--env PATH=/usr/local/bin:/usr/bin:/bin --env PORT=8080 --user 65532:65532 --expose 8080)

demo_base() { # ROOTFS
  base_files "$1"
  busybox_applets "$1"
  mkdir -p "$1/app" "$1/home/nonroot"
}

build_demo_node() {
  # shellcheck source=/dev/null
  source "$ROOT/scripts/node.sh" >/dev/null || die "scripts/node.sh failed"
  local r=$WORK/demo-node node
  node=$(readlink -f "$(command -v node)")
  demo_base "$r"
  copy_with_libs "$r" "$node" /usr/local/bin/node
  cp "$DEMO/node/server.mjs" "$r/app/"
  finish demo-node meshcp.local/demo-node:1 "$(hash_of "$node" "$DEMO/node")" \
    --entrypoint '["/usr/local/bin/node","/app/server.mjs"]' "${DEMO_ENV[@]}"
}

build_demo_go() {
  local r=$WORK/demo-go
  demo_base "$r"
  (cd "$DEMO/go" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' -o "$r/app/server" .) ||
    die "go build of k8s/demo/go failed"
  finish demo-go meshcp.local/demo-go:1 "$(hash_of "$r/app/server")" --entrypoint '["/app/server"]' "${DEMO_ENV[@]}"
}

build_demo_python() {
  local r=$WORK/demo-python python stdlib so
  python=$(readlink -f /usr/bin/python3) || die "/usr/bin/python3 missing (apt-get install python3)"
  stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
  demo_base "$r"
  copy_with_libs "$r" "$python" /usr/bin/python3
  mkdir -p "$r$stdlib"
  tar -C "$stdlib" --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter --exclude=turtledemo \
    --exclude=ensurepip --exclude=lib2to3 --exclude=__pycache__ --exclude=dist-packages --exclude=site-packages -cf - . |
    tar -C "$r$stdlib" -xf -
  # Extension modules (lib-dynload) pull in libraries ldd does not see from the interpreter.
  for so in "$r$stdlib"/lib-dynload/*.so; do copy_with_libs "$r" "$so" "${so#"$r"}"; done
  cp "$DEMO/python/server.py" "$r/app/"
  env -i "$(command -v chroot)" "$r" /usr/bin/python3 -c 'import http.server, urllib.request, json' ||
    die "python3 does not run inside the demo-python rootfs"
  finish demo-python meshcp.local/demo-python:1 "$(hash_of "$python" "$DEMO/python")" \
    --entrypoint '["/usr/bin/python3","-u","/app/server.py"]' --env PYTHONDONTWRITEBYTECODE=1 "${DEMO_ENV[@]}"
}

build_demo_java() {
  local r=$WORK/demo-java javac jlink lib
  javac=$(command -v javac) || die "javac not found (apt-get install openjdk-17-jdk-headless)"
  jlink=$(command -v jlink) || die "jlink not found"
  demo_base "$r"
  mkdir -p "$WORK/java-classes"
  "$javac" -d "$WORK/java-classes" "$DEMO/java/Server.java" || die "javac of k8s/demo/java failed"
  cp "$WORK/java-classes"/*.class "$r/app/"
  local hash
  hash=$(hash_of "$(readlink -f "$javac")" "$DEMO/java")
  if [[ -f $OUT/demo-java.tar && $(cat "$OUT/demo-java.tar.inputs" 2>/dev/null) == "meshcp.local/demo-java:1 $hash" ]]; then
    echo "meshcp.local/demo-java:1 $OUT/demo-java.tar"; return 0
  fi
  "$jlink" --add-modules java.base,java.net.http,jdk.httpserver --strip-debug --no-header-files --no-man-pages \
    --output "$r/opt/java" || die "jlink failed"
  # The JDK's own libraries find each other by RPATH/dlopen; copy the system
  # libraries they need (libz, libstdc++, ...), resolved with the runtime's dirs on the path.
  for lib in "$r/opt/java/bin/java" "$r"/opt/java/lib/*.so "$r"/opt/java/lib/server/*.so; do
    LD_LIBRARY_PATH=$r/opt/java/lib:$r/opt/java/lib/server ldd "$lib" 2>/dev/null |
      awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }'
  done | sort -u | grep -v "^$r/" | while read -r lib; do
    mkdir -p "$r$(dirname "$lib")" && cp -L "$lib" "$r$lib"
  done
  # (LD_LIBRARY_PATH: without /proc in the chroot, the loader cannot expand $ORIGIN.)
  env -i LD_LIBRARY_PATH=/opt/java/lib "$(command -v chroot)" "$r" /opt/java/bin/java -Xshare:off -version >/dev/null 2>&1 ||
    die "java does not run inside the demo-java rootfs"
  finish demo-java meshcp.local/demo-java:1 "$hash" \
    --entrypoint '["/opt/java/bin/java","-XX:TieredStopAtLevel=1","-Xmx64m","-Xss512k","-cp","/app","Server"]' "${DEMO_ENV[@]}"
}

# demo-grpc-go  meshcp.local/demo-grpc-go:1  the proxyless gRPC program k8s/demo/grpc-go
#   (grpc-go from the Go module proxy), static: `demo-grpc server --port N --name X`
#   or `demo-grpc client xds:///service.namespace:port COUNT`.
build_demo_grpc_go() {
  local r=$WORK/demo-grpc-go
  demo_base "$r"
  mkdir -p "$r/usr/local/bin"
  (cd "$DEMO/grpc-go" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' -o "$r/usr/local/bin/demo-grpc" .) ||
    die "go build of k8s/demo/grpc-go failed"
  finish demo-grpc-go meshcp.local/demo-grpc-go:1 "$(hash_of "$r/usr/local/bin/demo-grpc")" \
    --entrypoint '["/usr/local/bin/demo-grpc"]' --env PATH=/usr/local/bin:/usr/bin:/bin --user 65532:65532
}
