#!/usr/bin/env bash
# The main job on the built-in example: install what is needed, decide a handful of requests with
# the CLI over examples/policy.json, then start Envoy with the tokengate filter and the same policy,
# send it the same kinds of request, and leave it running with curl lines to try.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release -q -p tokengate-cli
tg=target/release/tokengate
tok() { python3 -c "import json,sys;print(json.load(open('tests/fixtures/tokens.json'))['tokens'][sys.argv[1]])" "$1"; }

printf '\n== the example policy\n'
$tg policy check examples/policy.json

show() {
  local what=$1 method=$2 url=$3 token=$4
  printf '\n-- %s\n   %s %s\n' "$what" "$method" "$url"
  local args=(check --policy examples/policy.json --method "$method" --url "$url")
  [ -n "$token" ] && args+=(--header "Authorization: Token $(tok "$token")")
  $tg "${args[@]}" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("   ->", d["status"], d["code"], "|", d["message"])' || true
}
show "a personal access token on its own account" GET https://ab123.us1.dbt.com/api/v2/accounts/70471823510118/jobs/ pat_spice
show "the same token on another account"          GET https://gn456.us1.dbt.com/api/v2/accounts/9007199254740993/jobs/ pat_spice
show "the retired cross-account endpoint"         GET https://cloud.getdbt.com/api/v3/accounts/ pat_spice
show "a legacy user API key"                      GET https://ab123.us1.dbt.com/api/v2/accounts/70471823510118/jobs/ user_key
show "a PAT where production wants a service token" POST https://ab123.us1.dbt.com/api/v2/accounts/70471823510118/jobs/42/run/ pat_spice
show "a service token there"                      POST https://ab123.us1.dbt.com/api/v2/accounts/70471823510118/jobs/42/run/ service_spice
show "no token at all"                            GET https://ab123.us1.dbt.com/api/v2/accounts/70471823510118/jobs/ ""
printf '\n-- a pasted token with its scheme and a newline, inspected\n'
printf 'Bearer %s \n' "$(tok pat_spice)" | $tg inspect || true

printf '\n== the same policy at the edge: Envoy with the tokengate filter\n'
bash envoy/demo.sh
