#!/usr/bin/env bash
# The JS package end to end: tools, build, the CLI the §6 table compares against, node tests
# (API, SPEC table, the Fetch/guard/Express fronts, packed tarball, workerd/Deno/Bun), the browser
# test in headless Chromium, and the CLI's HTML report (`tokengate report --format html`) in the same
# Chromium. Exits non-zero on any failure. Run from anywhere: bash js/scripts/test.sh
set -euo pipefail
js="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$js/.." && pwd)"
export PATH="$js/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

step() { printf '\n== %s\n' "$*"; }

step "setup"
bash "$js/scripts/setup.sh"

step "lint: rustfmt, clippy (wasm32)"
(cd "$repo" && cargo fmt -p tokengate-js --check &&
  cargo clippy --quiet -p tokengate-js --target wasm32-unknown-unknown -- -D warnings)

step "build: cargo + wasm-bindgen (nodejs, web) + wasm-opt + assemble"
bash "$js/scripts/build.sh"

step "build: the CLI (for the SPEC §6 comparison and the HTML report test)"
(cd "$repo" && cargo build --quiet --release -p tokengate-cli)

step "node tests"
cd "$js"
node --test test/api.test.mjs test/spec-table.test.mjs test/edge.test.mjs test/jwt.test.mjs test/pack.test.mjs \
  test/runtimes.test.mjs test/browser.test.mjs test/report-html.test.mjs

step "wasm size"
for f in dist/web/tokengate_bg.wasm dist/node/tokengate_bg.wasm; do
  printf '%-30s %7d bytes raw, %6d bytes gzip -9\n' "$f" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)"
done
