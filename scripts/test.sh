#!/usr/bin/env bash
# The whole test suite: set up, type-check, run vitest, print "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test || exit 1
node scripts/lint.mjs || { echo "tests: 0 passed, 1 failed"; exit 1; }
npx tsc -p tsconfig.json --noEmit || { echo "tests: 0 passed, 1 failed"; exit 1; }
mkdir -p test-results
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
node scripts/summary.mjs test-results/vitest.json
