#!/usr/bin/env bash
# Headless VS Code for the extension's end-to-end tests: code-server (into .tools/, not a project
# dependency) plus Debian's chromium, ripgrep and libkrb5-dev. Idempotent; fast when already done.
# Usage: scripts/setup.d/vscode.sh demo|test   (does nothing for demo)
set -euo pipefail
cd "$(dirname "$0")/../.."
purpose="${1:-test}"
[ "$purpose" = test ] || exit 0

CODE_SERVER_VERSION=4.100.3   # the newest code-server that runs on Node 20
RIPGREP_CACHE_VERSION=1.15.11 # @vscode/ripgrep version pulled by that code-server
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
prefix=.tools/code-server
bin="$prefix/node_modules/.bin/code-server"

# Debian tools: chromium drives the workbench, rg is packed for @vscode/ripgrep, krb5 headers build `kerberos`.
declare -A need=( [chromium]=chromium [rg]=ripgrep [krb5-config]=libkrb5-dev [make]=build-essential [python3]=python3 )
# shellcheck source=../lib/debian.sh
source scripts/lib/debian.sh
for cmd in "${!need[@]}"; do need_debian "${need[$cmd]}" "$cmd"; done
ensure_debian_packages "setup(vscode)" "${debian_missing[@]}"

installed_version() {
  node -e 'try{process.stdout.write(require(process.argv[1]).version)}catch{}' "$PWD/$prefix/node_modules/code-server/package.json"
}
if [ -x "$bin" ] && [ "$(installed_version)" = "$CODE_SERVER_VERSION" ]; then
  exit 0
fi

echo "setup(vscode): installing code-server $CODE_SERVER_VERSION into $prefix (about a minute)"
# @vscode/ripgrep downloads rg from the internet in its postinstall unless its cache holds the asset:
# pack Debian's rg under the exact cache name it looks for.
tmp="$(node -p 'require("os").tmpdir()')"
cache="$tmp/vscode-ripgrep-cache-$RIPGREP_CACHE_VERSION"
if [ ! -s "$cache/$RIPGREP_ASSET" ]; then
  mkdir -p "$cache"
  stage="$(mktemp -d)"
  cp "$(command -v rg)" "$stage/rg"
  tar -czf "$cache/$RIPGREP_ASSET" -C "$stage" rg
  rm -rf "$stage"
fi

mkdir -p "$prefix"
[ -f "$prefix/package.json" ] || echo '{ "name": "holdfast-tools-code-server", "private": true }' >"$prefix/package.json"
# code-server's own postinstall refuses root without unsafe-perm; node-pty runs `npx node-gyp` (needs yes);
# native modules build against the Debian nodejs headers (nodedir). Install scripts must run: force
# ignore-scripts off in case the environment or an npmrc turned it on. npm 11 lists dependency install scripts
# not approved in "allowScripts" (`npm install-scripts ls`) but still runs them unless strict-allow-scripts is
# on, so turn that off for this one install rather than approving packages project-wide.
env -u npm_config_ignore_scripts \
  npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir=/usr npm_config_ignore_scripts=false \
  npm_config_strict_allow_scripts=false \
  npm install --prefix "$prefix" --no-audit --no-fund --save-exact --loglevel=error "code-server@$CODE_SERVER_VERSION" 2>&1 \
  | grep -v 'Unknown env config "unsafe-perm"' || true
if [ ! -x "$bin" ] || [ "$(installed_version)" != "$CODE_SERVER_VERSION" ]; then
  echo "setup(vscode): code-server install failed; see the npm output above" >&2
  exit 1
fi
# Native modules must have built, or the workbench starts without a terminal/file watcher and fails later.
for m in node-pty argon2; do
  if ! find "$prefix/node_modules" -path "*/$m/*" -name '*.node' | grep -q .; then
    echo "setup(vscode): code-server's native module $m did not build (install scripts blocked?)" >&2
    exit 1
  fi
done
echo "setup(vscode): code-server $CODE_SERVER_VERSION ready at $bin"
