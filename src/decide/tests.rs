//! The decision, step by step (SPEC §6), and every code of §8 on a policy built for the purpose.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use std::collections::BTreeSet;

use crate::{parse_rfc3339, sha256_hex, Code, Decision, Kind, Policy, Registry, Request};

/// An owned snapshot of a decision, as SPEC §9 lists it: the tests keep decisions past the
/// request they borrow.
#[derive(Debug)]
struct View {
    allow: bool,
    report_only: bool,
    status: u16,
    code: Code,
    message: String,
    token_kind: Option<Kind>,
    token_id: Option<String>,
    account_id: Option<u64>,
    deprecated: bool,
    response_headers: Vec<(&'static str, String)>,
    upstream_headers: Vec<(String, String)>,
    body: Option<String>,
    json: String,
}

impl View {
    fn to_json(&self) -> String {
        self.json.clone()
    }
}

fn view(d: &Decision<'_>) -> View {
    View {
        allow: d.allow(),
        report_only: d.report_only(),
        status: d.status(),
        code: d.code,
        message: d.message().into_owned(),
        token_kind: d.token_kind,
        token_id: d.token_id().map(String::from),
        account_id: d.account_id,
        deprecated: d.deprecated(),
        response_headers: d.json_response_headers(),
        upstream_headers: d.json_upstream_headers(),
        body: d.reply().map(|r| r.body),
        json: d.to_json(),
    }
}

const A: u64 = 70_471_823_510_118;
/// Above 2^53: a JS number would round it.
const BIG: u64 = 9_007_199_254_740_993;
const LINK: &str = "https://docs.getdbt.com/docs/dbt-cloud-apis/user-tokens";

fn body(c: char) -> String {
    core::iter::repeat_n(c, 50).collect()
}
fn pat_a() -> String {
    format!("dbtu_{}", body('a'))
}
fn pat_big() -> String {
    format!("dbtu_{}", body('b'))
}
fn svc_a() -> String {
    format!("dbtc_{}", body('c'))
}
fn svc_revoked() -> String {
    format!("dbtc_{}", body('r'))
}
fn pat_expired() -> String {
    format!("dbtu_{}", body('e'))
}
fn pat_registered_as_service() -> String {
    format!("dbtu_{}", body('m'))
}
fn pat_unknown() -> String {
    format!("dbtu_{}", body('u'))
}
const USER_KEY: &str = "0123456789abcdef0123456789abcdef01234567";
/// A legacy key of no fixed shape: only the registry knows it.
const ODD_KEY: &str = "Legacy.Key:42";
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

fn policy_json(extra: &str) -> String {
    format!(
        r#"{{
  {extra}
  "registry": {{"tokens": [
    {{"sha256": "{}", "kind": "pat", "account_id": "{A}"}},
    {{"sha256": "{}", "kind": "pat", "account_id": {BIG}}},
    {{"sha256": "{}", "kind": "service", "account_id": "{A}", "token_id": "svc-prod"}},
    {{"sha256": "{}", "kind": "service", "account_id": "{A}", "revoked": true}},
    {{"sha256": "{}", "kind": "pat", "account_id": "{A}", "expires_at": "2025-01-01T00:00:00Z"}},
    {{"sha256": "{}", "kind": "service", "account_id": "{A}"}},
    {{"sha256": "{}", "kind": "user_key"}},
    {{"sha256": "{}", "kind": "user_key"}}
  ]}},
  "hosts": {{"account_prefixes": {{"ab123": "{A}", "GN456": "{BIG}"}}}},
  "routes": [
    {{"path": "/health", "auth": "none"}},
    {{"path": "/api/v2/accounts/*/jobs/*/run/", "methods": ["POST"], "allow_kinds": ["service"]}},
    {{"path": "/api/v2/accounts/*/pats-only/**", "allow_kinds": ["pat"]}}
  ],
  "deprecations": {{
    "user_keys": {{"deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-10-22T00:00:00Z", "link": "{LINK}"}},
    "endpoints": [
      {{"path": "/api/v2/accounts/", "deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-04-30T00:00:00Z", "link": "{LINK}"}},
      {{"path": "/api/v3/accounts/", "deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-04-30T00:00:00Z", "link": "{LINK}"}},
      {{"path": "/api/v2/accounts/*/old/**", "deprecated_at": "2024-01-01T00:00:00Z", "sunset_at": "2030-01-01T00:00:00Z"}},
      {{"path": "/api/v2/accounts/*/soon/**", "deprecated_at": "2024-01-01T00:00:00Z", "sunset_at": "2024-06-01T00:00:00Z"}}
    ]
  }}
}}"#,
        sha256_hex(pat_a().as_bytes()),
        sha256_hex(pat_big().as_bytes()),
        sha256_hex(svc_a().as_bytes()),
        sha256_hex(svc_revoked().as_bytes()),
        sha256_hex(pat_expired().as_bytes()),
        sha256_hex(pat_registered_as_service().as_bytes()),
        sha256_hex(USER_KEY.as_bytes()),
        sha256_hex(ODD_KEY.as_bytes()),
    )
}

