#!/usr/bin/env bash
# Builds the npm package `tokengate` into js/dist: wasm-pack once per target (nodejs, web), then
# scripts/assemble.mjs joins both behind the package.json `exports` conditions.
set -euo pipefail
cd "$(dirname "$0")/.."

# binaryen's wasm-opt from node_modules: wasm-pack would otherwise try to download one.
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Two cores, shared with other builds.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# The size-first profile of the workspace (opt-level z, LTO); wasm-pack then runs wasm-opt -Oz.
# The profile's `strip = true` would also drop the target_features section wasm-bindgen reads to know
# which wasm features are on; keep it through cargo and let wasm-opt strip (Cargo.toml metadata).
export CARGO_PROFILE_WASM_STRIP=false
for target in nodejs web; do
  wasm-pack --quiet build . --profile wasm --target "$target" \
    --out-dir "pkg-$target" --out-name tokengate --no-pack --no-typescript
done

node scripts/assemble.mjs
