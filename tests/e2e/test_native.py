"""What only the native front has: the ABI check at load, a panic answered and survived (with the
test build), and the decision as dynamic metadata in the access log. Everything the two fronts
share runs against both in the other files (the `front` fixture)."""

from __future__ import annotations

import pytest

import policy_kit as pk
from conftest import wire_code
from harness import Envoy, bootstrap, hcm_of, native_filter, wait_for

JOBS_A = f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/"
JOBS_B = f"/api/v2/accounts/{pk.ACCOUNT_B}/jobs/"
PANIC = ("x-tokengate-test-panic", "1")
# The access-log line: every metadata key the front exports, then the response.
KEYS = ("code", "token_id", "token_kind", "account_id", "would_deny", "client", "advice")
# A SPEC §10 client rule, so `client` and `advice` have something to say.
TERRAFORM = {"name": "production Terraform", "user_agent": ["terraform-provider-dbtcloud/*"],
             "expect_kinds": ["service"], "action": "report"}
LOG_FORMAT = "AL " + " ".join(f"{k}=%DYNAMIC_METADATA(tokengate:{k})%" for k in KEYS) + " status=%RESPONSE_CODE% details=%RESPONSE_CODE_DETAILS%\n"


def with_access_log(cfg: dict) -> dict:
    hcm_of(cfg)["access_log"] = [{"name": "envoy.access_loggers.stdout", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
        "log_format": {"text_format_source": {"inline_string": LOG_FORMAT}}}}]
    return cfg


@pytest.fixture(scope="module")
def panicky(native_test_build, upstream, tmp_path_factory):
    """An Envoy running the test build: a request with the marker header panics the filter."""
    cfg = with_access_log(bootstrap([native_filter(pk.dumps(pk.policy()))], upstream.port))
    e = Envoy(cfg, tmp_path_factory.mktemp("panicky"), module_dir=native_test_build)
    e.start()
    yield e
    e.stop()


def test_abi_version_is_checked_at_load(panicky):
    assert "Dynamic module ABI version v0.2.0 matched." in panicky.log()


def test_a_panic_answers_500_and_envoy_keeps_serving(panicky):
    auth = [("Authorization", f"Token {pk.PAT_A}")]
    for _ in range(5):
        r = panicky.request("GET", JOBS_A, auth + [PANIC])
        assert r.status == 500, r.body[:200]
        assert r.body == b"internal error\n"
        assert r.header("cache-control") == "no-store"
        # The same Envoy, the same workers, go on deciding.
        assert wire_code(panicky.request("GET", JOBS_A, auth)) == "ok"
        assert wire_code(panicky.request("GET", JOBS_B, auth)) == "account_mismatch"
    assert panicky.proc.poll() is None, "Envoy died"
    log = panicky.log()
    panics = [l for l in log.splitlines() if "panic in request_headers" in l]
    assert len(panics) == 5 and all("[critical][dynamic_modules]" in l for l in panics), panics
    assert "AL code=internal" in log and "details=tokengate_internal_error" in log
    for t in pk.ALL_TOKENS:
        assert t not in log


@pytest.fixture(scope="module")
def logged(native_module, upstream, tmp_path_factory):
    """The shipped build, report mode on one listener's policy, with the metadata access log."""
    out = {}
    for mode in ("enforce", "report"):
        p = pk.policy(mode=mode, clients=[TERRAFORM])
        cfg = with_access_log(bootstrap([native_filter(pk.dumps(p))], upstream.port))
        e = Envoy(cfg, tmp_path_factory.mktemp(f"logged-{mode}"), module_dir=native_module)
        out[mode] = e.start()
    yield out
    for e in out.values():
        e.stop()


def access_lines(envoy, n: int) -> list:
    return [l for l in envoy.log().splitlines() if l.startswith("AL ")][-n:]


TF = "terraform-provider-dbtcloud/0.3.0"


@pytest.mark.parametrize("mode,path,token,ua,line", [
    ("enforce", JOBS_A, pk.PAT_A, None, f"code=ok token_id={pk.token_id(pk.PAT_A)} token_kind=pat account_id={pk.ACCOUNT_A} would_deny=- client=- advice=- status=200"),
    ("enforce", JOBS_B, pk.PAT_A, None, f"code=account_mismatch token_id={pk.token_id(pk.PAT_A)} token_kind=pat account_id=- would_deny=- client=- advice=- status=403"),
    ("enforce", JOBS_A, None, None, "code=missing_token token_id=- token_kind=- account_id=- would_deny=- client=- advice=- status=401"),
    ("enforce", JOBS_A, pk.SVC_A, None, f"code=ok token_id=svc-a token_kind=service account_id={pk.ACCOUNT_A} would_deny=- client=- advice=- status=200"),
    ("enforce", JOBS_A, pk.PAT_A, TF, f"code=ok token_id={pk.token_id(pk.PAT_A)} token_kind=pat account_id={pk.ACCOUNT_A} would_deny=- client=production Terraform advice=service_token_advised status=200"),
    ("report", JOBS_B, pk.PAT_A, None, f"code=account_mismatch token_id={pk.token_id(pk.PAT_A)} token_kind=pat account_id=- would_deny=account_mismatch client=- advice=- status=200"),
], ids=["allowed", "denied", "missing", "registry_token_id", "client_advice", "report_would_deny"])
def test_the_decision_is_dynamic_metadata_in_the_access_log(logged, mode, path, token, ua, line):
    e = logged[mode]
    headers = [("Authorization", f"Token {token}")] if token else []
    if ua:
        headers.append(("User-Agent", ua))
    e.request("GET", path, headers)
    # The access log is written when the stream ends, just after the answer: wait for it.
    try:
        wait_for(lambda: any(line in l for l in access_lines(e, 1)), what="the access-log line")
    except AssertionError:
        raise AssertionError(f"{line!r} not in {access_lines(e, 3)}") from None
