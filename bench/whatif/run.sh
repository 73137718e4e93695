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

python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys, datetime, subprocess
out = sys.argv[1]
res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
       "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
       "native_ns": {}, "js_calls_per_cpu_s": {}}
for v in ("base", "escape"):
    per = {}
    for f in glob.glob(f"{out}/native-{v}-*.json"):
        for k, b in json.load(open(f)).items():
            if k.startswith("decide/1k/"):
                per.setdefault(k, []).append(b["median_ns"])
    res["native_ns"][v] = {k: statistics.median(x) for k, x in sorted(per.items())}
for v in ("base", "escape", "escape-camel"):
    per = {}
    for f in glob.glob(f"{out}/js-{v}-*.json"):
        for b in json.load(open(f))["benches"]:
            if b["impl"] == "tokengate" and b["group"].startswith(("check/", "inspect/")):
                per.setdefault(b["group"], []).extend(r["per_s_cpu"] for r in b["runs"])
            if b["impl"] == "plain_js" and b["group"].startswith("check/"):
                per.setdefault("plain_js " + b["group"], []).extend(r["per_s_cpu"] for r in b["runs"])
    res["js_calls_per_cpu_s"][v] = {k: statistics.median(x) for k, x in sorted(per.items())}
json.dump(res, open("bench/whatif/results.json", "w"), indent=1)
print(json.dumps(res, indent=1))
PY