fn policy(extra: &str) -> Policy {
    Policy::from_json(&policy_json(extra)).unwrap()
}

fn at(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

/// 2026-11-28: user keys and the cross-account endpoints are retired.
fn now() -> i64 {
    at("2026-11-28T00:00:00Z")
}

fn decide_at(p: &Policy, method: &str, url: &str, headers: &[(&str, &str)], now: i64) -> View {
    let mut r = Request::from_url(method.as_bytes(), url);
    for (n, v) in headers {
        r.header(n.as_bytes(), v.as_bytes());
    }
    view(&p.decide(&r, now))
}

fn token_at(p: &Policy, url: &str, token: &str, now: i64) -> View {
    let auth = format!("Token {token}");
    decide_at(p, "GET", url, &[("authorization", &auth)], now)
}

fn token(p: &Policy, url: &str, token: &str) -> View {
    token_at(p, url, token, now())
}

fn header<'d>(d: &'d View, name: &str) -> Option<&'d str> {
    d.response_headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn upstream<'d>(d: &'d View, name: &str) -> Option<&'d str> {
    d.upstream_headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn assert_denied(d: &View, code: Code) {
    assert!(!d.allow, "{}", d.to_json());
    assert_eq!(d.code, code, "{}", d.to_json());
    assert_eq!(d.status, code.status());
    assert_eq!(header(d, "cache-control"), Some("no-store"));
    assert!(d.upstream_headers.is_empty());
    assert!(d.body.is_some());
    assert_eq!(d.account_id, None);
}

const ACC_A: &str = "/api/v2/accounts/70471823510118/jobs/";

#[test]
fn step1_strip_headers_are_the_identity_headers() {
    let p = policy(
        r#""upstream_headers": {"account_id": "X-Acct", "token_kind": "x-kind", "token_id": "x-id"},"#,
    );
    assert_eq!(
        p.strip_headers(),
        [
            "x-acct",
            "x-kind",
            "x-id",
            "x-tokengate-would-deny",
            "x-tokengate-advice",
            "x-forwarded-host",
            "forwarded"
        ]
    );
    let d = token(&p, ACC_A, &pat_a());
    assert_eq!(upstream(&d, "x-acct"), Some("70471823510118"));
}

#[test]
fn step2_ambiguous_paths_come_first() {
    let p = policy("");
    for url in [
        "/health/../api/v2/accounts/1/",
        "/api/v2/accounts%2f1/",
        "/api/v2/./accounts/",
        "/api\\v2/accounts/",
        "/api/v2/accounts/%2e%2e/",
        "/api/v2//accounts/1/",
        "/api/v2/accounts/99999999999999999999/",
    ] {
        let d = token(&p, url, "garbage");
        assert_denied(&d, Code::InvalidRequest);
        let www = header(&d, "www-authenticate").unwrap();
        assert!(
            www.starts_with(
                "Bearer realm=\"dbt\", error=\"invalid_request\", error_description=\""
            ),
            "{www}"
        );
    }
    let mut r = Request::new(b"GET", b"/api/v2/accounts/1/\x00");
    r.header(b"authorization", b"Token x");
    assert_denied(&view(&p.decide(&r, now())), Code::InvalidRequest);
}

