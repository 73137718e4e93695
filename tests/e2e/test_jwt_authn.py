"""The JWT table through a real Envoy with its own jwt_authn filter on the same JWKS, issuer,
audience and leeway: it accepts and refuses what the table says (and so what tokengate does,
account binding aside, which jwt_authn cannot do). docs/oauth.md has the side-by-side table."""

from __future__ import annotations

import pytest

import jwt_kit

# Case names for the ids; the tokens are minted when the module's tests start (`table`), since
# Envoy decides on the real clock and `exp_inside_leeway` holds for 15 minutes after minting only.
IDS = [c["id"] for c in jwt_kit.cases()["cases"]]


@pytest.fixture(scope="module")
def table() -> dict:
    return jwt_kit.cases()


@pytest.fixture(scope="module")
def envoy(launch, table):
    return launch([jwt_kit.jwt_authn_filter(table)])


@pytest.mark.parametrize("case_id", IDS)
def test_jwt_authn_verdict(envoy, table, case_id):
    case = next(c for c in table["cases"] if c["id"] == case_id)
    r = envoy.request("GET", case["path"], [("Authorization", f"Bearer {case['token']}")])
    accepted = r.header("x-upstream") == "echo"
    # The echo upstream repeats the request's Authorization: a failure names the status only.
    assert accepted == case["jwt_authn_accepts"], (r.status, "upstream" if r.status == 200 else r.body[:80])
    if not accepted:
        # jwt_authn answers 403 for a wrong or missing audience, 401 for the rest.
        assert r.status == (403 if "aud" in case["id"] else 401), (r.status, r.body[:200])
    # Where tokengate and jwt_authn agree, the table says they do; each difference is named.
    tokengate_accepts = case["code"] == "ok"
    assert (accepted == tokengate_accepts) == (case["jwt_authn_differs"] is None), case["id"]
