#!/usr/bin/env bash
# npm run demo: set the machine up, then run the round trip (server, register, backup, restore, verify).
# Extra arguments go to the demo: --keep (keep the work folder), --dir <folder>.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
exec npx --no-install tsx scripts/demo.ts "$@"
