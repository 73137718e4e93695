"""Configuration faults and registry outages on a running Envoy, under load.

- Bad filter configurations delivered over ECDS (a file Envoy watches, as Istio delivers a
  WasmPlugin) while clients keep sending: each is rejected, and every answer during it is the
  previous good policy's — none dropped, none reset, no 5xx. A good update afterwards takes
  effect with the same guarantees.
- The registry endpoint (`registry.url`) down, resetting, or answering a truncated body, half a
  document or nothing (test_registry_url.py covers 500, garbage, slow and a refused document):
  the last good registry keeps answering every request, the failure is counted, and the next
  good answer is picked up on the next tick.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest

import policy_kit as pk
from harness import (
    Upstream,
    ecds_filter,
    free_ports,
    newest_generation,
    registry_on_every_vm,
    static_cluster,
    tokengate_stat,
    wait_for,
    write_ecds,
)
from hostile_kit import (
    LeakScanner,
    Load,
    Oracle,
    Template,
    counter_delta,
    expected_counters,
    filter_counters,
    hcm_stats,
    record_figures,
    vm_problems,
    vm_snapshot,
)

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).timestamp()
A, B = pk.ACCOUNT_A, pk.ACCOUNT_B
JOBS = f"/api/v2/accounts/{A}/jobs/"


def tok(t: str) -> tuple:
    return (("Authorization", f"Token {t}"),)


TEMPLATES = [
    Template("pat_a", "GET", JOBS, tok(pk.PAT_A)),
    Template("pat_b_on_a", "GET", JOBS, tok(pk.PAT_B)),
    Template("svc_a", "GET", JOBS, tok(pk.SVC_A)),
    Template("revoked", "GET", JOBS, tok(pk.REVOKED_A)),
    Template("missing", "GET", JOBS),
    Template("malformed", "GET", JOBS, tok("dbtu_short")),
    Template("public", "GET", "/health"),
]


@pytest.fixture(scope="module")
def figures():
    figs: dict = {}
    yield figs
    record_figures("faults", figs)


def decisions(oracle: Oracle, policy: str) -> dict:
    return {t.id: oracle.decide(policy, t.method.encode(), t.path.encode(), t.host.encode(), list(t.headers)) for t in TEMPLATES}


def run_phase(load_phase: dict, name: str, accepted: list):
    """From now on an answer must be one of `accepted` (decision tables, by template id)."""
    load_phase["accepted"] = accepted
    load_phase["name"] = name


def load_for(envoy, phase: dict, threads: int = 3, h2_threads: int = 1, seconds: float = 60.0, scanner=None) -> Load:
    return Load(envoy.port, TEMPLATES, lambda t: [table[t.id] for table in phase["accepted"]],
                threads=threads, h2_threads=h2_threads, seconds=seconds, seed=7, scanner=scanner).start()


# ---- ECDS: bad configurations under load -------------------------------------------------------


def _bad_configs(front, tmp_path) -> dict:
    """Each a filter config of `front` (or a raw ECDS file) that must be refused."""
    field_errors = pk.policy(NOW)
    field_errors["deprecations"]["endpoints"][1]["sunset_at"] = "2000-01-01T00:00:00Z"
    field_errors["registry"]["tokens"][2]["sha256"] = "not-hex"
    field_errors["surprise"] = True
    dup = pk.policy(NOW)
    dup["registry"]["tokens"].append(dict(dup["registry"]["tokens"][0]))
    return {
        "policy_field_errors": front.filter(pk.dumps(field_errors)),
        "policy_duplicate_digest": front.filter(pk.dumps(dup)),
        "policy_truncated_json": front.filter(pk.dumps(pk.policy(NOW))[:-40]),
        "policy_not_an_object": front.filter("[]"),
        "policy_empty": front.filter(""),
        "policy_absent": front.filter(None),
        **front.broken_modules(tmp_path, pk.dumps(pk.policy(NOW))),
    }


def test_bad_ecds_updates_under_load_drop_nothing(envoy_factory, front, cli_bin, tmp_path, figures):
    revoked = pk.policy(NOW)
    revoked["registry"]["tokens"][0]["revoked"] = True  # PAT_A: 200 -> 401 revoked_token
    oracle = Oracle(cli_bin, {"v1": pk.policy(NOW), "v2": revoked}, tmp_path, NOW)
    v1, v2 = decisions(oracle, "v1"), decisions(oracle, "v2")
    assert v1["pat_a"]["status"] == 200 and v2["pat_a"]["code"] == "revoked_token"

    ecds_dir = tmp_path / "ecds"
    ecds_dir.mkdir()
    ecds = ecds_dir / "tokengate.json"
    write_ecds(ecds, "tokengate", front.filter(pk.dumps(pk.policy(NOW))), "1")
    envoy = envoy_factory([ecds_filter("tokengate", ecds, front.type_url)])
    stat = "extension_config_discovery.http_filter.tokengate."

    def ecds_stats():
        s = envoy.stats("extension_config_discovery")
        return s.get(stat + "update_rejected", 0), s.get(stat + "update_success", 0), s.get(stat + "update_failure", 0)

    vm0, hcm0, c0 = vm_snapshot(envoy), hcm_stats(envoy), filter_counters(envoy)
    scanner = LeakScanner(pk.ALL_TOKENS)
    phase: dict = {}
    run_phase(phase, "bad updates", [v1])
    load = load_for(envoy, phase, scanner=scanner)
    wait_for(lambda: load.progress() > 200, what="load running")

    rejected_kinds, version = [], 1
    for kind, cfg in _bad_configs(front, tmp_path).items():
        rejected, success, failure = ecds_stats()
        version += 1
        write_ecds(ecds, "tokengate", cfg, str(version))
        wait_for(lambda: ecds_stats()[0] + ecds_stats()[2] > rejected + failure, timeout=15, what=f"{kind} refused")
        assert ecds_stats()[1] == success, f"{kind} was accepted"
        rejected_kinds.append(kind)
        n = load.progress()
        wait_for(lambda: load.progress() > n + 100, what="requests after the refusal")
    # A file that is not even an ECDS document.
    rejected, success, failure = ecds_stats()
    tmp = ecds.with_suffix(".tmp")
    tmp.write_text('{"version_info": "broken", "resources": [')
    tmp.replace(ecds)
    wait_for(lambda: sum(ecds_stats()) > rejected + success + failure, timeout=15, what="broken ECDS file refused")
    assert ecds_stats()[1] == success
    rejected_kinds.append("ecds_file_not_json")
    n = load.progress()
    wait_for(lambda: load.progress() > n + 100, what="requests after the refusal")

    # A good update, under the same load: old or new answers while it spreads, then only new.
    run_phase(phase, "good update", [v1, v2])
    rejected, success, failure = ecds_stats()
    write_ecds(ecds, "tokengate", front.filter(pk.dumps(revoked)), str(version + 1))
    wait_for(lambda: ecds_stats()[1] == success + 1, timeout=15, what="good update accepted")
    probes = []  # counted by the filter too

    def probe() -> bool:
        probes.append(envoy.request("GET", JOBS, list(tok(pk.PAT_A))).status)
        return probes[-1] == 401

    wait_for(probe, what="new policy serving")
    time.sleep(0.5)
    run_phase(phase, "after the update", [v2])
    n = load.progress()
    wait_for(lambda: load.progress() > n + 300, what="requests on the new policy")
    res = load.stop()

    # Every update creates VMs (the refused ones too, to run on_configure); none may fail later.
    problems = vm_problems(vm0, vm_snapshot(envoy), "", new_vms_expected=True)
    log = envoy.log()
    # Envoy logs each refused plugin at critical ("Plugin tokengate failed to load", and on the
    # workers "Plugin configured to fail closed failed to load"); nothing else may be critical.
    panics = [l for l in log.splitlines() if "panic" in l or ("[critical]" in l and "failed to load" not in l)]
    scanner.scan_log(log)
    moved = counter_delta(c0, filter_counters(envoy))
    want = expected_counters(res.decisions)
    want["denied.revoked_token"] += probes.count(401)
    want["allowed"] += probes.count(200)
    rq5 = hcm_stats(envoy).get("downstream_rq_5xx", 0) - hcm0.get("downstream_rq_5xx", 0)
    figures["ecds"] = {"faults_injected": len(rejected_kinds), "kinds": rejected_kinds, "requests": res.sent,
                       "answered": res.answered, "lost": len(res.lost), "mismatches": len(res.mismatches),
                       "h2_requests": res.h2_requests, "panics": len(panics), "vm_problems": len(problems),
                       "leaks": len(scanner.leaks)}
    assert res.sent == res.answered and not res.lost, res.lost[:10]
    assert not res.mismatches, res.mismatches[:10]
    assert moved == want, (dict(moved), dict(want))
    assert rq5 == 0 and not res.statuses.keys() - {200, 400, 401, 403}, res.statuses
    assert not problems and not panics, (problems, panics)
    assert not scanner.leaks, scanner.leaks
    # Each refusal was the filter's or Envoy's, logged with why.
    assert "policy refused: deprecations.endpoints[1].sunset_at" in log
    assert "policy refused: registry.tokens[6].sha256" in log or "duplicate" in log


# ---- registry endpoint faults under load ---------------------------------------------------------

REGISTRY_PATH = "/_registry/tokens.json"


def registry_doc(*tokens: str) -> bytes:
    wanted = {pk.sha256_hex(t) for t in tokens}
    return json.dumps({"tokens": [e for e in pk.registry_entries(NOW) if e["sha256"] in wanted]}).encode()


def inline(*tokens: str) -> dict:
    p = pk.policy(NOW)
    p["registry"] = json.loads(registry_doc(*tokens))
    return p


def url_policy(timeout_ms: int = 400) -> dict:
    p = pk.policy(NOW)
    p["registry"] = {"url": {"cluster": "registry", "path": REGISTRY_PATH, "authority": "registry.internal",
                             "refresh_seconds": 1, "timeout_ms": timeout_ms, "until_loaded": "deny"}}
    return p


def stat(envoy, name: str) -> int:
    return tokengate_stat(envoy, f"registry.{name}")


@pytest.mark.parametrize("mode", ["down", "reset", "truncated", "truncated_json", "empty"])
def test_registry_fault_under_load_keeps_the_last_good_registry(envoy_factory, front, cli_bin, tmp_path, figures, mode):
    (port,) = free_ports(1)
    reg = Upstream(port=port).start()
    reg.registry.set(body=registry_doc(pk.PAT_A, pk.REVOKED_A), etag='"v1"', mode="ok")
    oracle = Oracle(cli_bin, {"v1": inline(pk.PAT_A, pk.REVOKED_A), "v2": inline(pk.PAT_A, pk.REVOKED_A, pk.SVC_A)}, tmp_path, NOW)
    v1, v2 = decisions(oracle, "v1"), decisions(oracle, "v2")
    assert v1["svc_a"]["code"] == "invalid_token" and v2["svc_a"]["status"] == 200
    try:
        envoy = envoy_factory([front.filter(pk.dumps(url_policy()))], [static_cluster("registry", port, timeout_s=0.25)])
        wait_for(lambda: registry_on_every_vm(envoy, 1), what="first load on every VM")
        # What the fault must not replace; recovery is the first generation after it.
        before = newest_generation(envoy)
        vm0, hcm0 = vm_snapshot(envoy), hcm_stats(envoy)
        failed0 = stat(envoy, "fetch_failed")
        phase: dict = {}
        run_phase(phase, "fault", [v1])
        scanner = LeakScanner(pk.ALL_TOKENS)
        load = load_for(envoy, phase, threads=2, h2_threads=1, scanner=scanner)

        if mode == "down":
            reg.stop()
        else:
            reg.registry.set(mode=mode)
        # Failures back off 1 s, 2 s, ... up to refresh_seconds (1 s here): two within seconds.
        wait_for(lambda: stat(envoy, "fetch_failed") >= failed0 + 2, timeout=15, what="two failed fetches")
        during = load.progress()
        assert stat(envoy, "tokens") == 2, "the gauge still shows the last good registry"

        # Recovery: the endpoint comes back with a new document.
        run_phase(phase, "recovery", [v1, v2])
        if mode == "down":
            reg = Upstream(port=port).start()
        reg.registry.set(mode="ok", body=registry_doc(pk.PAT_A, pk.REVOKED_A, pk.SVC_A), etag='"v2"')
        t0 = time.monotonic()
        wait_for(lambda: envoy.request("GET", JOBS, list(tok(pk.SVC_A))).status == 200, timeout=15, what="recovery")
        recovered_s = time.monotonic() - t0
        # Every other VM adopts it within a tick (100 ms).
        wait_for(lambda: registry_on_every_vm(envoy, before + 1), what="recovery on every VM")
        run_phase(phase, "recovered", [v2])
        n = load.progress()
        wait_for(lambda: load.progress() > n + 200, what="requests after recovery")
        res = load.stop()

        log = envoy.log()
        scanner.scan_log(log)
        problems = vm_problems(vm0, vm_snapshot(envoy), log)
        rq5 = hcm_stats(envoy).get("downstream_rq_5xx", 0) - hcm0.get("downstream_rq_5xx", 0)
        figures[f"registry_{mode}"] = {"requests": res.sent, "during_fault": during, "lost": len(res.lost),
                                       "mismatches": len(res.mismatches), "failed_fetches": stat(envoy, "fetch_failed") - failed0,
                                       "recovered_in_s": round(recovered_s, 2), "vm_problems": len(problems),
                                       "panics": sum(p.startswith("log:") for p in problems),
                                       "leaks": len(scanner.leaks)}
        assert res.sent == res.answered and not res.lost, res.lost[:10]
        assert not res.mismatches, res.mismatches[:10]
        assert rq5 == 0 and 503 not in res.statuses, res.statuses
        assert not problems, problems
        assert not scanner.leaks, scanner.leaks
        # The two-token set from before the fault, whatever generation number start-up gave it.
        assert re.search(r"keeping the last good registry \(2 tokens, generation \d+\)", log), log[-2000:]
        # Picked up on the next attempt: the back-off is capped at refresh_seconds (1 s), plus a
        # tick (100 ms) for the fetch to be due and one for the other workers to adopt it.
        assert recovered_s < 3.0, recovered_s
        assert stat(envoy, "tokens") == 3
    finally:
        reg.stop()
