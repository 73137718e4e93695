"""registry.url: the registry fetched over HTTP from an Envoy cluster, refreshed with ETags, one
copy per process, and the last good one kept through failures."""

from __future__ import annotations

import json
import re
import time

import pytest

import policy_kit as pk
from conftest import upstream_headers, wire_code
from harness import newest_generation, registry_on_every_vm, static_cluster, tokengate_stat, wait_for

PATH = f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/"
REGISTRY_PATH = "/_registry/tokens.json"


def url_policy(until_loaded: str = "deny", refresh: int = 1, timeout_ms: int = 500) -> dict:
    p = pk.policy()
    p["registry"] = {"url": {"cluster": "registry", "path": REGISTRY_PATH, "authority": "registry.internal",
                             "refresh_seconds": refresh, "timeout_ms": timeout_ms, "until_loaded": until_loaded}}
    return p


def doc(*tokens: str) -> bytes:
    wanted = {pk.sha256_hex(t) for t in tokens}
    return json.dumps({"tokens": [e for e in pk.registry_entries(time.time()) if e["sha256"] in wanted]}).encode()


def ask(envoy, token: str):
    return envoy.request("GET", PATH, [("Authorization", f"Token {token}")])


def status_of(envoy, token: str) -> int:
    return ask(envoy, token).status


def stat(envoy, name: str) -> int:
    return tokengate_stat(envoy, name)


@pytest.fixture
def registry(upstream):
    st = upstream.registry
    st.set(body=doc(pk.PAT_A), etag='"v1"', mode="ok", delay_s=3.0)
    with st.lock:
        st.fetches.clear()
    return st


def start(envoy_factory, front, upstream, policy, **kw):
    return envoy_factory([front.filter(pk.dumps(policy))], [static_cluster("registry", upstream.port)], **kw)


def test_denied_until_loaded_then_served(envoy_factory, front, upstream, registry):
    registry.set(mode="error")
    envoy = start(envoy_factory, front, upstream, url_policy())
    r = ask(envoy, pk.PAT_A)
    assert (r.status, wire_code(r)) == (503, "registry_unavailable")
    assert r.header("cache-control") == "no-store"
    # Routes that need no token do not wait for the registry.
    assert envoy.request("GET", "/health").status == 200
    wait_for(lambda: stat(envoy, "registry.fetch_failed") >= 1, what="a failed fetch")
    assert any("no registry has loaded yet" in l for l in envoy.log().splitlines())

    registry.set(mode="ok")
    wait_for(lambda: status_of(envoy, pk.PAT_A) == 200, what="registry loaded")
    # The other workers adopt it within a tick; until then a request may meet one without it.
    wait_for(lambda: registry_on_every_vm(envoy, 1), what="registry on every worker")
    assert stat(envoy, "registry.fetch_ok") == 1
    assert stat(envoy, "registry.tokens") == 1
    fetch = registry.fetches[-1]
    assert fetch[0] == REGISTRY_PATH
    # The fetch carried the configured authority; the echo side saw it as Host.
    assert ask(envoy, pk.PAT_B).status == 401


def test_until_loaded_allow_passes_requests_marked(envoy_factory, front, upstream, registry):
    registry.set(mode="error")
    envoy = start(envoy_factory, front, upstream, url_policy(until_loaded="allow"))
    r = ask(envoy, pk.PAT_A)
    assert r.status == 200 and r.header("x-upstream") == "echo"
    seen = upstream_headers(r)
    assert seen["x-tokengate-would-deny"] == ["registry_unavailable"]
    assert "x-dbt-account-id" not in seen


def test_refresh_revalidates_with_etag_and_picks_up_changes(envoy_factory, front, upstream, registry):
    # Every step waits on a condition the filter makes true, never on time: a worker decides
    # with a new registry only once its VM has logged holding it (the log line follows the
    # install), and until every VM has, a request may meet one that has not.
    envoy = start(envoy_factory, front, upstream, url_policy())
    wait_for(lambda: registry_on_every_vm(envoy, 1), what="generation 1 on every VM")
    assert {status_of(envoy, pk.PAT_A) for _ in range(8)} == {200}
    wait_for(lambda: any(f == (REGISTRY_PATH, '"v1"', 304) for f in registry.fetches), what="a 304 revalidation")
    assert stat(envoy, "registry.fetch_not_modified") >= 1
    before = newest_generation(envoy)
    assert before == 1, "a 304 keeps the generation"

    registry.set(body=doc(pk.SVC_A), etag='"v2"')
    # One VM fetches it; every other one adopts it on its next tick (the bound: 100 ms plus
    # its parse; the timeout here is only how long to wait for a broken filter).
    wait_for(lambda: registry_on_every_vm(envoy, before + 1), what="every VM on v2")
    for _ in range(12):
        r = ask(envoy, pk.PAT_A)
        assert (r.status, wire_code(r)) == (401, "invalid_token")
        assert status_of(envoy, pk.SVC_A) == 200
    wait_for(lambda: stat(envoy, "registry.tokens") == 1, what="gauge updated")
    assert stat(envoy, "registry.fetch_ok") == 2, "one fetch per document for the whole process"


