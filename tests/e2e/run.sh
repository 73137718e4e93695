#!/usr/bin/env bash
# The Envoy end-to-end tests: installs what is missing (setup.sh), builds both filters and the
# CLI, shrinks the filters with wasm-opt -Oz, then runs pytest against a real Envoy.
# Idempotent; exits non-zero on any failure. Extra arguments go to pytest (e.g. -k registry).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

bash tests/e2e/setup.sh

echo "== building the filters (wasm32-wasip1, profile wasm)"
cargo build --locked --profile wasm --target wasm32-wasip1 -p tokengate-envoy -p tokengate-noop
WASM_DIR=target/wasm32-wasip1/wasm

WASM_OPT="$(command -v wasm-opt || true)"
if [ -z "$WASM_OPT" ] && [ -x .tools/binaryen/node_modules/.bin/wasm-opt ]; then
    WASM_OPT=.tools/binaryen/node_modules/.bin/wasm-opt
fi
# The features rustc enables by default for wasm32 (and V8 runs); the stripped module no longer
# says so itself.
FEATURES=(--enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int
          --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types)
for name in tokengate_envoy tokengate_noop; do
    raw="$WASM_DIR/$name.wasm" opt="$WASM_DIR/$name.opt.wasm"
    if [ -n "$WASM_OPT" ]; then
        "$WASM_OPT" -Oz "${FEATURES[@]}" "$raw" -o "$opt"
        printf '   %-16s %7d bytes raw, %7d after wasm-opt -Oz, %6d gzipped\n' "$name" \
            "$(stat -c %s "$raw")" "$(stat -c %s "$opt")" "$(gzip -9c "$opt" | wc -c)"
    else
        rm -f "$opt"
        printf '   %-16s %7d bytes raw (no wasm-opt found)\n' "$name" "$(stat -c %s "$raw")"
    fi
done

echo "== building the CLI (release)"
cargo build --locked --release -p tokengate-cli

echo "== pytest (real Envoy on loopback)"
TOKENGATE_E2E_PREBUILT=1 exec .venv/bin/pytest tests/e2e -q -p no:cacheprovider "$@"
