//! SPEC wave 2 in the decision: the server behind decides what a request means (§5, §6 steps 1
//! and 7), client rules (§10) and kind-scoped retirements (§4). Each test is a way around the
//! edge that a reviewer found, and what the edge must do instead.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::{sha256_hex, Code, Kind, Policy, Request, Verdict};

const A: u64 = 70_471_823_510_118;
const B: u64 = 9_007_199_254_740_993;
const NOW: i64 = 1_795_000_000; // 2026-11-18

fn pat(c: char) -> String {
    format!("dbtu_{}", core::iter::repeat_n(c, 50).collect::<String>())
}
fn svc(c: char) -> String {
    format!("dbtc_{}", core::iter::repeat_n(c, 50).collect::<String>())
}

fn policy(extra: &str) -> Policy {
    let json = format!(
        r#"{{ {extra}
  "registry": {{"tokens": [
    {{"sha256": "{}", "kind": "pat", "account_id": "{A}"}},
    {{"sha256": "{}", "kind": "service", "account_id": "{A}"}},
    {{"sha256": "{}", "kind": "user_key"}},
    {{"sha256": "{}", "kind": "service", "account_id": "{A}"}}
  ]}},
  "hosts": {{"account_prefixes": {{"ab123": "{A}", "gn456": "{B}"}}}},
  "routes": [
    {{"path": "/health", "auth": "none"}},
    {{"path": "/api/v2/accounts/*/jobs/*/run/", "methods": ["POST"], "allow_kinds": ["service"]}}
  ],
  "deprecations": {{"endpoints": [
    {{"path": "/api/v2/accounts/", "deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-04-30T00:00:00Z"}},
    {{"path": "/api/v3/accounts/", "deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-04-30T00:00:00Z", "kinds": ["user_key"]}}
  ]}}
}}"#,
        sha256_hex(pat('a').as_bytes()),
        sha256_hex(svc('c').as_bytes()),
        // A `dbtu_` token filed as a legacy key: a registry mistake.
        sha256_hex(pat('m').as_bytes()),
        sha256_hex(b"0123456789abcdef0123456789abcdef01234567"),
    );
    Policy::from_json(&json).unwrap()
}

/// (verdict, code, account) for a request with these headers.
fn decide(
    p: &Policy,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (Verdict, Code, Option<u64>) {
    let mut r = Request::from_url(method.as_bytes(), url);
    for (n, v) in headers {
        r.header(n.as_bytes(), v.as_bytes());
    }
    let d = p.decide(&r, NOW);
    (d.verdict, d.code, d.account_id)
}

fn with_token(p: &Policy, method: &str, url: &str, token: &str) -> (Verdict, Code, Option<u64>) {
    let auth = format!("Token {token}");
    decide(p, method, url, &[("authorization", &auth)])
}

const DENY_400: (Verdict, Code, Option<u64>) = (Verdict::Deny, Code::InvalidRequest, None);

#[test]
fn account_ids_a_lenient_parser_reads_are_refused() {
    let p = policy("");
    for seg in [
        "+9007199254740993",
        "9_007_199_254_740_993",
        "%2B1",
        "%D9%A3",
        "%EF%BC%91",
        "1%20",
    ] {
        let url = format!("/api/v2/accounts/{seg}/jobs/");
        assert_eq!(with_token(&p, "GET", &url, &pat('a')), DENY_400, "{seg}");
    }
}

#[test]
fn format_suffixes_are_read_through_by_restrictive_rules() {
    let p = policy("");
    // The retired list view, served at `.json` too.
    assert_eq!(
        with_token(&p, "GET", "/api/v2/accounts.json", &pat('a')).1,
        Code::EndpointSunset
    );
    // The service-only run action.
    let run = format!("/api/v2/accounts/{A}/jobs/42/run.json");
    assert_eq!(
        with_token(&p, "POST", &run, &pat('a')).1,
        Code::TokenKindNotAllowed
    );
    assert_eq!(with_token(&p, "POST", &run, &svc('c')).0, Verdict::Allow);
    // The account a suffixed segment names is bound.
    let other = format!("/api/v2/accounts/{B}.json");
    assert_eq!(
        with_token(&p, "GET", &other, &pat('a')).1,
        Code::AccountMismatch
    );
    // A public route matches only the path as sent.
    assert_eq!(decide(&p, "GET", "/health.json", &[]).1, Code::MissingToken);
    assert_eq!(decide(&p, "GET", "/health", &[]).0, Verdict::Allow);
}

#[test]
fn methods_compare_as_the_server_upper_cases_them() {
    let p = policy("");
    let run = format!("/api/v2/accounts/{A}/jobs/42/run/");
    for m in ["post", "Post", "POST"] {
        assert_eq!(
            with_token(&p, m, &run, &pat('a')).1,
            Code::TokenKindNotAllowed,
            "{m}"
        );
    }
}

#[test]
fn a_registry_kind_the_shape_cannot_be_is_unknown() {
    let p = policy("");
    let url = format!("/api/v2/accounts/{B}/jobs/");
    assert_eq!(with_token(&p, "GET", &url, &pat('m')).1, Code::InvalidToken);
    let hex_as_service = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        with_token(&p, "GET", &url, hex_as_service).1,
        Code::InvalidToken
    );
}

