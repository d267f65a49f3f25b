#!/usr/bin/env bash
# Readers the macOS pkg tests use to check our xar/BOM/cpio writers: bsdtar, 7-Zip (7z or Debian's 7zz),
# cpio and xmllint. Building a pkg needs none of them. Idempotent; fast when already done.
# Usage: scripts/setup.d/pkg.sh demo|test   (does nothing for demo)
set -euo pipefail
purpose="${1:-test}"
[ "$purpose" = test ] || [ "$purpose" = bench ] || exit 0

missing=()
command -v bsdtar >/dev/null 2>&1 || missing+=(libarchive-tools)
command -v 7z >/dev/null 2>&1 || command -v 7zz >/dev/null 2>&1 || missing+=(7zip)
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs="${missing[*]}"
if [ "$(id -u)" = 0 ]; then
  echo "setup(pkg): installing Debian packages: $pkgs"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
else
  echo "setup(pkg): missing Debian packages. Run as root:"
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $pkgs"
  exit 1
fi