#[test]
fn step3_public_routes_need_nothing_and_get_nothing() {
    let p = policy("");
    for headers in [&[][..], &[("authorization", "Basic abc")][..]] {
        let d = decide_at(&p, "GET", "/health", headers, now());
        assert!(d.allow);
        assert_eq!(d.code, Code::Ok);
        assert!(d.upstream_headers.is_empty() && d.response_headers.is_empty());
        assert_eq!(d.token_kind, None);
    }
    // A method-limited route matches only its methods: GET falls through to the default.
    let d = token(&p, "/api/v2/accounts/70471823510118/jobs/7/run/", &pat_a());
    assert!(d.allow);
}

#[test]
fn step4_retired_endpoint_before_any_credential() {
    let p = policy("");
    for url in [
        "/api/v2/accounts/",
        "/api/v2/accounts",
        "/api/v3/accounts/?x=1",
    ] {
        let d = decide_at(&p, "GET", url, &[], now());
        assert_denied(&d, Code::EndpointSunset);
        assert_eq!(d.status, 410);
        assert_eq!(header(&d, "sunset"), Some("Tue, 30 Apr 2024 00:00:00 GMT"));
        assert_eq!(header(&d, "deprecation"), Some("@1707264000"));
        assert_eq!(
            header(&d, "link"),
            Some(&*format!("<{LINK}>; rel=\"deprecation\""))
        );
        assert_eq!(header(&d, "www-authenticate"), None);
        let d = token(&p, url, "dbtu_short");
        assert_eq!(d.code, Code::EndpointSunset);
    }
    // The account's own path is not the retired cross-account list.
    assert!(token(&p, "/api/v2/accounts/70471823510118/", &pat_a()).allow);
    // Before its sunset the same endpoint is only deprecated.
    let d = token_at(
        &p,
        "/api/v2/accounts/",
        &pat_a(),
        at("2024-03-01T00:00:00Z"),
    );
    assert!(d.allow && d.deprecated);
}

