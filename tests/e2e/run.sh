#!/usr/bin/env bash
# The Envoy end-to-end tests: installs what is missing (setup.sh), builds both fronts with
# envoy/build.sh (the proxy-wasm filter after wasm-opt -Oz, the native dynamic module, and the
# native test build that panics on a marker header) and the CLI, then runs pytest against a real
# Envoy. Idempotent; exits non-zero on any failure. Extra arguments go to pytest (e.g. -k registry).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

bash tests/e2e/setup.sh

bash envoy/build.sh --test-build

echo "== building the CLI (release)"
cargo build --locked --release -p tokengate-cli

echo "== pytest (real Envoy on loopback)"
TOKENGATE_E2E_PREBUILT=1 exec .venv/bin/pytest tests/e2e -q -p no:cacheprovider "$@"
