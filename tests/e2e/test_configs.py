"""The Envoy configurations shipped in envoy/: the demo runs as written, the production example
and the Istio WasmPlugin's policy are checked, and the inline policies stay what they claim."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from harness import ROOT, Envoy, free_ports, validate

ENVOY_DIR = ROOT / "envoy"
TOKENS = json.loads((ROOT / "tests" / "fixtures" / "tokens.json").read_text())["tokens"]
A, G = "70471823510118", "9007199254740993"


def block_after(text: str, marker: str) -> str:
    """The indented block scalar that follows `marker` (a `key: |` line)."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == marker) + 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    out = []
    for l in lines[start:]:
        if l.strip() and len(l) - len(l.lstrip()) < indent:
            break
        out.append(l[indent:])
    return "\n".join(out)


def test_demo_inline_policy_is_the_example_policy():
    text = (ENVOY_DIR / "envoy.yaml").read_text()
    inline = json.loads(block_after(text, "value: |"))
    assert inline == json.loads((ROOT / "examples" / "policy.json").read_text())
    assert "failure_policy: FAIL_RELOAD" in text and "runtime: envoy.wasm.runtime.v8" in text


def test_native_demo_inline_policy_is_the_example_policy():
    text = (ENVOY_DIR / "native.yaml").read_text()
    inline = json.loads(block_after(text, "value: |"))
    assert inline == json.loads((ROOT / "examples" / "policy.json").read_text())
    assert "name: envoy.filters.http.dynamic_modules" in text and "%DYNAMIC_METADATA(tokengate:code)%" in text


@pytest.fixture(params=["envoy.yaml", "native.yaml"], ids=["wasm", "native"])
def demo(request, tmp_path, filter_wasm):
    # native.yaml loads target/envoy/libtokengate.so: Envoy() points the search path there.
    if request.param == "native.yaml":
        request.getfixturevalue("native_module")  # built (bash envoy/build.sh) when pytest runs alone
    text = (ENVOY_DIR / request.param).read_text()
    admin, edge, stand_in = free_ports(3)
    text = text.replace("port_value: 9901", f"port_value: {admin}")
    text = text.replace("port_value: 10000", f"port_value: {edge}")
    text = text.replace("port_value: 10001", f"port_value: {stand_in}")
    text = text.replace("filename: target/envoy/tokengate.wasm", f"filename: {filter_wasm}")
    log = "target/envoy/access.log" if request.param == "envoy.yaml" else "target/envoy/native-access.log"
    assert f"path: {log}" in text
    text = text.replace(f"path: {log}", f"path: {tmp_path / 'access.log'}")
    e = Envoy(text, tmp_path, listener="edge")
    e.start()
    yield e
    e.stop()


@pytest.mark.parametrize(
    "method,host,path,token,status,code",
    [
        ("GET", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/jobs/", "pat_spice", 200, None),
        ("GET", "gn456.us1.dbt.com", f"/api/v2/accounts/{G}/jobs/", "pat_spice", 403, "account_mismatch"),
        ("GET", "gn456.us1.dbt.com", f"/api/v2/accounts/{G}/jobs/", "pat_guild", 200, None),
        # The cross-account endpoints are retired for legacy keys only: account-scoped tokens are
        # answered for their one account (the Terraform provider lists /api/v2/accounts/ at start-up).
        ("GET", "cloud.getdbt.com", "/api/v3/accounts/", "pat_spice", 200, None),
        ("GET", "cloud.getdbt.com", "/api/v2/accounts/", "service_spice", 200, None),
        ("GET", "cloud.getdbt.com", "/api/v2/accounts/", "user_key", 401, "user_key_retired"),
        ("GET", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/jobs/", "user_key", 401, "user_key_retired"),
        ("GET", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/jobs/", "service_revoked", 401, "revoked_token"),
        ("GET", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/jobs/", "pat_expired", 401, "expired_token"),
        ("POST", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/jobs/42/run/", "pat_spice", 403, "token_kind_not_allowed"),
        ("POST", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/jobs/42/run/", "service_spice", 200, None),
        ("GET", "ab123.us1.dbt.com", "/health", None, 200, None),
    ],
)
def test_demo_config_runs_as_shipped(demo, method, host, path, token, status, code):
    headers = [("Authorization", f"Token {TOKENS[token]}")] if token else []
    r = demo.request(method, path, headers, host=host)
    assert r.status == status, r.body[:300]
    doc = r.json()
    if code:
        assert doc["status"]["developer_message"] == code
    else:
        assert doc["status"]["is_success"] is True  # the Lua stand-in answered
        if token:
            seen = doc["data"]["seen_by_upstream"]
            assert seen["x-dbt-account-id"] in (A, G)


def test_demo_deprecation_window_headers(demo):
    r = demo.request("GET", f"/api/v2/accounts/{A}/runs/7/artifacts/manifest.json",
                     [("Authorization", f"Token {TOKENS['pat_spice']}")], host="ab123.us1.dbt.com")
    assert r.status == 200
    assert r.header("deprecation") and r.header("sunset") and 'rel="deprecation"' in r.header("link")


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=edge.test",
                    "-keyout", str(d / "edge.key"), "-out", str(d / "edge.crt")], check=True, capture_output=True, timeout=60)
    return d / "edge.crt", d / "edge.key"


def production_text(filter_wasm, tls_pair) -> str:
    crt, key = tls_pair
    text = (ENVOY_DIR / "production.yaml").read_text()
    for old, new in [("/etc/envoy/tls/edge.crt", str(crt)), ("/etc/envoy/tls/edge.key", str(key)),
                     ("/etc/envoy/tokengate.wasm", str(filter_wasm))]:
        assert old in text
        text = text.replace(old, new)
    return text


def test_production_example_validates(tmp_path, filter_wasm, tls_pair):
    path = tmp_path / "production.yaml"
    path.write_text(production_text(filter_wasm, tls_pair))
    p = validate(path)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert "OK" in p.stdout + p.stderr


def test_validate_catches_a_bad_policy_before_deploy(tmp_path, filter_wasm, tls_pair):
    path = tmp_path / "production.yaml"
    path.write_text(production_text(filter_wasm, tls_pair).replace('"refresh_seconds": 60', '"refresh_seconds": 0'))
    p = validate(path)
    assert p.returncode != 0
    assert re.search(r"policy refused: registry\.url\.refresh_seconds", p.stdout + p.stderr)


def test_istio_plugin_config_is_a_valid_policy(tmp_path, cli_bin):
    text = (ENVOY_DIR / "istio-wasmplugin.yaml").read_text()
    assert re.search(r"^kind: WasmPlugin$", text, re.M)
    assert re.search(r"^  failStrategy: FAIL_RELOAD$", text, re.M)
    policy = json.loads(text[text.index("pluginConfig: ") + len("pluginConfig: "):])
    f = tmp_path / "policy.json"
    f.write_text(json.dumps(policy))
    p = subprocess.run([str(cli_bin), "policy", "check", str(f)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    # Account ids as strings: a protobuf Struct would turn numbers into doubles.
    assert all(isinstance(v, str) for v in policy["hosts"]["account_prefixes"].values())
