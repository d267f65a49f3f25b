#!/usr/bin/env bash
# What `npm run bench` needs beyond the base setup: GNU time (/usr/bin/time, Debian `time`) to measure
# wall/CPU/peak RSS of whole processes, and restic, the peer it is compared with. Idempotent; fast when done.
# Usage: scripts/setup.d/bench.sh demo|test|bench   (does nothing except for bench)
set -euo pipefail
purpose="${1:-test}"
[ "$purpose" = bench ] || exit 0

missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v restic >/dev/null 2>&1 || missing+=(restic)
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs="${missing[*]}"
if [ "$(id -u)" = 0 ]; then
  echo "setup(bench): installing Debian packages: $pkgs"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
else
  echo "setup(bench): missing Debian packages. Run as root:"
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $pkgs"
  exit 1
fi
