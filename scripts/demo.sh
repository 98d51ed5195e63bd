#!/usr/bin/env bash
# The README's first command: installs what the demo needs, then runs meshcp on the
# embedded default (examples/mesh.yaml) with a real Envoy sidecar and live traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node.sh   # a supported Node.js first on PATH (setup.sh runs in its own shell)
bash scripts/setup.sh --minimal
exec node e2e/dist/demo.js "$@"
