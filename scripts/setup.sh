#!/usr/bin/env bash
# Installs what Holdfast needs on a Debian machine: npm packages, Debian tools (apt when root,
# otherwise prints the exact command), and for the test suite the headless VS Code tools.
# Usage: scripts/setup.sh demo|test
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-test}"

# Debian packages by command they provide. Demo needs only the base set; tests need all.
declare -A demo_tools=( [wixl]=wixl [msiinfo]=msitools [msibuild]=msitools [gcab]=gcab
  [x86_64-w64-mingw32-gcc]=gcc-mingw-w64-x86-64 [osslsigncode]=osslsigncode [openssl]=openssl )
declare -A test_tools=( [wine]=wine [/usr/lib/wine/wine64]=wine64 [restic]=restic [danted]=dante-server [squid]=squid
  [tinyproxy]=tinyproxy [bsdtar]=libarchive-tools [7zz]=7zip [cpio]=cpio [chromium]=chromium [rg]=ripgrep
  [nft]=nftables [iptables-restore]=iptables [xmllint]=libxml2-utils [krb5-config]=libkrb5-dev [socat]=socat
  [inotifywait]=inotify-tools [softhsm2-util]=softhsm2 [pkcs11-tool]=opensc [getfattr]=attr
  [/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so]=libengine-pkcs11-openssl )

# shellcheck source=lib/debian.sh
source scripts/lib/debian.sh
check() { local -n tools=$1; for cmd in "${!tools[@]}"; do need_debian "${tools[$cmd]}" "$cmd"; done; }
check demo_tools
if [ "$purpose" = test ] || [ "$purpose" = bench ]; then check test_tools; fi
ensure_debian_packages setup "${debian_missing[@]}"

# npm packages: install when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
fi

for hook in scripts/setup.d/*.sh; do
  [ -e "$hook" ] || continue
  bash "$hook" "$purpose"
done
node scripts/build.mjs
