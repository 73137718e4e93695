#!/usr/bin/env bash
# Builds the npm package `tokengate` into js/dist: cargo builds the crate for wasm32 once, then
# wasm-bindgen writes the JS glue per target (nodejs, web), binaryen's wasm-opt shrinks each .wasm,
# and scripts/assemble.mjs joins both behind the package.json `exports` conditions.
#
# This is what wasm-pack did, minus wasm-pack: one cargo build instead of two, and no tool that
# downloads its own wasm-opt or wasm-bindgen.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(cd .. && pwd)"

# binaryen's wasm-opt from node_modules, the pinned wasm-bindgen from cargo's bin.
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Two cores, shared with other builds.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# The size-first profile of the workspace (opt-level z, LTO). For the size/speed comparison in
# docs/benchmarks.md only: TOKENGATE_CARGO_CONFIG adds cargo `--config` overrides (for example
# `--config profile.wasm.package.tokengate.opt-level=3`) and TOKENGATE_WASM_OPT replaces `-Oz`.
# The profile's `strip` keeps the target_features section: wasm-bindgen and wasm-opt read it to
# know which wasm features are on, and wasm-opt strips it last.
(cd "$repo" && cargo build --quiet --locked -p tokengate-js --profile wasm --target wasm32-unknown-unknown ${TOKENGATE_CARGO_CONFIG:-})
wasm="${CARGO_TARGET_DIR:-$repo/target}/wasm32-unknown-unknown/wasm/tokengate_js.wasm"

for target in nodejs web; do
  out="pkg-$target"
  rm -rf "$out"
  wasm-bindgen "$wasm" --target "$target" --out-dir "$out" --out-name tokengate --no-typescript
  wasm-opt "${TOKENGATE_WASM_OPT:--Oz}" --strip-debug --strip-producers --strip-target-features \
    "$out/tokengate_bg.wasm" -o "$out/tokengate_bg.wasm"
done

node scripts/assemble.mjs
