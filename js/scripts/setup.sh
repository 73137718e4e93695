#!/usr/bin/env bash
# Installs what building and testing the JS package needs, skipping whatever is already there.
# Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130 # must equal the `wasm-bindgen` pin in js/Cargo.toml
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'setup: %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# `cargo install --locked` first, for the exact dependency set the tool was released with. A registry
# mirror can lack one of those locked versions (wasm-bindgen-cli 0.2.130 locks webpki-roots 1.0.11,
# which was missing here); then fall back to resolving semver-compatible versions.
cargo_install() { # crate version binary
  local crate=$1 version=$2 bin=$3
  if command -v "$bin" >/dev/null && "$bin" --version 2>/dev/null | grep -q " $version\b"; then
    return 0
  fi
  say "installing $crate $version (a few minutes)"
  cargo install --locked "$crate" --version "=$version" ||
    cargo install "$crate" --version "=$version"
}
cargo_install wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen

# npm devDependencies, exactly as locked: binaryen's wasm-opt, playwright-core, typescript, and the
# runtimes the edge handler is tested in (workerd through miniflare, Deno, Bun) and express.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm devDependencies"
  npm ci --no-audit --no-fund
fi

# The packaging test installs express and the type packages by name into a scratch app with
# `npm install --offline`: that needs their registry metadata (and their dependencies') in npm's
# cache, which `npm ci` (it fetches tarballs by URL) does not leave. One online install of the same
# packages into a scratch directory fills it; a few seconds when the cache has them already.
pinned=$(node -e 'const d = require("./package.json").devDependencies;
  console.log(["express", "@types/express", "@types/node"].map((n) => `${n}@${d[n]}`).join(" "))')
scratch=$(mktemp -d)
# shellcheck disable=SC2086 # one word per package
(cd "$scratch" && npm init -y >/dev/null && npm install --prefer-offline --no-audit --no-fund --no-save $pinned >/dev/null)
rm -rf "$scratch"

# Debian's Chromium for the browser test; playwright-core never downloads a browser here.
if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  fi
fi
say "ok"
