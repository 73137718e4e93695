#!/usr/bin/env bash
# The Envoy demo: build the filter, start Envoy with envoy/envoy.yaml (the example policy inline,
# a stand-in for the dbt API behind it), send a handful of requests, and leave Envoy running.
#
#   bash envoy/demo.sh          # start (or restart) the demo
#   bash envoy/demo.sh stop     # stop the Envoy this script started
#
# Everything listens on 127.0.0.1: the edge on :10000, the admin page on :9901.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT=target/envoy
PIDFILE=$OUT/envoy.pid
EDGE=http://127.0.0.1:10000
ADMIN=http://127.0.0.1:9901

stop() {
    if [ -f "$PIDFILE" ]; then
        pid="$(cat "$PIDFILE")"
        # Only the process this script started, and only while it is still an Envoy.
        if [ -n "$pid" ] && grep -q envoy "/proc/$pid/cmdline" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$PIDFILE"
    fi
}
if [ "${1:-}" = "stop" ]; then stop; echo "demo Envoy stopped"; exit 0; fi

bash tests/e2e/setup.sh

echo "== building the filter"
cargo build --quiet --locked --profile wasm --target wasm32-wasip1 -p tokengate-envoy
mkdir -p "$OUT"
raw=target/wasm32-wasip1/wasm/tokengate_envoy.wasm
WASM_OPT="$(command -v wasm-opt || true)"
[ -z "$WASM_OPT" ] && [ -x .tools/binaryen/node_modules/.bin/wasm-opt ] && WASM_OPT=.tools/binaryen/node_modules/.bin/wasm-opt
if [ -n "$WASM_OPT" ]; then
    "$WASM_OPT" -Oz --enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
        "$raw" -o "$OUT/tokengate.wasm"
else
    cp "$raw" "$OUT/tokengate.wasm"
fi
echo "   $OUT/tokengate.wasm: $(stat -c %s "$OUT/tokengate.wasm") bytes"

echo "== starting Envoy (envoy/envoy.yaml)"
stop
# Detached (a subshell that exits at once, then its own session) so that it outlives this script
# and the terminal that ran it.
( setsid .venv/bin/envoy -c envoy/envoy.yaml --log-level warn --component-log-level wasm:info \
    >"$OUT/envoy.log" 2>&1 </dev/null & echo $! >"$PIDFILE" )
for _ in $(seq 100); do
    if curl -fs "$ADMIN/ready" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "Envoy exited; its log:" >&2; tail -20 "$OUT/envoy.log" >&2; rm -f "$PIDFILE"; exit 1
    fi
    sleep 0.1
done

tok() { python3 -c "import json,sys;print(json.load(open('tests/fixtures/tokens.json'))['tokens'][sys.argv[1]])" "$1"; }
PAT="$(tok pat_spice)" SVC="$(tok service_spice)" KEY="$(tok user_key)"

# show TITLE METHOD HOST PATH [AUTHORIZATION]: the curl line, then status and code.
show() {
    local title=$1 method=$2 host=$3 path=$4 auth=${5:-}
    local args=(-s -o "$OUT/last.json" -D "$OUT/last.headers" -w '%{http_code}' -X "$method" -H "Host: $host")
    [ -n "$auth" ] && args+=(-H "Authorization: $auth")
    printf "\n-- %s\n   curl -si -X %s -H 'Host: %s'%s %s\n" "$title" "$method" "$host" \
        "$([ -n "$auth" ] && printf " -H 'Authorization: %s'" "$auth")" "$EDGE$path"
    local status; status="$(curl "${args[@]}" "$EDGE$path")"
    python3 - "$status" "$OUT/last.json" "$OUT/last.headers" <<'PY'
import json, sys
status, body, headers = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
doc = json.loads(body) if body.strip() else {}
s = doc.get("status") if isinstance(doc.get("status"), dict) else {}
if status == "200":
    seen = doc.get("data", {}).get("seen_by_upstream", {})
    print(f"   -> 200 from the API; it saw " + ", ".join(f"{k}: {v}" for k, v in seen.items() if v))
else:
    print(f"   -> {status} {s.get('developer_message')}: {s.get('user_message')}")
for h in ("deprecation", "sunset", "link"):
    for line in headers.splitlines():
        if line.lower().startswith(h + ":"):
            print("      " + line.strip())
PY
}

A=70471823510118 G=9007199254740993
show "a personal access token on its own account" GET ab123.us1.dbt.com "/api/v2/accounts/$A/jobs/" "Token $PAT"
show "the same token on another account" GET gn456.us1.dbt.com "/api/v2/accounts/$G/jobs/" "Token $PAT"
show "the retired cross-account endpoint" GET cloud.getdbt.com /api/v3/accounts/ "Token $PAT"
show "a legacy user API key, past its sunset" GET ab123.us1.dbt.com "/api/v2/accounts/$A/jobs/" "Token $KEY"
show "a malformed token (body too short)" GET ab123.us1.dbt.com "/api/v2/accounts/$A/jobs/" "Token dbtu_tooshort"
show "a service token on a job run" POST ab123.us1.dbt.com "/api/v2/accounts/$A/jobs/42/run/" "Token $SVC"
show "an endpoint inside its deprecation window" GET ab123.us1.dbt.com "/api/v2/accounts/$A/runs/7/artifacts/manifest.json" "Token $PAT"

cat <<EOF

Envoy is still running (pid $(cat "$PIDFILE")); try the lines above, or:
   curl -si -H 'Host: ab123.us1.dbt.com' $EDGE/api/v2/accounts/$A/jobs/
   curl -si -H 'Accept: application/problem+json' -H 'Authorization: Basic dXNlcjpwYXNz' $EDGE/api/v2/accounts/$A/jobs/
   curl -s '$ADMIN/stats?filter=tokengate'
Log: $OUT/envoy.log (requests, denials with tokengate_<code>). Stop it: bash envoy/demo.sh stop
EOF
