#!/usr/bin/env bash
# Every test of the project, from a fresh machine: installs what is missing, then runs lint, the
# no_std build, the Rust tests, the Envoy end-to-end tests, the JS tests and the fuzz smoke runs.
# Exits non-zero at the first failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

bash scripts/setup.sh

stages=()
stage() {
  local name=$1; shift
  printf '\n== %s\n' "$name"
  local t0=$SECONDS
  "$@"
  stages+=("$name ($((SECONDS - t0))s)")
}

stage "rustfmt" cargo fmt --all --check
stage "clippy (native)" cargo clippy --workspace --all-targets --locked -- -D warnings
stage "core builds without std" bash -c '
  cargo build -p tokengate --target wasm32-unknown-unknown --release --locked &&
  cargo build -p tokengate --target wasm32-wasip1 --release --locked &&
  cargo build -p tokengate --target wasm32v1-none --release --locked'
stage "rust tests" cargo test --workspace --locked
if [ -f tests/e2e/run.sh ]; then stage "envoy end-to-end" bash tests/e2e/run.sh; fi
# The demo as a new user runs it, in a clean copy of the tree (it builds from cold: about a minute).
stage "demo on a fresh copy" .venv/bin/pytest tests/demo -q -s -p no:cacheprovider
if [ -f js/scripts/test.sh ]; then stage "js package" bash js/scripts/test.sh; fi
if [ -f fuzz/smoke.sh ]; then stage "fuzz smoke" bash fuzz/smoke.sh; fi

printf '\n== all stages passed\n'
printf '   %s\n' "${stages[@]}"
# The plain closing line: stages, each of which fails the run on its own first failure.
printf 'stages: %d passed, 0 failed\n' "${#stages[@]}"
