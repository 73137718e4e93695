#!/usr/bin/env bash
# Bounded fuzz runs of every target: builds them once, replays fuzz/regressions/ first, then fuzzes
# each target in turn for FUZZ_SECONDS (default 30) from its committed seeds. Prints executions and
# coverage per target; exits non-zero if any regression or run crashed. Longer runs:
#   FUZZ_SECONDS=3600 bash fuzz/smoke.sh            (see fuzz/README.md)
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=never

seconds=${FUZZ_SECONDS:-30}
targets=(${FUZZ_TARGETS:-inspect credential target policy decision differential jwt packed})

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi

# No sanitizer: the core forbids unsafe code, the bugs sought are panics and broken invariants,
# and without ASan each target runs about six times as many inputs in the same time.
cargo +nightly fuzz build --sanitizer none
bin="$PWD/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()

# Known findings first: each file must now pass, or the bug it records is back (or not yet fixed).
for dir in regressions/*/; do
  [ -d "$dir" ] || continue
  t=$(basename "$dir")
  for f in "$dir"*; do
    [ -f "$f" ] || continue
    # Never with FUZZ_OPEN_FINDINGS: a replay must fail for as long as its finding stands.
    if (cd "$work" && env -u FUZZ_OPEN_FINDINGS "$bin/$t" "$OLDPWD/$f" >"$work/replay.log" 2>&1); then
      printf 'regression %-40s ok\n' "$t/$(basename "$f")"
    else
      printf 'regression %-40s FAILED\n' "$t/$(basename "$f")"
      grep -m1 -A1 'panicked' "$work/replay.log" || tail -3 "$work/replay.log"
      failed+=("regression $t/$(basename "$f")")
    fi
  done
done

printf '\n%-12s %10s %8s %8s %8s  %s\n' target executions cov ft corpus result
for t in "${targets[@]}"; do
  corpus="corpus/$t"   # ignored by git: generated inputs accumulate here across runs
  mkdir -p "$corpus" "artifacts/$t"
  cp -n seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  log="$work/$t.log"
  # -jobs=1 -workers=1: one fuzzing process at a time (the machine has two cores); libFuzzer
  # writes the job's log to fuzz-0.log in the working directory, hence the scratch directory.
  if (cd "$work" && "$bin/$t" -max_total_time="$seconds" -timeout=10 -jobs=1 -workers=1 \
        -artifact_prefix="$OLDPWD/artifacts/$t/" "$OLDPWD/$corpus" >"$log" 2>&1); then
    result=ok
  else
    result=CRASH
    failed+=("fuzz $t")
  fi
  stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)
  execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$stats")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$stats")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")
  size=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$stats")
  printf '%-12s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${size:-?}" "$result"
  if [ "$result" = CRASH ]; then
    grep -m1 -A1 'panicked' "$log" || grep -m1 -A2 'ERROR' "$log" || tail -5 "$log"
    ls -t "artifacts/$t" | head -1 | sed "s|^|  reproducer: fuzz/artifacts/$t/|"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nfuzz smoke FAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nfuzz smoke passed: %s targets, %ss each\n' "${#targets[@]}" "$seconds"
