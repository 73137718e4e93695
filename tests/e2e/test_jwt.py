"""The JWT table (jwt_cases.mjs) through tokengate's Envoy fronts (the proxy-wasm filter and the
native module) and its CLI: every case gives the table's code from each, with the same status,
challenge and body, and an allowed token's account claim reaches the upstream as its header. test_jwt_authn.py puts the same
tokens through Envoy's own jwt_authn; js/test/jwt.test.mjs through the JS package."""

from __future__ import annotations

import json
import subprocess

import pytest

import jwt_kit
import policy_kit as pk
from conftest import upstream_headers, wire_code

# The case names, for the test ids. The tokens are minted again when the module's tests start
# (`table`): Envoy decides on the real clock, and a case such as `exp_inside_leeway` is only
# what it says for 30 s after it was minted; a whole-suite run reaches this module minutes after
# collection, and the suite runs it once per front.
IDS = [c["id"] for c in jwt_kit.cases()["cases"]]


@pytest.fixture(scope="module")
def table() -> dict:
    return jwt_kit.cases()


def by_id(table: dict, case_id: str) -> dict:
    return next(c for c in table["cases"] if c["id"] == case_id)


@pytest.fixture(scope="module")
def envoy(launch, front, table):
    return launch([front.filter(json.dumps(jwt_kit.policy(table)))])


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory, table):
    f = tmp_path_factory.mktemp("jwt") / "policy.json"
    f.write_text(json.dumps(jwt_kit.policy(table)))
    return f


def cli_decide(cli_bin, policy_file, case, now: int) -> dict:
    args = [str(cli_bin), "check", "--policy", str(policy_file), "--url", case["path"], "--now", pk.rfc3339(now),
            "--header", f"Authorization: Bearer {case['token']}"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("case_id", IDS)
def test_cli_and_envoy_decide_the_table(cli_bin, policy_file, envoy, table, case_id):
    case = by_id(table, case_id)
    d = cli_decide(cli_bin, policy_file, case, table["now"])
    assert d["code"] == case["code"], d["message"]
    r = envoy.request("GET", case["path"], [("Authorization", f"Bearer {case['token']}")])
    assert (r.status, wire_code(r)) == (d["status"], d["code"])
    if d["allow"]:
        seen = upstream_headers(r)
        assert seen.get("x-dbt-token-kind") == ["oauth"]
        assert seen.get("x-dbt-account-id") == [d["account_id"]]
    else:
        assert r.body.decode() == d["body"]
        assert r.header("www-authenticate") == d["response_headers"].get("www-authenticate")
    # No decision, and no denial, repeats a piece of the token (an allowed request's body is the
    # echo upstream's, which shows the Authorization header it was sent).
    for part in case["token"].split("."):
        if len(part) >= 16:
            assert part not in json.dumps(d)
            assert d["allow"] or part not in r.body.decode()


def test_the_table_is_big_enough(table):
    assert len(table["cases"]) >= 20
    assert {c["code"] for c in table["cases"]} >= {"ok", "invalid_token", "expired_token", "account_mismatch"}


INSPECTED = {"rs256_valid": [], "expired": ["exp"], "wrong_audience": ["aud"], "unknown_kid": ["kid"],
             "tampered_payload": ["signature"], "hs256_keyed_with_rsa_public_key": ["alg"],
             "account_claim_missing": ["account_claim"]}


@pytest.mark.parametrize("case_id", sorted(INSPECTED))
def test_cli_inspect_shows_claims_and_failed_checks_never_the_signature(cli_bin, policy_file, table, case_id):
    case = by_id(table, case_id)
    p = subprocess.run([str(cli_bin), "inspect", "--policy", str(policy_file), "--now", pk.rfc3339(table["now"])],
                       input=case["token"], capture_output=True, text=True, timeout=30)
    out = json.loads(p.stdout)
    assert [f["check"] for f in out["failed_checks"]] == INSPECTED[case_id]
    assert out["verified"] is (not INSPECTED[case_id])
    assert p.returncode == (0 if out["verified"] else 1)
    assert out["jwt"]["claims"]["iss"] == table["policy_oauth"]["verify"]["issuer"]
    signature = case["token"].rsplit(".", 1)[1]
    assert signature not in p.stdout and out["jwt"]["signature_bytes"] > 0
