"""The policy as Envoy configuration: refused with field paths, and replaced live over ECDS."""

from __future__ import annotations

import pytest

import policy_kit as pk
from harness import EnvoyFailedToStart, ecds_filter, wait_for, write_ecds

PATH = f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/"
AUTH = [("Authorization", f"Token {pk.PAT_A}")]


# What Envoy says when the front refuses its configuration at startup.
REFUSAL = {"wasm": "Unable to create Wasm plugin", "native": "Failed to initialize dynamic module"}


def bad_policy() -> dict:
    p = pk.policy()
    p["deprecations"]["endpoints"][1]["sunset_at"] = "2000-01-01T00:00:00Z"
    p["registry"]["tokens"][2]["sha256"] = "not-hex"
    p["surprise"] = True
    return p


def test_bad_policy_stops_envoy_with_every_field_path_in_the_log(envoy_factory, front):
    with pytest.raises(EnvoyFailedToStart) as failed:
        envoy_factory([front.filter(pk.dumps(bad_policy()))])
    log = failed.value.log
    refused = [l for l in log.splitlines() if "policy refused" in l]
    assert all("[error]" in l for l in refused), refused
    assert any("deprecations.endpoints[1].sunset_at" in l for l in refused), refused
    assert any("registry.tokens[2].sha256" in l for l in refused), refused
    assert any("surprise" in l for l in refused), refused
    assert REFUSAL[front.name] in log


@pytest.mark.parametrize("config", [None, "", "{", "[]", '{"mode": "enforce"}'], ids=["absent", "empty", "truncated", "array", "no_registry"])
def test_missing_or_unparsable_configuration_is_refused(envoy_factory, front, config):
    with pytest.raises(EnvoyFailedToStart) as failed:
        envoy_factory([front.filter(config)])
    assert "policy refused" in failed.value.log


def test_ecds_update_bad_is_rejected_and_the_previous_policy_keeps_serving(envoy_factory, front, tmp_path):
    ecds_dir = tmp_path / "ecds"
    ecds_dir.mkdir()
    ecds = ecds_dir / "tokengate.json"
    write_ecds(ecds, "tokengate", front.filter(pk.dumps(pk.policy())), "1")
    envoy = envoy_factory([ecds_filter("tokengate", ecds, front.type_url)])
    stat = "extension_config_discovery.http_filter.tokengate."
    assert envoy.request("GET", PATH, AUTH).status == 200

    write_ecds(ecds, "tokengate", front.filter(pk.dumps(bad_policy())), "2")
    wait_for(lambda: envoy.stats("extension_config").get(stat + "update_rejected", 0) == 1, what="ECDS rejection")
    assert any("policy refused: deprecations.endpoints[1].sunset_at" in l for l in envoy.log().splitlines())
    assert envoy.request("GET", PATH, AUTH).status == 200  # still the first policy

    revoked = pk.policy()
    revoked["registry"]["tokens"][0]["revoked"] = True
    write_ecds(ecds, "tokengate", front.filter(pk.dumps(revoked)), "3")
    wait_for(lambda: envoy.stats("extension_config").get(stat + "update_success", 0) == 2, what="ECDS update")
    r = wait_for(lambda: (lambda r: r if r.status == 401 else None)(envoy.request("GET", PATH, AUTH)), what="new policy in effect")
    assert r.json()["status"]["developer_message"] == "revoked_token"
