#!/usr/bin/env bash
# Lists releases of each proxyless gRPC client newer than the newest one in
# compat-matrix/grpc-clients.json: one registry look-up per client package, with
# the ordinary clients (go, npm, pip, mvn's versions plugin). Prints a
# Markdown list; a new release is a candidate for the list, not run automatically.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
newest() { node -e "const d=require('$here/grpc-clients.json').clients['$1'];console.log(d[d.length-1])"; }
newer() { # newer CURRENT V1 V2 …: the versions above CURRENT (plain X.Y.Z only)
  local current=$1; shift
  printf '%s\n' "$@" | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | awk -v c="$current" '
    function cmp(a, b,  x, y, i) { split(a, x, "."); split(b, y, "."); for (i = 1; i <= 3; i++) if (x[i] + 0 != y[i] + 0) return x[i] + 0 < y[i] + 0 ? -1 : 1; return 0 }
    cmp($0, c) > 0' | tr '\n' ' '
}
echo "### Newer gRPC client releases than compat-matrix/grpc-clients.json"
go_versions=$(cd "$(mktemp -d)" && go list -m -versions google.golang.org/grpc 2>/dev/null | cut -d' ' -f2- | tr ' ' '\n' | sed 's/^v//')
echo "- grpc-go (after $(newest grpc-go)): $(newer "$(newest grpc-go)" $go_versions)"
npm_versions=$(npm view @grpc/grpc-js-xds versions --json 2>/dev/null | tr -d '[]", ' | tr '\n' ' ')
echo "- @grpc/grpc-js-xds (after $(newest grpc-js-xds)): $(newer "$(newest grpc-js-xds)" $npm_versions)"
pip_versions=$(pip index versions grpcio 2>/dev/null | sed -n 's/^Available versions: //p' | tr -d ',')
echo "- grpcio (after $(newest grpcio)): $(newer "$(newest grpcio)" $pip_versions)"
# Maven: the versions plugin reads Central's metadata for a pom that names the newest listed grpc-xds.
pom=$(mktemp -d)
sed "s/@VERSION@/$(newest grpc-java)/g" "$here/clients/java/pom.xml.in" >"$pom/pom.xml"
java_update=$(cd "$pom" && mvn -B org.codehaus.mojo:versions-maven-plugin:2.17.1:display-dependency-updates 2>/dev/null |
  sed -n 's/.*io\.grpc:grpc-xds[ .]*[0-9.]* -> \([0-9.]*\).*/\1/p' | head -1)
echo "- grpc-java (after $(newest grpc-java)): ${java_update:-}"
rm -rf "$pom"
