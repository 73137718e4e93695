#!/usr/bin/env bash
# The rollout, on the example policy and a small built-in stream of traffic (envoy/demo_traffic.py):
#   1. Envoy with tokengate in report mode: nothing is denied, what would be is marked;
#   2. `tokengate report` over that Envoy's access log: who still has to move;
#   3. the same traffic in enforce mode: the denials the clients see.
# The native front (target/envoy/libtokengate.so, envoy/native.yaml) is used where it is built,
# else the proxy-wasm filter. Envoy is left running in enforce mode.
#
#   bash envoy/demo.sh          # build what is missing, run the three stages (again: restarts)
#   bash envoy/demo.sh stop     # stop the Envoy this script started
#
# Expects the toolchain (bash scripts/setup.sh demo; scripts/demo.sh runs both). Everything listens
# on 127.0.0.1: the edge on :10000, the stand-in API on :10001, the admin page on :9901
# (DEMO_EDGE_PORT, DEMO_API_PORT, DEMO_ADMIN_PORT move them). DEMO_FRONT=wasm forces the wasm filter.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT=target/envoy
PIDFILE=$OUT/demo-envoy.pid
EDGE_PORT="${DEMO_EDGE_PORT:-10000}" API_PORT="${DEMO_API_PORT:-10001}" ADMIN_PORT="${DEMO_ADMIN_PORT:-9901}"
EDGE=http://127.0.0.1:$EDGE_PORT
ADMIN=http://127.0.0.1:$ADMIN_PORT

stop() {
    local pid
    for f in "$PIDFILE" "$OUT/envoy.pid"; do # envoy.pid: where earlier versions of this script kept it
        [ -f "$f" ] || continue
        pid="$(cat "$f")"
        # Only the process this script started, and only while it is still an Envoy.
        if [ -n "$pid" ] && grep -q envoy "/proc/$pid/cmdline" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            # Not gone after 10 s of a clean shutdown: end it.
            if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
        fi
        rm -f "$f"
    done
}
if [ "${1:-}" = stop ]; then stop; echo "demo Envoy stopped"; exit 0; fi

STEP_LOG="${STEP_LOG:-target/demo.log}"
# shellcheck source=scripts/steps.sh
. scripts/steps.sh
stop
for port in "$EDGE_PORT" "$API_PORT" "$ADMIN_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port on 127.0.0.1 is taken by another program; move the demo with" \
            "DEMO_EDGE_PORT, DEMO_API_PORT and DEMO_ADMIN_PORT" >&2
        exit 1
    fi
done

# --- build ------------------------------------------------------------------------------------
step "build the CLI (target/release/tokengate)" cargo build --locked --release -p tokengate-cli
step "build the Envoy fronts (envoy/build.sh: target/envoy/)" bash envoy/build.sh
TG=target/release/tokengate

FRONT="${DEMO_FRONT:-}"
if [ -z "$FRONT" ]; then
    if [ -f envoy/native.yaml ] && [ -f "$OUT/libtokengate.so" ]; then FRONT=native; else FRONT=wasm; fi
fi
case "$FRONT" in
    native) BASE=envoy/native.yaml FRONT_NAME="the native front (libtokengate.so)" ;;
    wasm) BASE=envoy/envoy.yaml FRONT_NAME="the proxy-wasm filter (tokengate.wasm)" ;;
    *) echo "DEMO_FRONT is native or wasm" >&2; exit 2 ;;
esac

# wrap < text: indented three spaces, long lines wrapped at 100 columns under their own indent.
wrap() {
    python3 -c 'import sys, textwrap
for line in sys.stdin.read().splitlines():
    lead = " " * (3 + len(line) - len(line.lstrip()))
    print("\n".join(textwrap.wrap(line.strip(), 100, initial_indent=lead,
        subsequent_indent=lead + "    ", break_on_hyphens=False)) or "")'
}

# --- configurations -----------------------------------------------------------------------------
# config MODE ACCESS_LOG > file: the shipped configuration with examples/policy.json in it, the
# policy's mode set, the demo's ports and its access log at ACCESS_LOG (envoy/demo_config.py).
config() {
    python3 envoy/demo_config.py "$BASE" "$1" "$2" "$EDGE_PORT" "$API_PORT" "$ADMIN_PORT"
}

