"""Every SPEC §6 step and §8 code, on the wire, through a real Envoy running the filter."""

from __future__ import annotations

import json
import re

import pytest

import policy_kit as pk
from cases import MAIN, STRICT, Case
from conftest import upstream_headers, wire_code
from harness import tokengate_stats


@pytest.fixture(scope="module")
def envoy(launch, front):
    return launch([front.filter(pk.dumps(pk.policy()))])


@pytest.fixture(scope="module")
def strict_envoy(launch, front):
    return launch([front.filter(pk.dumps(pk.strict_policy()))])


def send(envoy, c: Case, extra_headers=()):
    return envoy.request(c.method, c.path, list(c.headers) + list(extra_headers), host=c.host)


@pytest.mark.parametrize("case", MAIN, ids=lambda c: c.id)
def test_main_policy(envoy, case):
    r = send(envoy, case)
    assert (r.status, wire_code(r)) == (case.status, case.code), r.body[:400]


@pytest.mark.parametrize("case", STRICT, ids=lambda c: c.id)
def test_strict_policy(strict_envoy, case):
    r = send(strict_envoy, case)
    assert (r.status, wire_code(r)) == (case.status, case.code), r.body[:400]


def test_every_spec_code_is_seen_on_the_wire():
    seen = {c.code for c in MAIN + STRICT}
    spec = {"invalid_request", "missing_token", "unsupported_scheme", "malformed_token", "unsupported_token",
            "invalid_token", "revoked_token", "expired_token", "user_key_retired", "token_kind_not_allowed",
            "account_mismatch", "endpoint_sunset", "ok"}
    assert spec <= seen, spec - seen


def by_id(i: str) -> Case:
    return next(c for c in MAIN + STRICT if c.id == i)


# ---- what a denial looks like (SPEC §7) -------------------------------------------------------


def test_missing_token_challenge_has_no_error(envoy):
    r = send(envoy, by_id("missing_token"))
    assert r.header("www-authenticate") == 'Bearer realm="dbt"'
    assert r.header("cache-control") == "no-store"


@pytest.mark.parametrize("cid", ["unknown_token", "revoked_token", "expired_token", "pat_wrong_length", "basic_scheme"])
def test_401_challenge_names_invalid_token(envoy, cid):
    r = send(envoy, by_id(cid))
    assert r.status == 401
    ch = r.header("www-authenticate")
    assert ch.startswith('Bearer realm="dbt", error="invalid_token", error_description="'), ch
    assert r.header("cache-control") == "no-store"


def test_400_challenge_names_invalid_request(envoy):
    r = send(envoy, by_id("two_authorization_headers"))
    assert r.header("www-authenticate").startswith('Bearer realm="dbt", error="invalid_request"')


def test_403_has_no_challenge_and_does_not_reveal_the_tokens_account(envoy):
    r = send(envoy, by_id("token_for_another_account"))
    assert r.header("www-authenticate") is None
    assert r.header("cache-control") == "no-store"
    assert pk.ACCOUNT_A not in r.body.decode()
    assert "account" in r.json()["status"]["user_message"].lower()


def test_dbt_envelope_by_default(envoy):
    r = send(envoy, by_id("unknown_token"))
    assert r.header("content-type") == "application/json"
    assert len(r.header_all("content-type")) == 1
    doc = r.json()
    assert doc["data"] is None
    assert doc["status"]["code"] == 401
    assert doc["status"]["is_success"] is False
    assert doc["status"]["developer_message"] == "invalid_token"
    assert doc["status"]["user_message"]


def test_problem_json_when_asked(envoy):
    r = send(envoy, by_id("unknown_token"), [("Accept", "application/problem+json")])
    assert r.header("content-type") == "application/problem+json"
    doc = r.json()
    assert {"type", "title", "status", "detail", "code"} <= set(doc)
    assert (doc["status"], doc["code"]) == (401, "invalid_token")


def test_user_key_retired_tells_what_to_create(strict_envoy):
    r = send(strict_envoy, by_id("strict_legacy_key_retired"))
    msg = r.json()["status"]["user_message"].lower()
    assert "personal access token" in msg and "service" in msg


def test_endpoint_sunset_carries_sunset_and_link(envoy):
    r = send(envoy, by_id("endpoint_sunset"))
    assert r.status == 410
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", r.header("sunset"))
    assert r.header("link") == f'<{pk.LINK_KEYS}>; rel="deprecation"'


@pytest.mark.parametrize("cid", [c.id for c in MAIN + STRICT if c.status != 200])
def test_no_denial_contains_a_token_or_digest(envoy, strict_envoy, cid):
    c = by_id(cid)
    r = send(strict_envoy if cid.startswith("strict_") else envoy, c)
    text = r.body.decode() + json.dumps(r.headers)
    for t in pk.ALL_TOKENS:
        assert t not in text
        assert pk.sha256_hex(t) not in text


# ---- what reaches the upstream (SPEC §6 steps 1 and 12) -------------------------------------


