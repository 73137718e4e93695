"""Tokens, registries and policies for the end-to-end tests.

Envoy's clock is real time, so every date is placed relative to now (days away from any
boundary), which keeps decisions stable for the length of a run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time

ACCOUNT_A = "70471823510118"
# Above 2^53: must survive JSON and headers as a decimal string.
ACCOUNT_B = "18014398509481985"
PREFIX_A = "ab123"
PREFIX_B = "cd456"
DAY = 86400


def _body(seed: str, n: int = 50) -> str:
    raw = hashlib.sha256(seed.encode()).digest() + hashlib.sha256((seed + "+").encode()).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")[:n]


def pat(seed: str) -> str:
    return "dbtu_" + _body(seed)


def service(seed: str) -> str:
    return "dbtc_" + _body(seed)


def user_key(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()  # 40 lowercase hex, the legacy shape


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """The default token_id: the first 12 hex characters of the digest (SPEC §3)."""
    return sha256_hex(token)[:12]


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


PAT_A = pat("pat-a")
PAT_B = pat("pat-b")
SVC_A = service("svc-a")
REVOKED_A = pat("revoked-a")
EXPIRED_A = pat("expired-a")
UNKNOWN_PAT = pat("nobody")
USER_KEY = user_key("legacy")
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"
ALL_TOKENS = [PAT_A, PAT_B, SVC_A, REVOKED_A, EXPIRED_A, UNKNOWN_PAT, USER_KEY, JWT]


def registry_entries(now: float) -> list:
    return [
        {"sha256": sha256_hex(PAT_A), "kind": "pat", "account_id": ACCOUNT_A, "user_id": "1", "name": "pat a"},
        {"sha256": sha256_hex(PAT_B), "kind": "pat", "account_id": int(ACCOUNT_B)},
        {"sha256": sha256_hex(SVC_A), "kind": "service", "account_id": ACCOUNT_A, "token_id": "svc-a"},
        {"sha256": sha256_hex(REVOKED_A), "kind": "pat", "account_id": ACCOUNT_A, "revoked": True},
        {"sha256": sha256_hex(EXPIRED_A), "kind": "pat", "account_id": ACCOUNT_A, "expires_at": rfc3339(now - 10 * DAY)},
        {"sha256": sha256_hex(USER_KEY), "kind": "user_key", "token_id": "legacy-key"},
    ]


LINK_KEYS = "https://docs.getdbt.com/docs/dbt-cloud-apis/user-tokens"
LINK_V2 = "https://docs.getdbt.com/dbt-cloud/api-v2"


def policy(now: float | None = None, **overrides) -> dict:
    """The main test policy: one of everything, dates days away from now."""
    now = time.time() if now is None else now
    p = {
        "mode": "enforce",
        "realm": "dbt",
        "registry": {"tokens": registry_entries(now)},
        "hosts": {"account_prefixes": {PREFIX_A: ACCOUNT_A, PREFIX_B: ACCOUNT_B}},
        "routes": [
            {"path": "/health", "auth": "none"},
            {"path": "/api/v2/accounts/*/jobs/*/run/", "methods": ["POST"], "allow_kinds": ["service"]},
        ],
        "deprecations": {
            "user_keys": {"deprecated_at": rfc3339(now - 30 * DAY), "sunset_at": rfc3339(now + 30 * DAY), "link": LINK_KEYS},
            "endpoints": [
                # Past its sunset: 410.
                {"path": "/api/v2/accounts/", "deprecated_at": rfc3339(now - 400 * DAY), "sunset_at": rfc3339(now - 100 * DAY), "link": LINK_KEYS},
                # Inside its window: allowed, with deprecation headers.
                {"path": "/api/v3/legacy/report", "deprecated_at": rfc3339(now - 10 * DAY), "sunset_at": rfc3339(now + 60 * DAY), "link": LINK_V2},
            ],
        },
        "oauth": "forward",
        "query_token": False,
        "upstream_headers": {"account_id": "x-dbt-account-id", "token_kind": "x-dbt-token-kind", "token_id": "x-dbt-token-id"},
    }
    p.update(overrides)
    return p


def strict_policy(now: float | None = None) -> dict:
    """Legacy keys retired, OAuth rejected."""
    now = time.time() if now is None else now
    p = policy(now, oauth="reject")
    p["deprecations"]["user_keys"] = {"deprecated_at": rfc3339(now - 300 * DAY), "sunset_at": rfc3339(now - 30 * DAY), "link": LINK_KEYS}
    return p


def dumps(p: dict) -> str:
    return json.dumps(p, separators=(",", ":"))