# start CONFIG NAME: Envoy in its own session (it outlives this script), ready when the admin says
# so; its stdout/stderr go to $OUT/NAME.log. Without hot restart it claims no shared-memory base
# id, so it starts beside any other Envoy on the machine.
start() {
    rm -f "$OUT/$2.log"
    # The native front finds libtokengate.so here; the wasm configuration ignores it.
    ( ENVOY_DYNAMIC_MODULES_SEARCH_PATH="$ROOT/$OUT" setsid .venv/bin/envoy -c "$1" \
        --disable-hot-restart --log-level warn --component-log-level wasm:debug,dynamic_modules:debug \
        >"$OUT/$2.log" 2>&1 </dev/null & echo $! >"$PIDFILE" )
    for _ in $(seq 150); do
        if curl -fs "$ADMIN/ready" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
            echo "Envoy exited; the end of $OUT/$2.log:" >&2
            tail -20 "$OUT/$2.log" >&2; rm -f "$PIDFILE"; exit 1
        fi
        sleep 0.1
    done
    echo "Envoy was not ready after 15 s; see $OUT/$2.log" >&2; stop; exit 1
}

REPORT_LOG=$OUT/report-access.log ENFORCE_LOG=$OUT/access.log
rm -f "$REPORT_LOG" "$ENFORCE_LOG"
config report "$REPORT_LOG" >"$OUT/demo-report.yaml"
config enforce "$ENFORCE_LOG" >"$OUT/demo-enforce.yaml"

printf '\nThe example policy (examples/policy.json), through %s:\n' "$FRONT_NAME"
$TG policy check examples/policy.json | fold -s -w 96 | sed 's/ *$//; s/^/   /'

printf '   The traffic: five clients; hosts by first label (ab123.us1.dbt.com and gn456.us1.dbt.com\n'
printf '   name the two accounts, cloud is cloud.getdbt.com).\n'

# --- 1. report mode ---------------------------------------------------------------------------
printf '\n== 1/3 report mode: every call goes through; the API behind sees what enforce would deny\n'
start "$OUT/demo-report.yaml" demo-report
python3 envoy/demo_traffic.py "$EDGE" report
stop # a clean shutdown flushes the access log
printf '   next: leave report mode on for a full cycle of jobs, then read the report (stage 2)\n'

# --- 2. the report ------------------------------------------------------------------------------
printf '\n== 2/3 the report from that traffic: who still has to move before enforce\n'
# The report reads the decisions the filter exports into the access log; a front that exports none
# yet (a null "code" on every line) gets the filter's own would-deny log lines instead.
if grep -q '"code":"' "$REPORT_LOG" 2>/dev/null; then
    # Exit 1 says the checklist has entries, which is the point here; 2 is a real failure.
    rc=0
    $TG report --quiet --registry examples/registry.json "$REPORT_LOG" >"$OUT/report.txt" || rc=$?
    [ "$rc" -le 1 ] || { echo "tokengate report failed (exit $rc)" >&2; exit 1; }
    wrap <"$OUT/report.txt"
else
    printf '   (no decisions in %s for tokengate report: the filter'"'"'s would-deny lines)\n' "$REPORT_LOG"
    grep -o 'would deny .*' "$OUT/demo-report.log" | sort | uniq -c | sort -rn |
        awk '{n=$1; $1=""; printf "   %3dx%s\n", n, $0}'
fi
printf '   next: fix each client it lists, watch its lists empty out in report mode, then enforce (stage 3)\n'

# --- 3. enforce mode ----------------------------------------------------------------------------
printf '\n== 3/3 enforce mode: the same traffic; these are the answers the clients now get\n'
start "$OUT/demo-enforce.yaml" demo-enforce
python3 envoy/demo_traffic.py "$EDGE" enforce
printf '   next: the same switch in production when its report is empty; then watch the denial counters\n'

cat <<EOF

Envoy (enforce, $FRONT) is still running on $EDGE, pid $(cat "$PIDFILE"). Try:
   curl -si -H 'Host: ab123.us1.dbt.com' $EDGE/api/v2/accounts/70471823510118/jobs/
   curl -s '$ADMIN/stats?filter=tokengate'
Access log: $ENFORCE_LOG; Envoy's own log: $OUT/demo-enforce.log.
Stop it: bash envoy/demo.sh stop
EOF
