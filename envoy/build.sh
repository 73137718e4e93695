#!/usr/bin/env bash
# Builds the two shipped Envoy artifacts, and the do-nothing filter the benchmarks compare with,
# to fixed paths. The demo, the end-to-end tests and the benchmarks all call this.
#
#   target/envoy/tokengate.wasm    the proxy-wasm filter, after wasm-opt -Oz (when wasm-opt is there)
#   target/envoy/noop.wasm         a proxy-wasm filter that does nothing (the benchmarks' floor)
#   target/envoy/libtokengate.so   the native filter: the Envoy 1.40 dynamic module `tokengate`
#
#   bash envoy/build.sh                 # the three above
#   bash envoy/build.sh --test-build    # also target/envoy/test/libtokengate.so, built with the
#                                       # `panic-marker` feature (a test header makes it panic)
#
# Prints each artifact's size. Needs the wasm32-wasip1 target (scripts/setup.sh adds it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT=target/envoy
mkdir -p "$OUT"
TEST_BUILD=0
[ "${1:-}" = "--test-build" ] && TEST_BUILD=1

echo "== building the proxy-wasm filters (wasm32-wasip1, profile wasm)"
cargo build --quiet --locked --profile wasm --target wasm32-wasip1 -p tokengate-envoy -p tokengate-noop
WASM_OPT="$(command -v wasm-opt || true)"
if [ -z "$WASM_OPT" ] && [ -x .tools/binaryen/node_modules/.bin/wasm-opt ]; then
    WASM_OPT=.tools/binaryen/node_modules/.bin/wasm-opt
fi
# The features rustc enables by default for wasm32 (and V8 runs); the stripped module no longer
# says so itself.
FEATURES=(--enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int
          --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types)
for pair in tokengate_envoy:tokengate tokengate_noop:noop; do
    crate="${pair%%:*}" name="${pair##*:}"
    raw="target/wasm32-wasip1/wasm/$crate.wasm" out="$OUT/$name.wasm"
    if [ -n "$WASM_OPT" ]; then
        # wasm-opt (binaryen's wasm build) takes seconds a module: run it only when cargo rebuilt
        # the module or the copy in $OUT is not a shrunk one.
        if [ ! "$out" -nt "$raw" ] || [ "$(stat -c %s "$out")" -ge "$(stat -c %s "$raw")" ]; then
            "$WASM_OPT" -Oz "${FEATURES[@]}" "$raw" -o "$out.tmp"
            mv "$out.tmp" "$out"
        fi
        printf '   %-34s %8d bytes raw, %8d after wasm-opt -Oz, %7d gzipped\n' "$out" \
            "$(stat -c %s "$raw")" "$(stat -c %s "$out")" "$(gzip -9c "$out" | wc -c)"
    else
        cp "$raw" "$out"
        printf '   %-34s %8d bytes raw (no wasm-opt found: not shrunk)\n' "$out" "$(stat -c %s "$out")"
    fi
done

echo "== building the native filter (dynamic module, profile native)"
cargo build --quiet --locked --profile native -p tokengate-native
cp target/native/libtokengate_native.so "$OUT/libtokengate.so.tmp"
mv "$OUT/libtokengate.so.tmp" "$OUT/libtokengate.so"
printf '   %-34s %8d bytes, %7d gzipped\n' "$OUT/libtokengate.so" \
    "$(stat -c %s "$OUT/libtokengate.so")" "$(gzip -9c "$OUT/libtokengate.so" | wc -c)"

if [ "$TEST_BUILD" = 1 ]; then
    # Its own target directory, so switching features never rebuilds the shipped library.
    CARGO_TARGET_DIR=target/panic-test cargo build --quiet --locked --profile native -p tokengate-native --features panic-marker
    mkdir -p "$OUT/test"
    cp target/panic-test/native/libtokengate_native.so "$OUT/test/libtokengate.so"
    printf '   %-34s %8d bytes (test build: panics on x-tokengate-test-panic)\n' "$OUT/test/libtokengate.so" \
        "$(stat -c %s "$OUT/test/libtokengate.so")"
fi

# Every Envoy callback the module calls must exist in the pinned Envoy: the loader binds them
# all at load (a missing one refuses the module), and this says which before anyone tries.
ENVOY_BIN="$(ls .venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1 || true)"
if [ -n "$ENVOY_BIN" ] && command -v nm >/dev/null; then
    missing="$(comm -23 <(nm -D --undefined-only "$OUT/libtokengate.so" | awk '{print $2}' | grep '^envoy_dynamic_module_' | sort) \
                        <(nm -D --defined-only "$ENVOY_BIN" | awk '{print $3}' | sort))"
    if [ -n "$missing" ]; then
        echo "envoy/build.sh: the Envoy in .venv lacks callbacks libtokengate.so calls:" >&2
        echo "$missing" >&2
        exit 1
    fi
    echo "   every Envoy callback libtokengate.so calls is exported by $("$ROOT/.venv/bin/envoy" --version 2>/dev/null | grep -o '[0-9a-f]*/1\.[0-9.]*' | head -1)"
fi
