"""The JWT case table (jwt_cases.mjs, keys made by node:crypto on each run) and the policy that
verifies its tokens, for test_jwt.py (tokengate's fronts) and test_jwt_authn.py (Envoy's own
jwt_authn on the same keys, issuer and audience)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cases(now: int | None = None) -> dict:
    """{"now", "jwks", "policy_oauth", "cases": [{id, token, path, code, jwt_authn_accepts, ...}]}."""
    now = int(time.time()) if now is None else now
    out = subprocess.run(["node", str(HERE / "jwt_cases.mjs"), str(now)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def policy(table: dict) -> dict:
    """A policy whose only rule is §11's: verify OAuth tokens with the table's keys."""
    return {"registry": {"tokens": []}, "oauth": table["policy_oauth"]}


def jwt_authn_filter(table: dict) -> dict:
    """Envoy's native JWT filter, configured as the policy's `oauth.verify` is."""
    v = table["policy_oauth"]["verify"]
    provider = {
        "issuer": v["issuer"],
        "audiences": v["audiences"],
        "local_jwks": {"inline_string": json.dumps(table["jwks"])},
        "clock_skew_seconds": v["leeway_seconds"],
        # SPEC §11 requires exp; jwt_authn does only when asked.
        "require_expiration": True,
        "forward": True,
    }
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"tokengate": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "tokengate"}}],
        },
    }
