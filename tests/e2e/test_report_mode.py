"""`mode: report`: nothing is denied; what would have been is marked, counted and logged."""

from __future__ import annotations

import pytest

import policy_kit as pk
from cases import MAIN
from conftest import upstream_headers
from harness import tokengate_stats


@pytest.fixture(scope="module")
def envoy(launch, front):
    return launch([front.filter(pk.dumps(pk.policy(mode="report")))])


@pytest.mark.parametrize("case", [c for c in MAIN if c.status != 200], ids=lambda c: c.id)
def test_would_be_denials_reach_the_upstream_marked(envoy, case):
    r = envoy.request(case.method, case.path, list(case.headers) + [("x-dbt-account-id", "999")], host=case.host)
    assert r.status == 200 and r.header("x-upstream") == "echo", r.body[:300]
    seen = upstream_headers(r)
    assert seen["x-tokengate-would-deny"] == [case.code]
    assert not {"x-dbt-account-id", "x-dbt-token-kind", "x-dbt-token-id"} & set(seen), seen
    # The client sees the upstream's answer, not the denial's headers.
    assert r.header("www-authenticate") is None


def test_allowed_requests_are_unchanged_in_report_mode(envoy):
    r = envoy.request("GET", f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/", [("Authorization", f"Token {pk.PAT_A}"), ("x-tokengate-would-deny", "forged")])
    seen = upstream_headers(r)
    assert seen["x-dbt-account-id"] == [pk.ACCOUNT_A]
    assert "x-tokengate-would-deny" not in seen


def test_would_deny_is_counted_and_logged(envoy):
    before = tokengate_stats(envoy)
    for _ in range(3):
        envoy.request("GET", f"/api/v2/accounts/{pk.ACCOUNT_B}/jobs/", [("Authorization", f"Token {pk.PAT_A}")])
    envoy.request("GET", f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/", [("Authorization", f"Token {pk.PAT_A}")])
    after = tokengate_stats(envoy)

    def delta(n):
        return after.get(n, 0) - before.get(n, 0)

    assert delta("report.would_deny.account_mismatch") == 3
    assert delta("denied.account_mismatch") == 0
    assert delta("allowed") == 1
    assert any("would deny 403 account_mismatch" in l for l in envoy.log().splitlines())
