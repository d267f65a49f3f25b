#!/usr/bin/env bash
# What `npm run bench` needs beyond the base setup: GNU time (/usr/bin/time, Debian `time`) to measure
# wall/CPU/peak RSS of whole processes, and restic, the peer it is compared with. Idempotent; fast when done.
# Usage: scripts/setup.d/bench.sh demo|test|bench   (does nothing except for bench)
set -euo pipefail
purpose="${1:-test}"
[ "$purpose" = bench ] || exit 0

# shellcheck source=../lib/debian.sh
source "$(dirname "$0")/../lib/debian.sh"
need_debian time /usr/bin/time
need_debian restic restic
ensure_debian_packages "setup(bench)" "${debian_missing[@]}"
