#!/usr/bin/env bash
# The README's test command: installs what the tests need, runs every test, and
# ends with one line `N passed, N failed` counted from vitest's JSON report.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
source scripts/node.sh || { echo "no supported Node.js"; echo "0 passed, 1 failed"; exit 1; }
echo "node $(node --version) ($(command -v node))"
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p .test-output
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-output/vitest.json "$@"
status=$?
summary=$(node -e '
  const fs = require("fs");
  try {
    const r = JSON.parse(fs.readFileSync(".test-output/vitest.json", "utf8"));
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests + (r.numRuntimeErrorTestSuites || 0)} failed`);
  } catch { console.log("0 passed, 1 failed"); }')
echo "test run took $(( $(date +%s) - started ))s"
if [ $status -eq 0 ] && [ "${summary%% *}" = "0" ]; then status=1; fi  # a run that tests nothing fails
echo "$summary"
exit $status
