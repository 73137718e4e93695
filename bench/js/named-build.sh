#!/usr/bin/env bash
# Builds the npm package's .wasm again, the same crate and profile, but keeping function names and
# without wasm-opt, into target/bench/js-named/: only for bench/js/profile.mjs, which must see
# Rust function names in the profile. Needs wasm-bindgen-cli (js/scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
CARGO_PROFILE_WASM_STRIP=false cargo build --quiet --locked -p tokengate-js --profile wasm --target wasm32-unknown-unknown
out=target/bench/js-named
rm -rf "$out"
wasm-bindgen --target nodejs --keep-debug --out-dir "$out" --out-name tokengate \
  target/wasm32-unknown-unknown/wasm/tokengate_js.wasm

