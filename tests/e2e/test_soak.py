"""The soak: a sustained mixed load through a real Envoy running the filter, with exact
accounting. Loopback only; it stops by itself after SOAK_SECONDS (default 45, for each front:
the suite runs it against the proxy-wasm filter and against the native module).

Concurrent clients on keep-alive connections (HTTP/1.1, and one on HTTP/2) send a seeded random
mix of requests — valid, invalid, wrong-account, deprecated, malformed, missing, ambiguous —
whose decisions the CLI gave beforehand. Every answer must be exactly that decision (status,
code and body of a denial; identity headers upstream and deprecation headers of an allowed one),
none may be lost, and Envoy's own counters must agree with the client's tally to the request:
the filter's allowed / denied.<code> / deprecated_served, the connection manager's request and
status-class counts, and the number of requests the upstream saw.

    SOAK_SECONDS=600 .venv/bin/pytest tests/e2e/test_soak.py      # a longer run
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import pytest

import policy_kit as pk
from harness import Envoy, Upstream, bootstrap
from hostile_kit import (
    LeakScanner,
    Load,
    Oracle,
    Template,
    as_envoy_joins,
    counter_delta,
    env_seconds,
    expected_counters,
    filter_counters,
    hcm_stats,
    record_figures,
    vm_problems,
    vm_snapshot,
)

SOAK_SECONDS = env_seconds("SOAK_SECONDS", 45.0)
THREADS = int(env_seconds("SOAK_THREADS", 4))
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).timestamp()
A, B = pk.ACCOUNT_A, pk.ACCOUNT_B
JOBS_A, JOBS_B = f"/api/v2/accounts/{A}/jobs/", f"/api/v2/accounts/{B}/jobs/"
RUN_A = f"/api/v2/accounts/{A}/jobs/7/run/"


def tok(t: str, scheme: str = "Token") -> tuple:
    return (("Authorization", f"{scheme} {t}"),)


PROBLEM = (("Accept", "application/problem+json"),)

TEMPLATES = [
    # valid
    Template("pat_own_account", "GET", JOBS_A, tok(pk.PAT_A)),
    Template("pat_big_account", "GET", f"/api/v3/accounts/{B}/projects/", tok(pk.PAT_B)),
    Template("service_on_run_route", "POST", RUN_A, tok(pk.SVC_A)),
    Template("oauth_forwarded", "GET", JOBS_A, tok(pk.JWT, "Bearer")),
    Template("host_names_account", "GET", "/api/graphql", tok(pk.PAT_A), host=f"{pk.PREFIX_A}.metadata.us1.dbt.com"),
    Template("forged_identity_replaced", "GET", JOBS_A, tok(pk.PAT_A) + (("x-dbt-account-id", B), ("x-dbt-token-kind", "service"))),
    Template("public_route", "GET", "/health"),
    # deprecated (allowed, with headers)
    Template("legacy_key_deprecated", "GET", JOBS_A, tok(pk.USER_KEY)),
    Template("endpoint_in_window", "GET", "/api/v3/legacy/report", tok(pk.PAT_A)),
    # invalid
    Template("unknown_token", "GET", JOBS_A, tok(pk.UNKNOWN_PAT)),
    Template("revoked_token", "GET", JOBS_A, tok(pk.REVOKED_A)),
    Template("expired_token", "GET", JOBS_A, tok(pk.EXPIRED_A), ),
    Template("near_miss_token", "GET", JOBS_A, tok(pk.PAT_A[:-1] + ("A" if pk.PAT_A[-1] != "A" else "B"))),
    # wrong account
    Template("pat_on_other_account", "GET", JOBS_B, tok(pk.PAT_A)),
    Template("host_and_path_disagree", "GET", JOBS_A, tok(pk.PAT_A), host=f"{pk.PREFIX_B}.us1.dbt.com"),
    Template("wrong_account_problem_json", "GET", JOBS_B, tok(pk.PAT_A) + PROBLEM),
    Template("kind_not_allowed", "POST", RUN_A, tok(pk.PAT_A)),
    # malformed, missing, ambiguous
    Template("malformed_short", "GET", JOBS_A, tok("dbtu_short")),
    Template("malformed_bad_char", "GET", JOBS_A, tok(pk.PAT_A[:-1] + "!")),
    Template("not_a_token", "GET", JOBS_A, tok("someone@example.com")),
    Template("missing_token", "GET", JOBS_A),
    Template("missing_token_problem_json", "GET", JOBS_A, PROBLEM),
    Template("basic_scheme", "GET", JOBS_A, (("Authorization", "Basic dXNlcjpwYXNz"),)),
    Template("two_credentials", "GET", JOBS_A, tok(pk.PAT_A) + tok(pk.PAT_B)),
    Template("ambiguous_path", "GET", f"/api/v2/accounts/{A}/%2e%2e/{B}/jobs/", tok(pk.PAT_B)),
    Template("endpoint_sunset", "GET", "/api/v2/accounts/", tok(pk.PAT_A)),
]


@pytest.fixture(scope="module")
def soak_envoy(front, tmp_path_factory):
    # Its own upstream (counting, not recording, what it echoes) and its own Envoy: every
    # counter read below belongs to this test alone.
    up = Upstream(record=False).start()
    e = Envoy(bootstrap([front.filter(pk.dumps(pk.policy(NOW)))], up.port), tmp_path_factory.mktemp("soak"))
    e.start()
    yield e, up
    e.stop()
    up.stop()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_soak_exact_accounting(soak_envoy, cli_bin, tmp_path):
    envoy, up = soak_envoy
    oracle = Oracle(cli_bin, {"main": pk.policy(NOW)}, tmp_path, NOW)
    expect = {t.id: oracle.decide("main", t.method.encode(), t.path.encode(), t.host.encode(), as_envoy_joins(t.headers))
              for t in TEMPLATES}
    kinds = Counter("deprecated" if d["allow"] and "deprecation" in d["response_headers"] else d["code"] for d in expect.values())
    assert kinds["ok"] >= 5 and kinds["deprecated"] == 2 and kinds["account_mismatch"] >= 3, kinds

    # Warm every worker's VM (first requests compile code paths), then take the baselines.
    for t in TEMPLATES:
        envoy.request(t.method, t.path, list(t.headers), host=t.host)
    time.sleep(0.2)
    c0, h0, vm0, up0, log_at = filter_counters(envoy), hcm_stats(envoy), vm_snapshot(envoy), up.echoed, len(envoy.log())
    rss0 = rss_kib(envoy.proc.pid)

    scanner = LeakScanner(pk.ALL_TOKENS + [t.headers[0][1].split(" ", 1)[1] for t in TEMPLATES
                                           if t.headers and t.headers[0][0] == "Authorization"])
    t0 = time.monotonic()
    load = Load(envoy.port, TEMPLATES, lambda t: [expect[t.id]], threads=THREADS, h2_threads=1,
                seconds=SOAK_SECONDS, seed=20261128, scanner=scanner).start()
    res = load.wait()
    elapsed = time.monotonic() - t0
    time.sleep(0.2)  # let the last stats land

    moved = counter_delta(c0, filter_counters(envoy))
    want = expected_counters(res.decisions)
    h1 = hcm_stats(envoy)
    hcm = {k: h1.get(k, 0) - h0.get(k, 0) for k in ("downstream_rq_total", "downstream_rq_2xx", "downstream_rq_4xx",
                                                     "downstream_rq_5xx", "downstream_rq_http1_total", "downstream_rq_http2_total")}
    allowed = sum(1 for d in res.decisions if d["allow"])
    echoed = up.echoed - up0
    log = envoy.log()[log_at:]
    scanner.scan_log(log)
    problems = vm_problems(vm0, vm_snapshot(envoy), log)
    rss1 = rss_kib(envoy.proc.pid)

    figures = {
        "seconds": round(elapsed, 1), "threads": THREADS, "h2_threads": 1, "templates": len(TEMPLATES),
        "requests": res.sent, "answered": res.answered, "lost": len(res.lost), "mismatches": len(res.mismatches),
        "rate_per_s": round(res.sent / elapsed), "by_code": dict(res.by_code), "statuses": {str(k): v for k, v in res.statuses.items()},
        "h2_requests": res.h2_requests, "reconnects": res.reconnects, "allowed": allowed, "upstream_saw": echoed,
        "filter_counters": dict(moved), "envoy_rq": hcm, "vm_problems": len(problems), "panics": sum(p.startswith("log:") for p in problems), "leaks": len(scanner.leaks),
        "scanned": scanner.scanned, "envoy_rss_kib": [rss0, rss1],
    }
    record_figures("soak", figures)

    assert res.sent > 0 and res.sent == res.answered and not res.lost, res.lost[:10]
    assert not res.mismatches, res.mismatches[:10]
    assert set(res.by_template) == {t.id for t in TEMPLATES}, "every template was sent"
    assert moved == want, (dict(moved), dict(want))
    assert hcm["downstream_rq_total"] == res.sent, hcm
    assert hcm["downstream_rq_2xx"] == allowed and hcm["downstream_rq_4xx"] == res.sent - allowed, hcm
    assert hcm["downstream_rq_5xx"] == 0 and hcm["downstream_rq_http2_total"] == res.h2_requests, hcm
    assert echoed == allowed, (echoed, allowed)
    assert not problems, problems
    assert not scanner.leaks, scanner.leaks[:10]
    # No growth to speak of: Envoy's resident memory after the soak, against before.
    assert rss1 - rss0 < 100 * 1024, (rss0, rss1)
