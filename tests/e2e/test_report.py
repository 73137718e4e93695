"""The migration checklist from a real access log, once per front: the shipped demo configuration
(envoy/envoy.yaml, or envoy/native.yaml for the native module; its access log and its policy) in
report mode takes mixed traffic, then `tokengate report` reads
the log Envoy wrote and must list exactly who still has something to migrate. The log itself must
hold no token and no whole digest, even of a `?token=` on a path. Also: production.yaml's
per-account local rate limit, run as written, throttles one noisy account and not the others."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from harness import ROOT, Envoy, free_ports, wait_for
from test_configs import TOKENS, block_after

ENVOY_DIR = ROOT / "envoy"
A, G = "70471823510118", "9007199254740993"
SPICE, GUILD = "ab123.us1.dbt.com", "gn456.us1.dbt.com"
# A second user's legacy key, registered by the test (the example registry has one user's).
ANA_KEY = "6c0ffee00d15ea5e6c0ffee00d15ea5e6c0ffee0"
TERRAFORM = "terraform-provider-dbtcloud/1.3.0"


def digest(t: str) -> str:
    return hashlib.sha256(t.encode()).hexdigest()


# Each front's shipped demo configuration, and where it writes its access log.
CONFIGS = {"wasm": ("envoy.yaml", "target/envoy/access.log"), "native": ("native.yaml", "target/envoy/native-access.log")}


def report_policy() -> dict:
    """The shipped policy as an operator starts a rollout with it: `report` mode, in the middle
    of the migration (legacy keys deprecated but not yet past their sunset, so they are served
    with a notice and the kind-scoped retirement of /api/v2/accounts/ is what refuses them), and
    a second user's legacy key in the registry."""
    p = json.loads(block_after((ENVOY_DIR / "envoy.yaml").read_text(), "value: |"))
    p["mode"] = "report"
    p["deprecations"]["user_keys"]["sunset_at"] = "2030-01-01T00:00:00Z"
    p["registry"]["tokens"].append({"sha256": digest(ANA_KEY), "kind": "user_key", "user_id": "1002",
                                    "name": "ana-legacy-key"})
    return p


def demo_text(front: str, policy: dict, wasm: Path, log: Path) -> str:
    """The front's shipped demo configuration, with free ports, the built filter, the given policy
    inline and the access log in `log`."""
    name, shipped_log = CONFIGS[front]
    text = (ENVOY_DIR / name).read_text()
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "value: |") + 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) >= indent):
        end += 1
    body = [" " * indent + l for l in json.dumps(policy, indent=2).splitlines()]
    text = "\n".join(lines[:start] + body + lines[end:]) + "\n"
    admin, edge, stand_in = free_ports(3)
    edits = [("port_value: 9901", f"port_value: {admin}"), ("port_value: 10000", f"port_value: {edge}"),
             ("port_value: 10001", f"port_value: {stand_in}"), (f"path: {shipped_log}", f"path: {log}")]
    if front == "wasm":
        edits.append(("filename: target/envoy/tokengate.wasm", f"filename: {wasm}"))
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


# (method, host, path, token, user agent): each the way a real client would send it.
TRAFFIC = [
    # Legacy keys from two users, still in use (served with a deprecation notice).
    ("GET", SPICE, f"/api/v2/accounts/{A}/jobs/", TOKENS["user_key"], "python-requests/2.31.0"),
    ("GET", SPICE, f"/api/v2/accounts/{A}/jobs/42/", TOKENS["user_key"], "python-requests/2.31.0"),
    ("GET", GUILD, f"/api/v2/accounts/{G}/runs/7/", ANA_KEY, "curl/8.5.0"),
    # ... and on the retired cross-account endpoints.
    ("GET", "cloud.getdbt.com", "/api/v2/accounts/", TOKENS["user_key"], "python-requests/2.31.0"),
    ("GET", "cloud.getdbt.com", "/api/v3/accounts/", ANA_KEY, "curl/8.5.0"),
    # Production Terraform: a PAT where a service token belongs, then the service token, which
    # lists /api/v2/accounts/ at start-up as the provider does and must be answered.
    ("GET", SPICE, f"/api/v2/accounts/{A}/projects/", TOKENS["pat_spice"], TERRAFORM),
    ("GET", SPICE, f"/api/v2/accounts/{A}/jobs/", TOKENS["pat_spice"], TERRAFORM),
    ("GET", "cloud.getdbt.com", "/api/v2/accounts/", TOKENS["service_spice"], TERRAFORM),
    ("GET", SPICE, f"/api/v2/accounts/{A}/projects/", TOKENS["service_spice"], TERRAFORM),
    # Account mismatches: a token used against the other account, by path and by host.
    ("GET", GUILD, f"/api/v2/accounts/{G}/jobs/", TOKENS["pat_spice"], "curl/8.5.0"),
    ("GET", SPICE, f"/api/v2/accounts/{A}/jobs/", TOKENS["pat_guild"], "Hightouch/1.0"),
    # A token in the query (query_token is off: ignored, and never logged).
    ("GET", SPICE, f"/api/v2/accounts/{A}/jobs/?token={TOKENS['pat_guild']}", TOKENS["pat_spice"], "curl/8.5.0"),
    ("GET", SPICE, f"/api/v2/accounts/{A}/jobs/?token={TOKENS['pat_spice']}", None, "curl/8.5.0"),
    # Fine as they are.
    ("GET", GUILD, f"/api/v2/accounts/{G}/jobs/", TOKENS["pat_guild"], "dbt-cloud-cli/0.9"),
    ("GET", SPICE, "/health", None, "kube-probe/1.31"),
]