#[test]
fn hosts_must_be_one_and_well_formed() {
    let p = policy("");
    let auth = format!("Token {}", pat('a'));
    let jobs = "/api/v2/accounts/70471823510118/jobs/";
    let h = |host: &str| decide(&p, "GET", jobs, &[("authorization", &auth), ("host", host)]);
    assert_eq!(h(".gn456.us1.dbt.com"), DENY_400);
    assert_eq!(h("ab123.us1.dbt.com").0, Verdict::Allow);
    let two = decide(
        &p,
        "GET",
        "/api/v2/jobs/",
        &[
            ("authorization", &auth),
            ("host", "ab123.us1.dbt.com"),
            ("host", "gn456.us1.dbt.com"),
        ],
    );
    assert_eq!(two, DENY_400);
    let url = "https://gn456.us1.dbt.com/api/v2/jobs/";
    let disagree = decide(
        &p,
        "GET",
        url,
        &[("authorization", &auth), ("host", "ab123.us1.dbt.com")],
    );
    assert_eq!(disagree, DENY_400);
}

fn removed(p: &Policy, headers: &[(&str, &str)], auth: bool) -> Vec<String> {
    let token = format!("Token {}", pat('a'));
    let mut r = Request::new(b"GET", b"/api/v2/accounts/70471823510118/jobs/");
    if auth {
        r.header(b"authorization", token.as_bytes());
    }
    for (n, v) in headers {
        r.header(n.as_bytes(), v.as_bytes());
    }
    let d = p.decide(&r, NOW);
    d.remove_headers()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

#[test]
fn step1_removes_every_spelling_and_forwarded_hosts() {
    let p = policy("");
    let sent = [
        ("x_dbt_account_id", "1"),
        ("X-Dbt-Token_Kind", "service"),
        ("x-dbt-token-id", "mine"),
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "for=1.2.3.4;host=evil.example"),
        ("x-tokengate-would-deny", "x"),
        ("x-request-id", "keep"),
    ];
    let gone = removed(&p, &sent, true);
    // `x-dbt-token-id` is set by the decision anyway (replacing the client's), so not listed.
    assert_eq!(
        gone,
        [
            "x_dbt_account_id",
            "X-Dbt-Token_Kind",
            "x-forwarded-host",
            "forwarded",
            "x-tokengate-would-deny"
        ]
    );
    // Even on a denial in report mode and on a public route, nothing of the client's goes on.
    let report = policy(r#""mode": "report","#);
    assert!(removed(&report, &sent, false).contains(&String::from("x-dbt-token-id")));
    // A Forwarded without a host stays.
    assert!(removed(&p, &[("forwarded", "for=1.2.3.4")], true).is_empty());
}

#[test]
fn too_many_header_names_fail_closed() {
    let p = policy("");
    let names: Vec<String> = (0..=crate::MAX_HEADER_NAMES)
        .map(|i| format!("x-h{i}"))
        .collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert_eq!(decide(&p, "GET", "/health", &pairs), DENY_400);
}

const TERRAFORM: &str = r#""clients": [
  {"name": "production Terraform", "user_agent": ["terraform-provider-dbtcloud/*"],
   "expect_kinds": ["service"]},
  {"name": "partner", "user_agent": ["*hightouch*"], "expect_kinds": ["service"], "action": "deny",
   "advice": "Partner integrations use service tokens."}
],"#;

