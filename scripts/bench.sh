#!/usr/bin/env bash
# The benchmarks, side by side, on this machine: the core (criterion, resident memory), the npm
# package in Node against a plain-JS check, the filter inside Envoy against no filter, Envoy's
# api_key_auth, a Lua filter and a do-nothing proxy-wasm filter, the .wasm sizes, and
# `tokengate report` over a generated 1 GiB access log (lines per second, peak RSS). Writes
# docs/benchmarks.md (raw results in target/bench/results/).
#
#   bash scripts/bench.sh              # the full run (about 20-30 minutes on 2 cores)
#   BENCH_QUICK=1 bash scripts/bench.sh   # one short iteration of everything (~2 minutes)
#
# Not part of scripts/test.sh. Installs what it needs, idempotently. Everything it loads runs on
# 127.0.0.1 with a fixed request count.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export PATH="$HOME/.cargo/bin:$PATH"
QUICK="${BENCH_QUICK:-0}"
OUT=target/bench
RES=$OUT/results
mkdir -p "$RES"
rm -f "$RES"/*

say() { printf '\n== %s\n' "$*"; }
# The machine is shared: note how loaded it was as each part starts.
load_mark() { printf '{"part":"%s","load1":%s}\n' "$1" "$(cut -d' ' -f1 /proc/loadavg)" >> "$RES/load.jsonl"; }
have_envoy_front() { [ -f envoy/Cargo.toml ] && [ -f envoy/noop/Cargo.toml ]; }

say "setup (idempotent)"
rustup target add wasm32-unknown-unknown wasm32-wasip1 >/dev/null 2>&1 || true
bash js/scripts/setup.sh
if have_envoy_front; then
  bash tests/e2e/setup.sh
  if ! command -v h2load >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null
  fi
fi
WASM_OPT=js/node_modules/.bin/wasm-opt
WASM_FEATURES=(--enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int
               --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types)

say "machine"
python3 bench/machine.py > "$RES/machine.json"
cat "$RES/machine.json"

say "build: the npm package, the profiling build of its .wasm, the filters"
bash js/scripts/build.sh
bash bench/js/named-build.sh
if have_envoy_front; then
  # Both fronts and the do-nothing filter, to target/envoy/ (the shipped artifacts, as measured).
  bash envoy/build.sh
  cp target/envoy/tokengate.wasm "$OUT/tokengate_envoy.wasm"
  cp target/envoy/noop.wasm "$OUT/tokengate_noop.wasm"
  for name in tokengate_envoy tokengate_noop; do
    # The same module without the callbacks it does not implement (see docs/benchmarks.md): Envoy
    # skips a callback the module does not export.
    "$WASM_OPT" -Oz "${WASM_FEATURES[@]}" "target/wasm32-wasip1/wasm/$name.wasm" --remove-exports \
      --pass-arg="remove-exports@$(cat bench/envoy/unused-callbacks.txt | paste -sd,)" -o "$OUT/$name.trimmed.wasm"
  done
fi
python3 bench/sizes.py "$OUT" > "$RES/sizes.json"

say "core: criterion (cargo bench --features fuzzing --bench core --bench oauth)"
load_mark core
if [ "$QUICK" = 1 ]; then CRIT=(--warm-up-time 0.2 --measurement-time 0.5 --sample-size 10); else CRIT=(--warm-up-time 2 --measurement-time 6); fi
rm -rf target/criterion
cargo bench --quiet --locked --features fuzzing --bench core --bench oauth -- "${CRIT[@]}" 2>&1 | grep -E "^[a-z].*time:|^\S+/\S+$" || true
python3 bench/criterion.py target/criterion > "$RES/core.json"

say "core: resident memory of a 1M-entry policy (cargo bench --bench registry_memory)"
TOKENGATE_BENCH_RUNS=$([ "$QUICK" = 1 ] && echo 1 || echo 5) \
  cargo bench --quiet --locked --bench registry_memory | tee "$RES/memory.jsonl"

say "js: Validator.check and inspectToken against plain JS (node bench/js/run.mjs)"
load_mark js
if [ "$QUICK" = 1 ]; then JS=(--rounds 1 --batch-ms 40); else JS=(--rounds 9 --batch-ms 200); fi
node bench/js/run.mjs "${JS[@]}" --out "$RES/js.json"
node bench/js/profile.mjs --pkg target/bench/js-named --seconds "$([ "$QUICK" = 1 ] && echo 1 || echo 4)" --out "$RES/js-profile.json"
say "js: cold start, import + new Validator(examples/policy.json), in Node and in workerd (node bench/js/coldstart.mjs)"
node bench/js/coldstart.mjs --runs "$([ "$QUICK" = 1 ] && echo 1 || echo 7)" --out "$RES/js-coldstart.json"

if have_envoy_front; then
  say "envoy: host calls and callbacks per request (node bench/envoy/mockhost.mjs)"
  python3 bench/envoy/harness.py --print-policy > "$OUT/policy.json"
  TOKEN=$(python3 bench/envoy/harness.py --print-token)
  for name in tokengate_noop tokengate_envoy tokengate_noop.trimmed tokengate_envoy.trimmed; do
    node bench/envoy/mockhost.mjs --wasm "$OUT/$name.wasm" --config "$OUT/policy.json" --token "$TOKEN" \
      --requests "$([ "$QUICK" = 1 ] && echo 5000 || echo 200000)" --out "$RES/mockhost-$name.json"
  done

  say "envoy: CPU per request, six ways, interleaved (python3 bench/envoy/harness.py)"
  load_mark envoy
  ENVOY_BIN=$(.venv/bin/python -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')
  if [ "$QUICK" = 1 ]; then EV=(--rounds 1 --requests 20000 --warmup 2000); else EV=(--rounds 11 --requests 100000 --warmup 5000); fi
  python3 bench/envoy/harness.py --envoy "$ENVOY_BIN" "${EV[@]}" \
    --tokengate "$OUT/tokengate_envoy.wasm" --noop "$OUT/tokengate_noop.wasm" --native target/envoy \
    --wasm-variant "noop_trimmed=$OUT/tokengate_noop.trimmed.wasm" \
    --wasm-variant "tokengate_trimmed=$OUT/tokengate_envoy.trimmed.wasm" \
    --out "$RES/envoy.json"
fi

say "cli: tokengate report over a generated access log (python3 bench/report/run.py)"
load_mark report
cargo build --quiet --locked --release -p tokengate-cli
if [ "$QUICK" = 1 ]; then RP=(--mib 64 --runs 1 --log "$OUT/access-64m.log"); else RP=(--mib 1024 --runs 3 --log "$OUT/access-1g.log"); fi
python3 bench/report/run.py --cli target/release/tokengate "${RP[@]}" --out "$RES/report.json"

say "report"
python3 bench/report.py "$RES" "$([ "$QUICK" = 1 ] && echo quick || echo full)" > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