#[test]
fn step5_credentials() {
    let p = policy("");
    let d = decide_at(&p, "GET", ACC_A, &[], now());
    assert_denied(&d, Code::MissingToken);
    assert_eq!(header(&d, "www-authenticate"), Some("Bearer realm=\"dbt\""));

    let two = [("authorization", "Token a"), ("Authorization", "Token b")];
    assert_denied(
        &decide_at(&p, "GET", ACC_A, &two, now()),
        Code::InvalidRequest,
    );
    let pair = format!("Bearer {}, Token {}", pat_a(), pat_a());
    assert_denied(
        &decide_at(&p, "GET", ACC_A, &[("authorization", &pair)], now()),
        Code::InvalidRequest,
    );

    // Two lines of which the first is another scheme, and the one value Envoy (or a fetch
    // `Headers`) joins them into: both ambiguous, before the scheme is looked at.
    let basic_then_token = [
        ("authorization", "Basic dXNlcjpwYXNz"),
        ("authorization", &*format!("Token {}", pat_a())),
    ];
    let joined = format!("Basic dXNlcjpwYXNz,Token {}", pat_a());
    for headers in [&basic_then_token[..], &[("authorization", &*joined)]] {
        assert_denied(
            &decide_at(&p, "GET", ACC_A, headers, now()),
            Code::InvalidRequest,
        );
    }
    let digest = "Digest username=\"a, Token b\", realm=\"r\"";
    assert_denied(
        &decide_at(&p, "GET", ACC_A, &[("authorization", digest)], now()),
        Code::UnsupportedScheme,
    );

    for scheme in ["Basic dXNlcjpwYXNz", "Digest username=x", "dbtu_nospace"] {
        let d = decide_at(&p, "GET", ACC_A, &[("authorization", scheme)], now());
        assert_denied(&d, Code::UnsupportedScheme);
        assert!(header(&d, "www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""));
    }
    // Scheme case and spacing do not matter.
    let spaced = format!("bEaReR    {}", pat_a());
    assert!(decide_at(&p, "GET", ACC_A, &[("authorization", &spaced)], now()).allow);

    // Both body formats, wrong: malformed, whatever the registry holds.
    let short = format!("dbtu_{}", &body('a')[1..]);
    let long = format!("dbtc_{}x", body('c'));
    let bad_char = format!("dbtu_{}!", &body('a')[1..]);
    for t in [
        &short[..],
        &long,
        &bad_char,
        "paul@atreides.com",
        "not-registered",
        "Token",
    ] {
        let d = token(&p, ACC_A, t);
        assert_denied(&d, Code::MalformedToken);
        assert!(d.message.starts_with("The token is malformed."));
    }
    let d = decide_at(&p, "GET", ACC_A, &[("authorization", "Bearer ")], now());
    assert_denied(&d, Code::MalformedToken);
}

#[test]
fn step5_unknown_shapes_are_looked_up_first() {
    let p = policy("");
    // Registered legacy key of odd shape: known, so it meets the user-key rules, not "malformed".
    let d = token(&p, ACC_A, ODD_KEY);
    assert_denied(&d, Code::UserKeyRetired);
    let d = token_at(&p, ACC_A, ODD_KEY, at("2024-03-01T00:00:00Z"));
    assert!(d.allow);
    assert_eq!(d.token_kind, Some(Kind::UserKey));
}

#[test]
fn step6_oauth() {
    let reject = policy(r#""oauth": "reject","#);
    let d = token(&reject, ACC_A, JWT);
    assert_denied(&d, Code::UnsupportedToken);
    assert_eq!(d.token_kind, Some(Kind::OAuth));

    let forward = policy("");
    let d = token(&forward, ACC_A, JWT);
    assert!(d.allow);
    assert_eq!((d.token_kind, d.account_id), (Some(Kind::OAuth), None));
    assert_eq!(upstream(&d, "x-dbt-token-kind"), Some("oauth"));
    assert_eq!(upstream(&d, "x-dbt-account-id"), None);
    assert_eq!(
        d.token_id.as_deref(),
        Some(&sha256_hex(JWT.as_bytes())[..12])
    );
    // Skips step 10: no account to bind, even where host and path disagree.
    let d = token(
        &forward,
        "https://gn456.dbt.com/api/v2/accounts/70471823510118/",
        JWT,
    );
    assert!(d.allow);
    // Meets step 9.
    let d = token(&forward, "/api/v2/accounts/1/pats-only/x", JWT);
    assert_denied(&d, Code::TokenKindNotAllowed);
    // Meets step 11.
    let d = token(&forward, "/api/v2/accounts/1/old/x", JWT);
    assert!(d.allow && d.deprecated);
}

#[test]
fn step7_registry() {
    let p = policy("");
    let d = token(&p, ACC_A, &pat_unknown());
    assert_denied(&d, Code::InvalidToken);
    assert_eq!(
        d.token_id.as_deref(),
        Some(&sha256_hex(pat_unknown().as_bytes())[..12])
    );
    assert_denied(
        &token(&p, ACC_A, "fedcba9876543210fedcba9876543210fedcba98"),
        Code::InvalidToken,
    );
    let d = token(&p, ACC_A, &svc_revoked());
    assert_denied(&d, Code::RevokedToken);
    assert_eq!(d.token_kind, Some(Kind::Service));
    let d = token(&p, ACC_A, &pat_expired());
    assert_denied(&d, Code::ExpiredToken);
    assert!(d.message.contains("2025-01-01"));
    // Expiry is exclusive: the token works up to the second before.
    assert!(token_at(&p, ACC_A, &pat_expired(), at("2024-12-31T23:59:59Z")).allow);
    assert_denied(
        &token_at(&p, ACC_A, &pat_expired(), at("2025-01-01T00:00:00Z")),
        Code::ExpiredToken,
    );
    // A dbtu_ token the registry files as a service token: the registry is wrong, fail closed.
    assert_denied(
        &token(&p, ACC_A, &pat_registered_as_service()),
        Code::InvalidToken,
    );
}

#[test]
fn step8_user_keys() {
    let p = policy("");
    let d = token(&p, ACC_A, USER_KEY);
    assert_denied(&d, Code::UserKeyRetired);
    assert!(d.message.contains("Settings > Access Token"));
    assert!(d.message.contains("service token"));
    assert!(d.message.contains("2024-10-22"));
    assert_eq!(header(&d, "sunset"), Some("Tue, 22 Oct 2024 00:00:00 GMT"));

    let d = token_at(&p, ACC_A, USER_KEY, at("2024-03-01T00:00:00Z"));
    assert!(d.allow && d.deprecated);
    assert_eq!(header(&d, "deprecation"), Some("@1707264000"));
    assert_eq!(header(&d, "sunset"), Some("Tue, 22 Oct 2024 00:00:00 GMT"));
    assert_eq!(upstream(&d, "x-dbt-account-id"), None);
    assert_eq!(upstream(&d, "x-dbt-token-kind"), Some("user_key"));
    // Before the window: no headers.
    let d = token_at(&p, ACC_A, USER_KEY, at("2024-01-01T00:00:00Z"));
    assert!(d.allow && !d.deprecated && d.response_headers.is_empty());
    // Without a user-key deprecation, legacy keys are simply allowed.
    let plain = Policy::from_json(&policy_json("").replace(
        r#""user_keys": {"deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-10-22T00:00:00Z", "link": "https://docs.getdbt.com/docs/dbt-cloud-apis/user-tokens"},"#,
        "",
    ))
    .unwrap();
    assert!(token(&plain, ACC_A, USER_KEY).allow);
}

#[test]
fn step9_kinds_per_route() {
    let p = policy("");
    let run = "/api/v2/accounts/70471823510118/jobs/7/run/";
    let auth = format!("Token {}", pat_a());
    let d = decide_at(&p, "POST", run, &[("authorization", &auth)], now());
    assert_denied(&d, Code::TokenKindNotAllowed);
    assert_eq!(d.status, 403);
    assert!(
        d.message.contains("accepts service tokens"),
        "{}",
        d.message
    );
    assert_eq!(header(&d, "www-authenticate"), None);
    let auth = format!("Token {}", svc_a());
    let d = decide_at(&p, "POST", run, &[("authorization", &auth)], now());
    assert!(d.allow);
    assert_eq!(d.token_id.as_deref(), Some("svc-prod"));
}

#[test]
fn step10_account_binding() {
    let p = policy("");
    let other = format!("/api/v2/accounts/{BIG}/jobs/");
    let d = token(&p, &other, &pat_a());
    assert_denied(&d, Code::AccountMismatch);
    assert!(d.message.contains("not valid for this account"));
    assert!(d.message.contains("create a token in the account"));
    // Never which account the token does belong to.
    assert!(
        !d.message.contains(&format!("{A}")) && !d.body.as_ref().unwrap().contains(&format!("{A}"))
    );

    // The host names the account too, case and port ignored.
    assert!(
        token(
            &p,
            "https://AB123.us1.dbt.com:443/api/v2/accounts/70471823510118/",
            &pat_a()
        )
        .allow
    );
    assert!(
        token(
            &p,
            "https://ab123.semantic-layer.us1.dbt.com/api/graphql",
            &pat_a()
        )
        .allow
    );
    assert_denied(
        &token(&p, "https://gn456.metadata.us1.dbt.com/graphql", &pat_a()),
        Code::AccountMismatch,
    );
    let d = token(
        &p,
        "https://gn456.dbt.com/api/v2/accounts/70471823510118/",
        &pat_a(),
    );
    assert_denied(&d, Code::AccountMismatch);
    assert!(d.message.contains("host and the path"));
    // Unknown host labels name nothing.
    assert!(
        token(
            &p,
            "https://zz999.dbt.com/api/v2/accounts/70471823510118/",
            &pat_a()
        )
        .allow
    );
    // The Host header works like :authority.
    let auth = format!("Token {}", pat_a());
    let d = decide_at(
        &p,
        "GET",
        "/graphql",
        &[("host", "gn456.dbt.com"), ("authorization", &auth)],
        now(),
    );
    assert_denied(&d, Code::AccountMismatch);

    // Ids above 2^53, exact end to end.
    let d = token(&p, &other, &pat_big());
    assert!(d.allow);
    assert_eq!(d.account_id, Some(BIG));
    assert_eq!(upstream(&d, "x-dbt-account-id"), Some("9007199254740993"));
    assert!(d.to_json().contains("\"account_id\":\"9007199254740993\""));
    let d = token(&p, "/api/v2/accounts/9007199254740992/", &pat_big());
    assert_denied(&d, Code::AccountMismatch);

    // Service tokens are bound the same way.
    assert_denied(&token(&p, &other, &svc_a()), Code::AccountMismatch);
    // No account named: nothing to compare; upstream learns the token's account.
    let d = token(&p, "/api/v3/projects/", &pat_a());
    assert_eq!(upstream(&d, "x-dbt-account-id"), Some("70471823510118"));
}

#[test]
fn step11_deprecation_windows() {
    let p = policy("");
    let d = token(&p, "/api/v2/accounts/70471823510118/old/x/", &pat_a());
    assert!(d.allow && d.deprecated);
    assert_eq!(header(&d, "sunset"), Some("Tue, 01 Jan 2030 00:00:00 GMT"));
    assert_eq!(
        header(&d, "deprecation"),
        Some(&*format!("@{}", at("2024-01-01T00:00:00Z")))
    );
    assert_eq!(header(&d, "link"), None);
    assert!(d.message.contains("2030-01-01"));
    // Legacy key and endpoint both apply: the earlier sunset tells.
    let mar = at("2024-03-01T00:00:00Z");
    let d = token_at(&p, "/api/v2/accounts/1/old/", USER_KEY, mar);
    assert_eq!(header(&d, "sunset"), Some("Tue, 22 Oct 2024 00:00:00 GMT"));
    let d = token_at(&p, "/api/v2/accounts/1/soon/", USER_KEY, mar);
    assert_eq!(header(&d, "sunset"), Some("Sat, 01 Jun 2024 00:00:00 GMT"));
}

#[test]
fn step12_identity_headers() {
    let p = policy("");
    let d = token(&p, ACC_A, &pat_a());
    assert!(d.allow && !d.report_only && !d.deprecated);
    assert_eq!((d.status, d.code, d.body.as_deref()), (200, Code::Ok, None));
    assert_eq!(
        d.upstream_headers,
        [
            (
                String::from("x-dbt-account-id"),
                String::from("70471823510118")
            ),
            (String::from("x-dbt-token-kind"), String::from("pat")),
            (
                String::from("x-dbt-token-id"),
                String::from(&sha256_hex(pat_a().as_bytes())[..12])
            ),
        ]
    );
    assert!(!d.to_json().contains("report_only"));
}

#[test]
fn report_mode_never_denies() {
    let p = policy(r#""mode": "report","#);
    let d = token(&p, &format!("/api/v2/accounts/{BIG}/"), &pat_a());
    assert!(d.allow && d.report_only);
    assert_eq!((d.status, d.code), (403, Code::AccountMismatch));
    assert_eq!(
        d.upstream_headers,
        [(
            String::from("x-tokengate-would-deny"),
            String::from("account_mismatch")
        )]
    );
    assert!(d.response_headers.is_empty() && d.body.is_none());
    assert!(d.to_json().contains("\"report_only\":true"));
    // What passes is unchanged.
    let d = token(&p, ACC_A, &pat_a());
    assert!(d.allow && !d.report_only && upstream(&d, "x-dbt-token-kind") == Some("pat"));
}

#[test]
fn denial_bodies_both_formats() {
    let p = policy("");
    let d = token(&p, ACC_A, &pat_unknown());
    assert_eq!(header(&d, "content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(d.body.as_ref().unwrap()).unwrap();
    assert_eq!(v["status"]["code"], 401);
    assert_eq!(v["status"]["is_success"], false);
    assert_eq!(v["status"]["developer_message"], "invalid_token");
    assert_eq!(v["status"]["user_message"], d.message.as_str());
    assert!(v["data"].is_null());
    let www = header(&d, "www-authenticate").unwrap();
    assert_eq!(
        www,
        format!(
            "Bearer realm=\"dbt\", error=\"invalid_token\", error_description=\"{}\"",
            d.message
        )
    );

    let auth = format!("Token {}", pat_unknown());
    let d = decide_at(
        &p,
        "GET",
        ACC_A,
        &[
            ("authorization", &auth),
            ("accept", "application/problem+json"),
        ],
        now(),
    );
    assert_eq!(header(&d, "content-type"), Some("application/problem+json"));
    let v: serde_json::Value = serde_json::from_str(d.body.as_ref().unwrap()).unwrap();
    assert_eq!(v["type"], "urn:tokengate:error:invalid_token");
    assert_eq!(v["title"], "Invalid token");
    assert_eq!(v["status"], 401);
    assert_eq!(v["detail"], d.message.as_str());
    assert_eq!(v["code"], "invalid_token");

    let p = policy(r#""realm": "dbt-cloud-eu","#);
    let d = decide_at(&p, "GET", ACC_A, &[], now());
    assert_eq!(
        header(&d, "www-authenticate"),
        Some("Bearer realm=\"dbt-cloud-eu\"")
    );
}

#[test]
fn decision_json_shape() {
    let p = policy("");
    let d = token(&p, &format!("/api/v2/accounts/{BIG}/"), &pat_a());
    let v: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = [
        "allow",
        "status",
        "code",
        "message",
        "token_kind",
        "token_id",
        "account_id",
        "response_headers",
        "upstream_headers",
        "body",
        "client",
        "advice",
    ];
    let mut got = keys.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(v["allow"], false);
    assert_eq!(v["status"], 403);
    assert_eq!(v["code"], "account_mismatch");
    assert_eq!(v["token_kind"], "pat");
    assert!(v["account_id"].is_null());
    assert_eq!(v["response_headers"]["cache-control"], "no-store");
    assert_eq!(v["body"].as_str(), d.body.as_deref());
}

#[test]
fn query_token_only_when_allowed() {
    let url = format!("/api/graphql?token={}", pat_a());
    let off = policy("");
    assert_denied(
        &decide_at(&off, "GET", &url, &[], now()),
        Code::MissingToken,
    );
    let on = policy(r#""query_token": true,"#);
    assert!(decide_at(&on, "GET", &url, &[], now()).allow);
    let auth = format!("Token {}", pat_a());
    assert_denied(
        &decide_at(&on, "GET", &url, &[("authorization", &auth)], now()),
        Code::InvalidRequest,
    );
    let twice = format!("{url}&token={}", pat_a());
    assert_denied(
        &decide_at(&on, "GET", &twice, &[], now()),
        Code::InvalidRequest,
    );
}

#[test]
fn widened_body_length() {
    let p = policy(r#""token_format": {"body_length": {"min": 40, "max": 60}},"#);
    let t = format!("dbtu_{}", &body('z')[..45]);
    assert_denied(&token(&p, ACC_A, &t), Code::InvalidToken);
    let p = policy("");
    assert_denied(&token(&p, ACC_A, &t), Code::MalformedToken);
}

#[test]
fn fetched_registry_before_and_after_loading() {
    let base = policy_json("");
    let start = base.find(r#""registry": {"tokens""#).unwrap();
    let end = base.find(r#""hosts""#).unwrap();
    let fetched = |until: &str| {
        let mut s = String::from(&base[..start]);
        s.push_str(&format!(
            r#""registry": {{"url": {{"cluster": "tokens", "path": "/registry.json", "until_loaded": "{until}"}}}},
  "#
        ));
        s.push_str(&base[end..]);
        // A front without a fetcher refuses it at load, naming the field.
        let refused = Policy::from_json(&s).unwrap_err();
        assert_eq!(refused.errors()[0].path, "registry.url");
        Policy::from_json_fetching(&s).unwrap()
    };
    let mut p = fetched("deny");
    let url = p.registry_url().unwrap();
    assert_eq!(
        (
            url.cluster.as_str(),
            url.authority.as_str(),
            url.refresh_seconds
        ),
        ("tokens", "tokens", 60)
    );
    let d = token(&p, ACC_A, &pat_a());
    assert_eq!(
        (d.allow, d.status, d.code),
        (false, 503, Code::RegistryUnavailable)
    );
    // What needs no registry is still decided.
    assert_denied(&token(&p, ACC_A, "dbtu_x"), Code::MalformedToken);
    assert!(decide_at(&p, "GET", "/health", &[], now()).allow);

    let d = token(&fetched("allow"), ACC_A, &pat_a());
    assert!(d.allow && d.report_only);
    assert_eq!(
        upstream(&d, "x-tokengate-would-deny"),
        Some("registry_unavailable")
    );

    let doc = format!(
        r#"{{"tokens":[{{"sha256":"{}","kind":"pat","account_id":"{A}"}}]}}"#,
        sha256_hex(pat_a().as_bytes())
    );
    p.set_registry(Registry::from_json(&doc).unwrap());
    assert!(token(&p, ACC_A, &pat_a()).allow);
}

/// Every code of SPEC §8 comes out of the decision with its status.
#[test]
fn every_code_is_reachable() {
    let p = policy("");
    let reject = policy(r#""oauth": "reject","#);
    let mut seen = BTreeSet::new();
    let mut see = |d: View| {
        assert_eq!(d.status, d.code.status());
        seen.insert(d.code.as_str());
    };
    see(token(&p, ACC_A, &pat_a()));
    see(token(&p, "/a/../b", &pat_a()));
    see(decide_at(&p, "GET", ACC_A, &[], now()));
    see(decide_at(
        &p,
        "GET",
        ACC_A,
        &[("authorization", "Basic x")],
        now(),
    ));
    see(token(&p, ACC_A, "dbtu_short"));
    see(token(&reject, ACC_A, JWT));
    see(token(&p, ACC_A, &pat_unknown()));
    see(token(&p, ACC_A, &svc_revoked()));
    see(token(&p, ACC_A, &pat_expired()));
    see(token(&p, ACC_A, USER_KEY));
    see(token(&p, "/api/v2/accounts/1/pats-only/", &svc_a()));
    see(token(&p, "/api/v2/accounts/1/", &pat_a()));
    see(token(&p, "/api/v2/accounts/", &pat_a()));
    let fetched =
        Policy::from_json_fetching(r#"{"registry": {"url": {"cluster": "c", "path": "/r"}}}"#)
            .unwrap();
    see(token(&fetched, ACC_A, &pat_a()));
    let keys_fetched = Policy::from_json_fetching(
        r#"{"registry": {"tokens": []}, "oauth": {"verify": {"issuer": "i", "audiences": ["a"],
            "algorithms": ["RS256"], "jwks": {"url": {"cluster": "idp", "path": "/k"}}}}}"#,
    )
    .unwrap();
    see(token(&keys_fetched, ACC_A, JWT));
    let all: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(seen, all);
    let statuses: Vec<(&str, u16)> = Code::ALL.iter().map(|c| (c.as_str(), c.status())).collect();
    assert_eq!(
        statuses,
        [
            ("ok", 200),
            ("invalid_request", 400),
            ("missing_token", 401),
            ("unsupported_scheme", 401),
            ("malformed_token", 401),
            ("unsupported_token", 401),
            ("invalid_token", 401),
            ("revoked_token", 401),
            ("expired_token", 401),
            ("user_key_retired", 401),
            ("token_kind_not_allowed", 403),
            ("account_mismatch", 403),
            ("endpoint_sunset", 410),
            ("registry_unavailable", 503),
            ("jwks_unavailable", 503),
        ]
    );
}

#[test]
fn no_output_holds_the_token() {
    let p = policy("");
    let tokens = [
        pat_a(),
        pat_unknown(),
        svc_revoked(),
        pat_expired(),
        String::from(USER_KEY),
        String::from(JWT),
        format!("dbtu_{}", &body('q')[2..]),
    ];
    for t in &tokens {
        for url in [
            ACC_A,
            "/api/v2/accounts/1/",
            "/api/v2/accounts/1/pats-only/",
            "/api/v2/accounts/1/old/",
        ] {
            let d = token(&p, url, t);
            let all = d.to_json();
            assert!(!all.contains(t.as_str()), "{all}");
            assert!(!all.contains(&sha256_hex(t.as_bytes())[..16]), "{all}");
        }
    }
}