@pytest.fixture(scope="module", params=list(CONFIGS))
def run(request, tmp_path_factory, filter_wasm, cli_bin):
    """Envoy up, the traffic sent, the log complete: (log text, policy path, responses). Once per
    front: the proxy-wasm filter (filter state) and the native module (dynamic metadata) must log
    the same fields."""
    if request.param == "native":
        request.getfixturevalue("native_module")  # native.yaml loads target/envoy/libtokengate.so
    d = tmp_path_factory.mktemp("report")
    log = d / "access.log"
    policy = report_policy()
    policy_path = d / "policy.json"
    policy_path.write_text(json.dumps(policy, indent=2))
    # The harness starts Envoy with --file-flush-interval-msec 100 (the default is 10 s).
    e = Envoy(demo_text(request.param, policy, filter_wasm, log), d, listener="edge")
    e.start()
    try:
        answers = []
        for method, host, path, token, ua in TRAFFIC:
            headers = [("User-Agent", ua)]
            if token:
                headers.append(("Authorization", f"Token {token}"))
            answers.append(e.request(method, path, headers, host=host))
        # Each request is one line once Envoy has flushed (every 100 ms here).
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= len(TRAFFIC), timeout=15,
                 what="every request in the access log")
    finally:
        e.stop()
    return log.read_text(), policy_path, answers


def test_report_mode_let_everything_through(run):
    _, _, answers = run
    assert [a.status for a in answers] == [200] * len(TRAFFIC)


def test_the_log_is_json_lines_with_the_decision(run):
    text, _, _ = run
    lines = [json.loads(l) for l in text.splitlines()]
    assert len(lines) == len(TRAFFIC)
    keys = {"time", "method", "path", "status", "user_agent", "authority", "code", "token_id", "token_kind",
            "account_id", "client", "would_deny", "advice"}
    assert all(keys <= set(l) for l in lines)
    by_path = {(l["authority"], l["path"], l["user_agent"]): l for l in lines}
    retired = by_path[("cloud.getdbt.com", "/api/v2/accounts/", "python-requests/2.31.0")]
    assert (retired["code"], retired["would_deny"], retired["token_kind"]) == ("endpoint_sunset", "endpoint_sunset", "user_key")
    assert retired["token_id"] == digest(TOKENS["user_key"])[:12]
    terraform_service = by_path[("cloud.getdbt.com", "/api/v2/accounts/", TERRAFORM)]
    assert (terraform_service["code"], terraform_service["would_deny"]) == ("ok", None)
    assert terraform_service["token_id"] == "svc-harvest-prod"
    health = by_path[(SPICE, "/health", "kube-probe/1.31")]
    assert health["code"] == "ok" and health["token_id"] is None


def test_the_log_holds_no_token_no_digest_and_no_query(run):
    text, _, _ = run
    for name, t in list(TOKENS.items()) + [("ana", ANA_KEY)]:
        assert t not in text, f"{name} in the access log"
        assert digest(t) not in text, f"the whole digest of {name} in the access log"
    assert "?" not in text and "token=" not in text
    assert not re.search(r"authorization|Token dbt", text, re.I)