#[test]
fn client_rules_report_advice_or_deny() {
    let p = policy(TERRAFORM);
    let url = format!("/api/v2/accounts/{A}/jobs/");
    let auth = format!("Token {}", pat('a'));
    let mut r = Request::new(b"GET", url.as_bytes());
    r.header(b"authorization", auth.as_bytes());
    r.header(
        b"user-agent",
        b"Terraform-Provider-DBTCloud/1.0.3 (+https://x)",
    );
    let d = p.decide(&r, NOW);
    assert_eq!(
        (d.verdict, d.client()),
        (Verdict::Allow, Some("production Terraform"))
    );
    let advice = d.advice().unwrap();
    assert_eq!(advice.code, "service_token_advised");
    assert!(d
        .set_headers()
        .any(|(n, v)| n == "x-tokengate-advice" && v.as_str() == "service_token_advised"));
    let json: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
    assert_eq!(json["client"], "production Terraform");
    assert_eq!(json["advice"]["code"], "service_token_advised");

    // The right kind: the client is named, no advice.
    let svc_auth = format!("Token {}", svc('c'));
    let mut r = Request::new(b"GET", url.as_bytes());
    r.header(b"authorization", svc_auth.as_bytes());
    r.header(b"user-agent", b"terraform-provider-dbtcloud/1.0.3");
    let d = p.decide(&r, NOW);
    assert_eq!(
        (d.client(), d.advice()),
        (Some("production Terraform"), None)
    );

    // `deny`: 403 with the rule's advice as the message; report mode turns it into a would-deny.
    let mut r = Request::new(b"GET", url.as_bytes());
    r.header(b"authorization", auth.as_bytes());
    r.header(b"user-agent", b"Hightouch/2.0");
    let d = p.decide(&r, NOW);
    assert_eq!(
        (d.verdict, d.code),
        (Verdict::Deny, Code::TokenKindNotAllowed)
    );
    assert_eq!(d.message(), "Partner integrations use service tokens.");
    let report = policy(&format!(r#""mode": "report", {TERRAFORM}"#));
    assert_eq!(report.decide(&r, NOW).verdict, Verdict::WouldDeny);
}

#[test]
fn client_rules_never_loosen() {
    let p =
        policy(r#""clients": [{"name": "any", "user_agent": ["*"], "expect_kinds": ["pat"]}],"#);
    let run = format!("/api/v2/accounts/{A}/jobs/42/run/");
    assert_eq!(
        with_token(&p, "POST", &run, &pat('a')).1,
        Code::TokenKindNotAllowed
    );
    let other = format!("/api/v2/accounts/{B}/jobs/");
    assert_eq!(
        with_token(&p, "GET", &other, &pat('a')).1,
        Code::AccountMismatch
    );
}

#[test]
fn kind_scoped_retirements_spare_other_kinds() {
    let p = policy("");
    // Retired for legacy keys only (the Terraform provider lists accounts with a service token).
    assert_eq!(
        with_token(&p, "GET", "/api/v3/accounts/", &svc('c')).0,
        Verdict::Allow
    );
    let key = "0123456789abcdef0123456789abcdef01234567";
    let keyed = Policy::from_json(&format!(
        r#"{{"registry": {{"tokens": [{{"sha256": "{}", "kind": "user_key"}}]}},
        "deprecations": {{"endpoints": [{{"path": "/api/v3/accounts/", "deprecated_at": "2024-02-07T00:00:00Z",
        "sunset_at": "2024-04-30T00:00:00Z", "kinds": ["user_key"]}}]}}}}"#,
        sha256_hex(key.as_bytes())
    ))
    .unwrap();
    let (v, code, _) = with_token(&keyed, "GET", "/api/v3/accounts/", key);
    assert_eq!((v, code), (Verdict::Deny, Code::EndpointSunset));
    assert_eq!(
        with_token(&keyed, "GET", "/api/v3/accounts/", &pat('z')).1,
        Code::InvalidToken
    );
    assert_eq!(Kind::UserKey.as_str(), "user_key");
}

#[test]
fn the_debug_log_line_names_a_denial_by_code_and_token_id_only() {
    let p = policy("");
    let line = |token: &str, mode_report: bool| {
        let report;
        let p = if mode_report {
            report = policy(r#""mode": "report","#);
            &report
        } else {
            &p
        };
        let auth = format!("Token {token}");
        let url = format!("/api/v2/accounts/{A}/jobs/");
        let mut r = Request::from_url(b"GET", &url);
        r.header(b"authorization", auth.as_bytes());
        p.decide(&r, NOW).log_line()
    };
    assert_eq!(line(&pat('a'), false), None, "an allow logs nothing");
    let unknown = pat('z');
    let id = &sha256_hex(unknown.as_bytes())[..12];
    assert_eq!(
        line(&unknown, false).as_deref(),
        Some(format!("denied 401 invalid_token token_id={id} kind=pat").as_str())
    );
    let got = line(&unknown, true).unwrap();
    assert_eq!(
        got,
        format!("would deny 401 invalid_token token_id={id} kind=pat")
    );
    assert!(!got.contains(&unknown) && !got.contains(&sha256_hex(unknown.as_bytes())));
    assert_eq!(
        line("", false).as_deref(),
        Some("denied 401 malformed_token token_id=- kind=-")
    );
}
