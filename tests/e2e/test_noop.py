"""The do-nothing filter: Envoy loads a proxy-wasm module built by this workspace and serves."""

from harness import wasm_filter


def test_envoy_loads_the_noop_filter_and_proxies(envoy_factory, noop_wasm, upstream):
    envoy = envoy_factory([wasm_filter(noop_wasm, None, name="noop", vm_id="noop")])
    r = envoy.request("GET", "/api/v2/accounts/1/", headers=[("X-Probe", "hello")])
    assert r.status == 200, r.body
    assert r.header("x-upstream") == "echo"
    seen = dict(r.json()["headers"])
    assert seen["x-probe"] == "hello"
    stats = envoy.stats("wasm")
    assert stats.get("wasm.envoy.wasm.runtime.v8.active", 0) >= 1, stats
