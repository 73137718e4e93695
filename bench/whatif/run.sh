#!/usr/bin/env bash
# Measures the fixes docs/benchmarks.md proposes for code other engineers own (src/, js/) before
# anyone adopts them: applies bench/whatif/edits.py to a scratch copy of HEAD, builds it, and runs
# the native decision benchmarks and bench/js/run.mjs against it and against this tree, alternating.
# Writes bench/whatif/results.json for the report. Not part of scripts/bench.sh (it rebuilds twice).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH" CARGO_TERM_COLOR=never CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
OUT=$ROOT/target/bench/whatif
rm -rf "$OUT" && mkdir -p "$OUT"
W=$(mktemp -d /tmp/tokengate-whatif-XXXXXX)
trap 'rm -rf "$W"' EXIT
git archive HEAD | tar -x -C "$W"
ln -s "$ROOT/js/node_modules" "$W/js/node_modules"
export CARGO_TARGET_DIR=$ROOT/target/bench/whatif-target

echo "== escape_into by byte runs (src/jsonout.rs)"
python3 bench/whatif/edits.py "$W" escape
(cd "$W" && cargo test --quiet --locked -p tokengate --lib 2>&1 | tail -2)
(cd "$W" && bash js/scripts/build.sh) && cp -r "$W/js/dist" "$OUT/dist-escape"
echo "== and a fixed camelCase key map (js/lib/api.js)"
python3 bench/whatif/edits.py "$W" camel
(cd "$W" && bash js/scripts/build.sh) && cp -r "$W/js/dist" "$OUT/dist-escape-camel"
[ -d js/dist ] || bash js/scripts/build.sh

echo "== native decisions, this tree and the scratch copy, alternating"
CRIT=(--warm-up-time 1 --measurement-time 4 decide/1k/)
for i in 1 2; do
  (CARGO_TARGET_DIR=$ROOT/target cargo bench --quiet --locked --features fuzzing --bench core -- "${CRIT[@]}" >/dev/null &&
   python3 bench/criterion.py target/criterion > "$OUT/native-base-$i.json")
  (cd "$W" && cargo bench --quiet --locked --features fuzzing --bench core -- "${CRIT[@]}" >/dev/null &&
   python3 "$ROOT/bench/criterion.py" "$CARGO_TARGET_DIR/criterion" > "$OUT/native-escape-$i.json")
done

echo "== JS, the three builds, alternating"
for i in 1 2 3; do
  node bench/js/run.mjs --rounds 3 --batch-ms 150 --out "$OUT/js-base-$i.json"
  node bench/js/run.mjs --rounds 3 --batch-ms 150 --dist "$OUT/dist-escape" --out "$OUT/js-escape-$i.json"
  node bench/js/run.mjs --rounds 3 --batch-ms 150 --dist "$OUT/dist-escape-camel" --out "$OUT/js-escape-camel-$i.json"
done

python3 bench/whatif/summarize.py "$OUT" > bench/whatif/results.json
cat bench/whatif/results.json
