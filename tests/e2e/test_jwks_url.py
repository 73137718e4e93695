"""oauth.verify.jwks.url (SPEC §11, issue 14): the key set fetched over HTTP like registry.url —
503 jwks_unavailable until it loads (or let through marked), ETag revalidation, the last good set
kept through failures, one copy per process, and one refetch per cooldown when a token names a
`kid` the set does not hold (an issuer that rotated its keys). Both Envoy fronts.

Every wait is on a condition the filter makes true (a log line, a counter, the key set server's
own record of fetches), bounded; a worker decides with a new key set only once its VM has logged
holding it."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

import policy_kit as pk
from conftest import upstream_headers, wire_code
from harness import keys_on_every_vm, static_cluster, tokengate_stat, wait_for

HERE = Path(__file__).resolve().parent
JWKS_PATH = "/_jwks/keys.json"


@pytest.fixture(scope="module")
def issuer() -> dict:
    """Three key sets (ec-1; ec-1 and ec-2; all three) and a token signed by each key."""
    out = subprocess.run(["node", str(HERE / "jwks_rotation.mjs"), str(int(time.time()))],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def set_bytes(issuer: dict, n: int) -> bytes:
    return json.dumps(issuer["sets"][n - 1]).encode()


def jwks_policy(issuer: dict, refresh: int = 1, cooldown: int = 30, until_loaded: str = "deny") -> dict:
    p = pk.policy()
    p["oauth"] = {"verify": {
        "issuer": issuer["issuer"], "audiences": [issuer["audience"]], "algorithms": ["ES256"],
        "account_claim": issuer["account_claim"],
        "jwks": {"url": {"cluster": "registry", "path": JWKS_PATH, "authority": "idp.internal",
                         "refresh_seconds": refresh, "timeout_ms": 500, "until_loaded": until_loaded,
                         "refetch_cooldown_seconds": cooldown}},
    }}
    return p


PATH = f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/"


def ask(envoy, token: str):
    return envoy.request("GET", PATH, [("Authorization", f"Bearer {token}")])


@pytest.fixture
def jwks(upstream, issuer):
    st = upstream.jwks
    st.set(body=set_bytes(issuer, 1), etag='"k1"', mode="ok")
    with st.lock:
        st.fetches.clear()
        st.fetched_at.clear()
    return st


def start(envoy_factory, front, upstream, policy, **kw):
    return envoy_factory([front.filter(pk.dumps(policy))], [static_cluster("registry", upstream.port)], **kw)


def key_fetches(st) -> list:
    with st.lock:
        return [f for f in st.fetches if f[0] == JWKS_PATH]


def test_unavailable_until_loaded_then_verified_and_revalidated(envoy_factory, front, upstream, issuer, jwks):
    jwks.set(mode="error")
    envoy = start(envoy_factory, front, upstream, jwks_policy(issuer))
    r = ask(envoy, issuer["tokens"]["ec-1"])
    assert (r.status, wire_code(r)) == (503, "jwks_unavailable")
    assert r.header("cache-control") == "no-store"
    assert "key set has not loaded" in r.json()["status"]["user_message"]
    # Tokens the registry decides do not wait for the key set.
    assert envoy.request("GET", PATH, [("Authorization", f"Token {pk.PAT_A}")]).status == 200
    wait_for(lambda: tokengate_stat(envoy, "jwks.fetch_failed") >= 1, what="a failed key set fetch")
    assert "no key set has loaded yet" in envoy.log()

    jwks.set(mode="ok")
    wait_for(lambda: keys_on_every_vm(envoy, 1), what="key set 1 on every VM")
    for _ in range(6):
        r = ask(envoy, issuer["tokens"]["ec-1"])
        assert r.status == 200, r.body
        assert upstream_headers(r)["x-dbt-account-id"] == [issuer["account"]]
    assert tokengate_stat(envoy, "jwks.keys") == 1
    # Refreshed every second with the ETag: 304s, and the set stays.
    wait_for(lambda: any(f == (JWKS_PATH, '"k1"', 304) for f in key_fetches(jwks)), what="a 304 revalidation")
    wait_for(lambda: tokengate_stat(envoy, "jwks.fetch_not_modified") >= 1, what="the 304 counted")
    assert ask(envoy, issuer["tokens"]["ec-1"]).status == 200
    # A token signed by a key the set does not hold is refused, never forwarded.
    r = ask(envoy, issuer["tokens"]["ec-2"])
    assert (r.status, wire_code(r)) == (401, "invalid_token")
    assert "key id" in r.json()["status"]["user_message"]


def test_until_loaded_allow_passes_oauth_tokens_marked_and_unbound(envoy_factory, front, upstream, issuer, jwks):
    jwks.set(mode="error")
    envoy = start(envoy_factory, front, upstream, jwks_policy(issuer, until_loaded="allow"))
    r = ask(envoy, issuer["tokens"]["ec-1"])
    assert r.status == 200 and r.header("x-upstream") == "echo"
    seen = upstream_headers(r)
    assert seen["x-tokengate-would-deny"] == ["jwks_unavailable"]
    assert "x-dbt-account-id" not in seen
    wait_for(lambda: tokengate_stat(envoy, "report.would_deny.jwks_unavailable") >= 1, what="the would-deny counted")


def test_a_bad_key_set_keeps_the_last_good_one(envoy_factory, front, upstream, issuer, jwks):
    envoy = start(envoy_factory, front, upstream, jwks_policy(issuer))
    wait_for(lambda: keys_on_every_vm(envoy, 1), what="key set 1 on every VM")
    for mode in ("garbage", "error", "truncated_json"):
        before = tokengate_stat(envoy, "jwks.fetch_failed")
        jwks.set(mode=mode, etag=f'"{mode}"')
        wait_for(lambda: tokengate_stat(envoy, "jwks.fetch_failed") > before, timeout=15, what=f"a refused {mode}")
        assert ask(envoy, issuer["tokens"]["ec-1"]).status == 200, mode
    assert re.search(r"keeping the last good key set \(1 keys, generation \d+\)", envoy.log()), envoy.log()[-2000:]
    assert not keys_on_every_vm(envoy, 2), "nothing refused was installed"


def test_an_unknown_kid_refetches_at_once_then_at_most_once_per_cooldown(envoy_factory, front, upstream, issuer, jwks):
    cooldown = 4
    # refresh_seconds far away: every fetch after the first is one an unknown kid asked for.
    envoy = start(envoy_factory, front, upstream, jwks_policy(issuer, refresh=3600, cooldown=cooldown))
    wait_for(lambda: keys_on_every_vm(envoy, 1), what="key set 1 on every VM")
    assert ask(envoy, issuer["tokens"]["ec-1"]).status == 200
    assert len(key_fetches(jwks)) == 1, key_fetches(jwks)

    # The issuer rotates: ec-2 is published, and a token signed by it arrives. The first such
    # request is refused with the keys in force and asks for a fetch; a retry soon passes.
    jwks.set(body=set_bytes(issuer, 2), etag='"k2"')
    r = ask(envoy, issuer["tokens"]["ec-2"])
    assert (r.status, wire_code(r)) == (401, "invalid_token")
    wait_for(lambda: keys_on_every_vm(envoy, 2), what="key set 2 on every VM")
    assert {ask(envoy, issuer["tokens"]["ec-2"]).status for _ in range(6)} == {200}
    assert ask(envoy, issuer["tokens"]["ec-1"]).status == 200, "the old key still verifies"
    assert len(key_fetches(jwks)) == 2
    assert tokengate_stat(envoy, "jwks.refetch_unknown_kid") == 1

    # ec-3 is published; tokens signed by it keep arriving, but fetches are one per cooldown.
    jwks.set(body=set_bytes(issuer, 3), etag='"k3"')
    deadline = time.monotonic() + 3 * cooldown + 10
    while not keys_on_every_vm(envoy, 3) and time.monotonic() < deadline:
        ask(envoy, issuer["tokens"]["ec-3"])
        time.sleep(0.05)
    assert keys_on_every_vm(envoy, 3), "ec-3 never loaded"
    assert {ask(envoy, issuer["tokens"]["ec-3"]).status for _ in range(6)} == {200}
    with jwks.lock:
        times = list(jwks.fetched_at)
    # The cooldown is counted in whole seconds of Envoy's clock: a gap may be a second short.
    gaps = [b - a for a, b in zip(times[1:], times[2:])]
    assert all(g >= cooldown - 1.05 for g in gaps), (gaps, key_fetches(jwks))
    hurried = tokengate_stat(envoy, "jwks.refetch_unknown_kid")
    assert hurried == len(times) - 1, (hurried, key_fetches(jwks))