@pytest.mark.parametrize("mode", ["error", "garbage", "slow", "invalid_document"])
def test_a_failed_refresh_keeps_the_last_good_registry(envoy_factory, front, upstream, registry, mode):
    envoy = start(envoy_factory, front, upstream, url_policy(timeout_ms=400))
    wait_for(lambda: status_of(envoy, pk.PAT_A) == 200, what="first load")
    failed = stat(envoy, "registry.fetch_failed")
    if mode == "invalid_document":
        bad = json.loads(doc(pk.PAT_A, pk.SVC_A))
        bad["tokens"][1]["sha256"] = "XYZ"
        registry.set(body=json.dumps(bad).encode(), etag='"bad"')
    else:
        registry.set(mode=mode, delay_s=1.5)
    wait_for(lambda: stat(envoy, "registry.fetch_failed") >= failed + 2, timeout=15, what="two failed fetches")
    # Still serving generation 1.
    assert {status_of(envoy, pk.PAT_A) for _ in range(6)} == {200}
    assert {status_of(envoy, pk.SVC_A) for _ in range(3)} == {401}
    # The one-token set from before the fault, whatever generation number start-up gave it.
    kept = re.compile(r"keeping the last good registry \(1 tokens, generation \d+\)")
    wait_for(lambda: kept.search(envoy.log()), what="the keep-last-good log line")
    log = envoy.log()
    if mode == "invalid_document":
        assert re.search(r"registry document refused: tokens\[1\]\.sha256", log), log[-2000:]
    # And it recovers once the endpoint does.
    registry.set(mode="ok", body=doc(pk.PAT_A, pk.SVC_A), etag='"v3"')
    wait_for(lambda: status_of(envoy, pk.SVC_A) == 200, timeout=15, what="recovery")


def test_the_first_fetch_is_one_per_process(envoy_factory, front, upstream, registry):
    # Four workers plus the main thread run a root context each, all configured at once, all
    # finding shared data empty: one of them fetches, the others adopt its document.
    envoy = start(envoy_factory, front, upstream, url_policy(refresh=60), concurrency=4)
    wait_for(lambda: registry_on_every_vm(envoy, 1), what="generation 1 on every VM")
    assert registry.fetch_count() == 1, registry.fetches
    log = envoy.log().splitlines()
    assert len([l for l in log if "registry loaded from cluster registry" in l]) == 1
    adopted = [l for l in log if "registry generation 1 adopted from shared data" in l]
    # The wasm filter: every other VM adopts the fetched document. The native front holds one
    # registry for the process: nothing to adopt.
    assert len(adopted) == (envoy.concurrency if front.name == "wasm" else 0), adopted
    assert newest_generation(envoy) == 1
    assert stat(envoy, "registry.fetch_ok") == 1


def test_one_fetch_per_interval_for_the_whole_process(envoy_factory, front, upstream, registry):
    # Two workers plus the main thread run a root context each; without the shared copy each
    # would fetch on its own.
    envoy = start(envoy_factory, front, upstream, url_policy(refresh=1))
    wait_for(lambda: registry_on_every_vm(envoy, 1), what="generation 1 on every VM")
    n0, t0 = registry.fetch_count(), time.monotonic()
    # Counting fetches over a window is the point here: the window is a measurement, not a wait.
    time.sleep(4.0)
    n, elapsed = registry.fetch_count() - n0, time.monotonic() - t0
    assert 2 <= n <= elapsed / 1.0 + 2, (n, registry.fetches)
    log = envoy.log().splitlines()
    loaded = [l for l in log if "registry loaded from cluster registry" in l]
    adopted = [l for l in log if "registry generation 1 adopted from shared data" in l]
    assert len(loaded) == 1, loaded
    # The wasm filter: each other VM (2 workers and the main thread, less the fetcher) parsed the
    # shared copy. The native front: one registry for the process, nothing to adopt.
    assert len(adopted) == (envoy.concurrency if front.name == "wasm" else 0), adopted


def test_unknown_cluster_is_reported_and_counted(envoy_factory, front, upstream, registry):
    p = url_policy()
    p["registry"]["url"]["cluster"] = "nope"
    envoy = start(envoy_factory, front, upstream, p)
    wait_for(lambda: stat(envoy, "registry.fetch_failed") >= 1, what="failure counted")
    assert "cannot fetch the registry from cluster nope" in envoy.log()
    assert status_of(envoy, pk.PAT_A) == 503