def test_identity_headers_reach_upstream(envoy):
    r = send(envoy, by_id("pat_own_account"))
    seen = upstream_headers(r)
    assert seen["x-dbt-account-id"] == [pk.ACCOUNT_A]
    assert seen["x-dbt-token-kind"] == ["pat"]
    assert seen["x-dbt-token-id"] == [pk.token_id(pk.PAT_A)]
    assert "x-tokengate-would-deny" not in seen


def test_registry_token_id_and_big_account_ids(envoy):
    seen = upstream_headers(send(envoy, by_id("service_token_on_service_route")))
    assert (seen["x-dbt-token-kind"], seen["x-dbt-token-id"]) == (["service"], ["svc-a"])
    seen = upstream_headers(send(envoy, by_id("big_account_id")))
    assert seen["x-dbt-account-id"] == [pk.ACCOUNT_B]


def test_spoofed_identity_headers_are_replaced(envoy):
    spoof = [("X-Dbt-Account-Id", pk.ACCOUNT_B), ("x-dbt-account-id", "1"), ("X-DBT-Token-Kind", "service"),
             ("x-dbt-token-id", "forged"), ("x-tokengate-would-deny", "nothing")]
    seen = upstream_headers(send(envoy, by_id("pat_own_account"), spoof))
    assert seen["x-dbt-account-id"] == [pk.ACCOUNT_A]
    assert seen["x-dbt-token-kind"] == ["pat"]
    assert seen["x-dbt-token-id"] == [pk.token_id(pk.PAT_A)]
    assert "x-tokengate-would-deny" not in seen


def test_spoofed_identity_headers_are_removed_on_public_routes(envoy):
    spoof = [("x-dbt-account-id", pk.ACCOUNT_A), ("x-dbt-token-kind", "service"), ("x-tokengate-would-deny", "x")]
    r = send(envoy, by_id("public_route_no_token"), spoof)
    seen = upstream_headers(r)
    assert not {"x-dbt-account-id", "x-dbt-token-kind", "x-dbt-token-id", "x-tokengate-would-deny"} & set(seen), seen


def test_oauth_is_forwarded_without_account_binding(envoy):
    seen = upstream_headers(send(envoy, by_id("oauth_forwarded")))
    assert seen["x-dbt-token-kind"] == ["oauth"]
    assert "x-dbt-account-id" not in seen
    assert seen["authorization"] == [f"Bearer {pk.JWT}"]


def test_other_headers_and_body_pass_untouched(envoy):
    c = by_id("pat_own_account")
    r = envoy.request("PUT", c.path, list(c.headers) + [("X-Custom", "v1"), ("X-Custom", "v2")], body=b'{"a":1}', host=c.host)
    doc = r.json()
    assert doc["body"] == '{"a":1}'
    assert upstream_headers(r)["x-custom"] in (["v1", "v2"], ["v1,v2"])


# ---- deprecation headers on the upstream's response (SPEC §6 steps 8 and 11) ----------------


def test_legacy_key_allowed_with_deprecation_headers(envoy):
    r = send(envoy, by_id("legacy_key_before_sunset"))
    assert r.status == 200 and r.header("x-upstream") == "echo"
    assert re.fullmatch(r"@\d+", r.header("deprecation"))
    assert r.header("sunset").endswith(" GMT")
    assert r.header("link") == f'<{pk.LINK_KEYS}>; rel="deprecation"'
    seen = upstream_headers(r)
    assert seen["x-dbt-token-kind"] == ["user_key"]
    assert seen["x-dbt-token-id"] == ["legacy-key"]


def test_endpoint_in_window_allowed_with_deprecation_headers(envoy):
    r = send(envoy, by_id("endpoint_in_deprecation_window"))
    assert r.status == 200
    assert r.header("link") == f'<{pk.LINK_V2}>; rel="deprecation"'
    assert r.header("deprecation").startswith("@")


def test_plain_allow_has_no_deprecation_headers(envoy):
    r = send(envoy, by_id("pat_own_account"))
    assert r.header("deprecation") is None and r.header("sunset") is None and r.header("link") is None


# ---- metrics and logs ------------------------------------------------------------------------


def test_metrics_on_admin_stats(envoy):
    before = tokengate_stats(envoy)
    for cid, n in [("pat_own_account", 3), ("unknown_token", 2), ("legacy_key_before_sunset", 1), ("token_for_another_account", 1)]:
        for _ in range(n):
            send(envoy, by_id(cid))
    after = tokengate_stats(envoy)

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    assert delta("allowed") == 4
    assert delta("deprecated_served") == 1
    assert delta("denied.invalid_token") == 2
    assert delta("denied.account_mismatch") == 1
    assert delta("denied.missing_token") == 0
    assert after["registry.tokens"] == 6
    # Prometheus output carries them too.
    _, prom = envoy.admin_get("/stats/prometheus")
    assert "tokengate_allowed" in prom


def test_one_debug_line_per_denial_without_token(envoy):
    c = by_id("revoked_token")
    send(envoy, c)
    lines = [l for l in envoy.log().splitlines() if "denied 401 revoked_token" in l]
    assert lines, "no denial line"
    assert f"token_id={pk.token_id(pk.REVOKED_A)}" in lines[-1]
    log = envoy.log()
    for t in pk.ALL_TOKENS:
        assert t not in log
        assert pk.sha256_hex(t) not in log
