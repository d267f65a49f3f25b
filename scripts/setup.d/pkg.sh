#!/usr/bin/env bash
# Readers the macOS pkg tests use to check our xar/BOM/cpio writers: bsdtar, 7-Zip (7z or Debian's 7zz),
# cpio and xmllint. Building a pkg needs none of them. Idempotent; fast when already done.
# Usage: scripts/setup.d/pkg.sh demo|test   (does nothing for demo)
set -euo pipefail
purpose="${1:-test}"
[ "$purpose" = test ] || [ "$purpose" = bench ] || exit 0

# shellcheck source=../lib/debian.sh
source "$(dirname "$0")/../lib/debian.sh"
need_debian libarchive-tools bsdtar
need_debian 7zip 7z 7zz
need_debian cpio cpio
need_debian libxml2-utils xmllint
ensure_debian_packages "setup(pkg)" "${debian_missing[@]}"
