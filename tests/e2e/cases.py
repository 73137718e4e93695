"""One table of requests and the decision each must get, under policy_kit.policy() (`MAIN`) and
policy_kit.strict_policy() (`STRICT`). The wire tests send them through Envoy; the parity test
sends the same ones through the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import policy_kit as pk

A, B = pk.ACCOUNT_A, pk.ACCOUNT_B


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    status: int
    code: str
    headers: tuple = ()
    method: str = "GET"
    host: str = "api.example.com"
    # What SPEC §6 step the case exercises, for the reader.
    step: str = ""
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}"


def tok(t: str, scheme: str = "Token") -> tuple:
    return (("Authorization", f"{scheme} {t}"),)


MAIN = [
    # 12: allowed, identity headers set.
    Case("pat_own_account", f"/api/v2/accounts/{A}/jobs/", 200, "ok", tok(pk.PAT_A), step="12"),
    Case("bearer_scheme_any_case_two_spaces", f"/api/v2/accounts/{A}/jobs/", 200, "ok", (("Authorization", f"bEaReR  {pk.PAT_A}"),), step="5"),
    Case("big_account_id", f"/api/v3/accounts/{B}/projects/", 200, "ok", tok(pk.PAT_B), step="12"),
    Case("host_prefix_names_account", f"/api/v2/accounts/{A}/runs/", 200, "ok", tok(pk.PAT_A), host=f"{pk.PREFIX_A}.us1.dbt.com", step="10"),
    Case("host_prefix_only", "/api/graphql", 200, "ok", tok(pk.PAT_A), host=f"{pk.PREFIX_A.upper()}.metadata.us1.dbt.com:443", step="10"),
    Case("service_token_on_service_route", f"/api/v2/accounts/{A}/jobs/7/run/", 200, "ok", tok(pk.SVC_A), method="POST", step="9"),
    Case("oauth_forwarded", f"/api/v2/accounts/{A}/jobs/", 200, "ok", tok(pk.JWT, "Bearer"), step="6"),
    Case("legacy_key_before_sunset", f"/api/v2/accounts/{A}/jobs/", 200, "ok", tok(pk.USER_KEY), step="8"),
    Case("endpoint_in_deprecation_window", "/api/v3/legacy/report", 200, "ok", tok(pk.PAT_A), step="11"),
    # 3: public route.
    Case("public_route_no_token", "/health", 200, "ok", step="3"),
    # 2: ambiguous paths.
    Case("dot_dot_segment", f"/api/v2/accounts/{A}/../{B}/jobs/", 400, "invalid_request", tok(pk.PAT_A), step="2"),
    Case("dot_segment", f"/api/v2/accounts/{A}/./jobs/", 400, "invalid_request", tok(pk.PAT_A), step="2"),
    Case("encoded_slash", f"/api/v2/accounts/{A}%2F..%2F{B}/jobs/", 400, "invalid_request", tok(pk.PAT_A), step="2"),
    Case("account_id_overflows_u64", "/api/v2/accounts/99999999999999999999999/jobs/", 400, "invalid_request", tok(pk.PAT_A), step="2"),
    # 4: retired endpoint, before any credential check.
    Case("endpoint_sunset", "/api/v2/accounts/", 410, "endpoint_sunset", tok(pk.PAT_A), step="4"),
    Case("endpoint_sunset_no_slash_no_token", "/api/v2/accounts", 410, "endpoint_sunset", step="4"),
    # 5: the credential.
    Case("missing_token", f"/api/v2/accounts/{A}/jobs/", 401, "missing_token", step="5"),
    Case("two_authorization_headers", f"/api/v2/accounts/{A}/jobs/", 400, "invalid_request", tok(pk.PAT_A) + tok(pk.PAT_A), step="5"),
    Case("second_credential_in_value", f"/api/v2/accounts/{A}/jobs/", 400, "invalid_request", (("Authorization", f"Token {pk.PAT_A} {pk.PAT_A}"),), step="5"),
    Case("basic_scheme", f"/api/v2/accounts/{A}/jobs/", 401, "unsupported_scheme", (("Authorization", "Basic dXNlcjpwYXNz"),), step="5"),
    Case("pat_wrong_length", f"/api/v2/accounts/{A}/jobs/", 401, "malformed_token", tok("dbtu_short"), step="5"),
    Case("no_known_kind", f"/api/v2/accounts/{A}/jobs/", 401, "malformed_token", tok("someone@example.com"), step="5"),
    Case("token_in_query_not_enabled", f"/api/v2/accounts/{A}/jobs/?token={pk.PAT_A}", 401, "missing_token", step="5"),
    # 7: the registry.
    Case("unknown_token", f"/api/v2/accounts/{A}/jobs/", 401, "invalid_token", tok(pk.UNKNOWN_PAT), step="7"),
    Case("revoked_token", f"/api/v2/accounts/{A}/jobs/", 401, "revoked_token", tok(pk.REVOKED_A), step="7"),
    Case("expired_token", f"/api/v2/accounts/{A}/jobs/", 401, "expired_token", tok(pk.EXPIRED_A), step="7"),
    # 9: kind not allowed on the route.
    Case("pat_on_service_route", f"/api/v2/accounts/{A}/jobs/7/run/", 403, "token_kind_not_allowed", tok(pk.PAT_A), method="POST", step="9"),
    Case("oauth_on_service_route", f"/api/v2/accounts/{A}/jobs/7/run/", 403, "token_kind_not_allowed", tok(pk.JWT, "Bearer"), method="POST", step="9"),
    # 10: accounts.
    Case("token_for_another_account", f"/api/v2/accounts/{B}/jobs/", 403, "account_mismatch", tok(pk.PAT_A), step="10"),
    Case("host_and_path_disagree", f"/api/v2/accounts/{A}/jobs/", 403, "account_mismatch", tok(pk.PAT_A), host=f"{pk.PREFIX_B}.us1.dbt.com", step="10"),
    Case("host_names_another_account", "/api/graphql", 403, "account_mismatch", tok(pk.PAT_A), host=f"{pk.PREFIX_B}.semantic-layer.us1.dbt.com", step="10"),
]

STRICT = [
    Case("strict_legacy_key_retired", f"/api/v2/accounts/{A}/jobs/", 401, "user_key_retired", tok(pk.USER_KEY), step="8"),
    Case("strict_oauth_rejected", f"/api/v2/accounts/{A}/jobs/", 401, "unsupported_token", tok(pk.JWT, "Bearer"), step="6"),
    Case("strict_pat_still_fine", f"/api/v2/accounts/{A}/jobs/", 200, "ok", tok(pk.PAT_A), step="12"),
]