def test_the_report_lists_what_is_left(run, cli_bin):
    text, policy_path, _ = run
    log = policy_path.parent / "access.log"
    p = subprocess.run([str(cli_bin), "report", "--format", "json", "--registry", str(policy_path), str(log)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stderr  # entries left: exit 1
    r = json.loads(p.stdout)
    assert r["requests"] == len(TRAFFIC) and r["unparseable_lines"] == 0
    paul, ana = digest(TOKENS["user_key"])[:12], digest(ANA_KEY)[:12]

    legacy = {k["token_id"]: k for k in r["legacy_keys"]}
    assert list(legacy) == [paul, ana]  # most requests first
    assert (legacy[paul]["name"], legacy[paul]["user_id"], legacy[paul]["requests"]) == ("paul-legacy-key", "1001", 3)
    assert legacy[paul]["endpoints"] == ["/api/v2/accounts/", "/api/v2/accounts/{id}/jobs/", "/api/v2/accounts/{id}/jobs/{id}/"]
    assert legacy[paul]["user_agents"] == ["python-requests/2.31.0"]
    assert (legacy[ana]["name"], legacy[ana]["user_id"], legacy[ana]["requests"]) == ("ana-legacy-key", "1002", 2)
    assert legacy[ana]["endpoints"] == ["/api/v2/accounts/{id}/runs/{id}/", "/api/v3/accounts/"]
    assert legacy[ana]["first_seen"] <= legacy[ana]["last_seen"]

    assert r["retired_endpoints"] == [
        {"endpoint": "/api/v2/accounts/", "requests": 1, "token_ids": [paul], "user_agents": ["python-requests/2.31.0"]},
        {"endpoint": "/api/v3/accounts/", "requests": 1, "token_ids": [ana], "user_agents": ["curl/8.5.0"]},
    ]
    assert r["service_token_advised"] == [
        {"token_id": "64e4c07917ae", "name": "paul-spice-cli", "client": "production Terraform", "requests": 2,
         "user_agents": [TERRAFORM]},
    ]
    mismatches = {m["token_id"]: m for m in r["account_mismatches"]}
    assert set(mismatches) == {"64e4c07917ae", "4845eb85e672"}
    assert mismatches["64e4c07917ae"]["endpoints"] == ["/api/v2/accounts/{id}/jobs/"]

    # The same log, the formats people read: the legacy keys by name, and the next steps.
    text_report = subprocess.run([str(cli_bin), "report", "--registry", str(policy_path), str(log)],
                                 capture_output=True, text=True, timeout=60).stdout
    assert "1. Legacy user API keys: 2 keys, 5 requests." in text_report
    assert "ana-legacy-key (user 1002" in text_report
    out = policy_path.parent / "report.md"
    md = subprocess.run([str(cli_bin), "report", "--format", "markdown", "--registry", str(policy_path), str(log)],
                        capture_output=True, text=True, timeout=60).stdout
    out.write_text(md)
    for t in list(TOKENS.values()) + [ANA_KEY]:
        assert t not in text_report + md


# --------------------------------------------------------------------------------------------
# production.yaml's per-account rate limit, as written.
# --------------------------------------------------------------------------------------------


def rate_limit_block() -> str:
    """The local_ratelimit filter of production.yaml, between its begin and end markers."""
    text = (ENVOY_DIR / "production.yaml").read_text()
    m = re.search(r"^ *# --- per-account rate limit \(begin\).*?\n(.*?)^ *# --- per-account rate limit \(end\)", text,
                  re.S | re.M)
    assert m, "markers missing in production.yaml"
    return m.group(1)


def test_a_noisy_account_is_throttled_by_envoy_and_the_others_go_on(tmp_path, filter_wasm, upstream):
    block = rate_limit_block()
    assert "x-dbt-account-id" in block and 'value: ""' in block
    indent = len(block.splitlines()[0]) - len(block.splitlines()[0].lstrip())
    block = "\n".join(l[indent:] for l in block.splitlines())
    burst = int(re.search(r"max_tokens: (\d+)", block).group(1))
    policy = json.loads(block_after((ENVOY_DIR / "envoy.yaml").read_text(), "value: |"))
    filters = "\n".join(" " * 10 + l for l in block.splitlines())
    config = f"""
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: 0}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: edge
          route_config:
            virtual_hosts:
            - {{name: all, domains: ["*"], routes: [{{match: {{prefix: "/"}}, route: {{cluster: upstream}}}}]}}
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: tokengate
                root_id: tokengate
                vm_config: {{vm_id: tokengate, runtime: envoy.wasm.runtime.v8, code: {{local: {{filename: {filter_wasm}}}}}}}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {json.dumps(json.dumps(policy))}
{filters}
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
  clusters:
  - name: upstream
    type: STATIC
    load_assignment:
      cluster_name: upstream
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream.port}}}}}}}}}]}}]
admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: 0}}}}}}
"""
    e = Envoy(config, tmp_path)
    e.start()
    try:
        noisy = [("Authorization", f"Token {TOKENS['pat_spice']}")]
        quiet = [("Authorization", f"Token {TOKENS['pat_guild']}")]
        # A client-sent account header is removed before the limiter sees it: it cannot pick
        # another account's bucket.
        spoofed = noisy + [("x-dbt-account-id", G)]
        # The bucket starts full (`max_tokens`) and refills 10 a second: sent back to back, the
        # noisy account meets a 429 soon after the burst.
        passed, limited = 0, False
        for i in range(burst * 8):
            status = e.request("GET", f"/api/v2/accounts/{A}/jobs/", spoofed if i % 2 else noisy, host=SPICE).status
            if status == 429:
                limited = True
                break
            assert status == 200, status
            passed += 1
        assert limited, f"no 429 after {passed} requests"
        assert passed >= burst, passed
        # The other account has its own bucket, untouched by the noise.
        other = [e.request("GET", f"/api/v2/accounts/{G}/jobs/", quiet, host=GUILD).status for _ in range(10)]
        assert other == [200] * 10
        stats = e.stats("tokengate_per_account")
        assert any(v > 0 for k, v in stats.items() if k.endswith("rate_limited")), stats
    finally:
        e.stop()
