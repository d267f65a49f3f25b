# Sourced by scripts/setup.sh and scripts/setup.d/*.sh: find missing Debian packages, then install them with
# apt when root, otherwise print the exact command and exit 1.
#
#   need_debian <package> <command-or-path>...   records <package> unless one of the alternatives is a command
#                                                 on PATH or an executable path (e.g. /usr/lib/wine/wine64)
#   ensure_debian_packages <label> <package>...  installs (root) or prints the command and exits 1; no-op
#                                                 without packages. Usually: ensure_debian_packages "setup(x)" "${debian_missing[@]}"

debian_missing=()

need_debian() {
  local pkg=$1 alt
  shift
  for alt in "$@"; do
    command -v "$alt" >/dev/null 2>&1 && return 0
  done
  debian_missing+=("$pkg")
}

ensure_debian_packages() {
  local label=$1 pkgs
  shift
  [ $# -gt 0 ] || return 0
  pkgs=$(printf '%s\n' "$@" | sort -u | paste -sd' ' -)
  if [ "$(id -u)" = 0 ]; then
    echo "$label: installing Debian packages: $pkgs"
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "$label: missing Debian packages. Run as root:"
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $pkgs"
    exit 1
  fi
}
