"""What Envoy itself refuses in the shipped configurations, before tokengate runs: header names with
underscores (`x_dbt_account_id` is `x-dbt-account-id` to some servers behind; SPEC §6 step 1)."""

from __future__ import annotations

import json

import pytest

from harness import ROOT, Envoy, H2Client, free_ports

ENVOY_DIR = ROOT / "envoy"
TOKENS = json.loads((ROOT / "tests" / "fixtures" / "tokens.json").read_text())["tokens"]
A, G = "70471823510118", "9007199254740993"
REJECT = "headers_with_underscores_action: REJECT_REQUEST"


def shipped() -> list:
    """The configs an operator starts from (native.yaml once the native front ships one)."""
    return [p for p in (ENVOY_DIR / n for n in ("envoy.yaml", "production.yaml", "native.yaml")) if p.exists()]


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.name)
def test_every_edge_listener_rejects_underscored_header_names(path):
    """Each connection manager that runs tokengate sets the action, before its HTTP filters."""
    text = path.read_text()
    blocks = text.split("envoy.filters.network.http_connection_manager")[1:]
    edge = [b for b in blocks if "tokengate" in b and ("envoy.filters.http.wasm" in b or "dynamic_modules" in b)]
    assert edge, f"no connection manager runs tokengate in {path.name}"
    for b in edge:
        head = b.split("http_filters:", 1)[0]
        assert REJECT in head, f"{path.name}: an edge connection manager lacks {REJECT}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, filter_wasm):
    text = (ENVOY_DIR / "envoy.yaml").read_text()
    admin, edge, stand_in = free_ports(3)
    text = text.replace("port_value: 9901", f"port_value: {admin}")
    text = text.replace("port_value: 10000", f"port_value: {edge}")
    text = text.replace("port_value: 10001", f"port_value: {stand_in}")
    text = text.replace("filename: target/envoy/tokengate.wasm", f"filename: {filter_wasm}")
    workdir = tmp_path_factory.mktemp("demo-underscores")
    text = text.replace("path: target/envoy/access.log", f"path: {workdir / 'access.log'}")
    e = Envoy(text, workdir, listener="edge")
    e.start()
    yield e
    e.stop()


def auth(token: str = "pat_spice") -> tuple:
    return ("Authorization", f"Token {TOKENS[token]}")


@pytest.mark.parametrize("name", ["x_dbt_account_id", "X_DBT_ACCOUNT_ID", "x-dbt_account-id", "x_dbt_token_kind",
                                  "x_forwarded_host", "x_anything"])
def test_http1_underscored_header_is_refused_by_envoy(demo, name):
    before = demo.stats("rejected_with_underscores").get("http1.requests_rejected_with_underscores_in_headers", 0)
    r = demo.request("GET", f"/api/v2/accounts/{A}/jobs/", headers=[auth(), (name, G)], host="ab123.us1.dbt.com")
    assert r.status == 400
    # Envoy's own answer: neither tokengate's envelope nor the stand-in's echo.
    assert b"seen_by_upstream" not in r.body and b"developer_message" not in r.body
    after = demo.stats("rejected_with_underscores").get("http1.requests_rejected_with_underscores_in_headers", 0)
    assert after == before + 1


def test_http2_underscored_header_is_refused_by_envoy(demo):
    with H2Client(demo.port) as c:
        r = c.request([(b":method", b"GET"), (b":scheme", b"http"), (b":path", f"/api/v2/accounts/{A}/jobs/".encode()),
                       (b":authority", b"ab123.us1.dbt.com"), (b"authorization", f"Token {TOKENS['pat_spice']}".encode()),
                       (b"x_dbt_account_id", G.encode())])
    # A stream reset or a 400: never an answer from upstream.
    assert r.status in (None, 400), (r.status, r.body[:200])
    assert b"seen_by_upstream" not in r.body
    assert demo.stats("rejected_with_underscores").get("http2.requests_rejected_with_underscores_in_headers", 0) >= 1


def test_dashed_spelling_goes_through_with_the_edges_value(demo):
    """The control: the same request with a dashed name reaches the upstream, and the client's
    value is replaced by the edge's."""
    r = demo.request("GET", f"/api/v2/accounts/{A}/jobs/", headers=[auth(), ("X-Dbt-Account-Id", G)],
                     host="ab123.us1.dbt.com")
    assert r.status == 200
    seen = r.json()["data"]["seen_by_upstream"]
    assert seen["x-dbt-account-id"] == A
