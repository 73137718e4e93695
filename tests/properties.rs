//! Property tests: no input panics inspection, extraction, policy parsing or the decision, the same
//! input always gives the same decision, and no output ever holds the token.

// A test may panic: that is how it fails. The no-panic lints are for the library.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core
)]
use proptest::prelude::*;
use tokengate::{inspect, inspect_with, sha256_hex, Policy, Registry, Request};

const PAT: &str = "dbtu_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn policy(mode: &str) -> Policy {
    let json = format!(
        r#"{{"mode": "{mode}", "registry": {{"tokens": [
            {{"sha256": "{}", "kind": "pat", "account_id": "70471823510118"}}]}},
          "hosts": {{"account_prefixes": {{"ab123": "70471823510118"}}}},
          "routes": [{{"path": "/health", "auth": "none"}}, {{"path": "/api/v2/accounts/*/jobs/*/run/", "allow_kinds": ["service"]}}],
          "deprecations": {{"user_keys": {{"deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-10-22T00:00:00Z"}},
            "endpoints": [{{"path": "/api/v2/accounts/", "deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-04-30T00:00:00Z"}}]}},
          "query_token": true}}"#,
        sha256_hex(PAT.as_bytes())
    );
    Policy::from_json(&json).unwrap()
}

/// Tokens that look like tokens: the interesting inputs are near the real shapes.
fn tokenish() -> impl Strategy<Value = String> {
    prop_oneof![
        "dbt[uc]_[A-Za-z0-9_-]{45,55}",
        "[0-9a-f]{38,42}",
        "eyJ[A-Za-z0-9_-]{1,20}\\.[A-Za-z0-9_-]{1,20}\\.[A-Za-z0-9_-]{0,20}",
        "[ -~]{1,80}",
        any::<String>(),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        "/api/v[0-9]/accounts/[0-9]{1,25}/[a-z/]{0,20}",
        "/api/v2/accounts/[0-9]{1,5}(/[.%a-zA-Z0-9\\\\]{0,6}){0,4}(\\?[a-z=&%/.]{0,20})?",
        "[ -~]{0,60}",
        any::<String>(),
    ]
}

fn assert_clean(out: &str, token: &str) {
    if token.len() >= 8 {
        prop_assert_no_token(out, token);
    }
    let digest = sha256_hex(token.as_bytes());
    assert!(!out.contains(&digest[..16]), "digest in output: {out}");
}

fn prop_assert_no_token(out: &str, token: &str) {
    let t = token.trim();
    if t.len() >= 8 {
        assert!(!out.contains(t), "token in output: {out}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn inspection_never_panics_nor_echoes(bytes in proptest::collection::vec(any::<u8>(), 0..120), t in tokenish()) {
        let i = inspect(&bytes);
        let _ = inspect_with(&bytes, 1, 200);
        let json = inspect(t.as_bytes()).to_json();
        assert_clean(&json, &t);
        prop_assert!(i.well_formed == (i.problems.iter().all(|p| p.code.as_str() == "legacy_user_key") && i.kind.is_some()));
    }

    #[test]
    fn decision_is_total_deterministic_and_clean(
        t in tokenish(),
        p in path(),
        scheme in prop_oneof![Just("Token"), Just("Bearer"), Just("bearer"), Just("Basic"), Just("")],
        host in prop_oneof![Just(String::from("ab123.us1.dbt.com")), Just(String::from("x.dbt.com")), "[ -~]{0,20}"],
        repeat in any::<bool>(),
        accept_problem in any::<bool>(),
        now in 1_600_000_000i64..1_900_000_000,
        report in any::<bool>(),
    ) {
        let pol = policy(if report { "report" } else { "enforce" });
        let auth = format!("{scheme} {t}");
        let mut r = Request::new(b"GET", p.as_bytes());
        r.header(b":authority", host.as_bytes());
        r.header(b"authorization", auth.as_bytes());
        if repeat {
            r.header(b"Authorization", auth.as_bytes());
        }
        if accept_problem {
            r.header(b"accept", b"application/problem+json");
        }
        let d = pol.decide(&r, now);
        let again = pol.decide(&r, now);
        prop_assert_eq!(d.to_json(), again.to_json());
        prop_assert_eq!(d.verdict, again.verdict);
        let json = d.to_json();
        assert_clean(&json, &t);
        prop_assert_eq!(d.status(), d.code.status());
        // A denial never carries identity headers, and only report mode lets a denial through.
        if !d.allow() || d.report_only() {
            prop_assert!(d.set_headers().all(|(n, _)| n == "x-tokengate-would-deny"));
            prop_assert!(d.account_id.is_none());
        }
        prop_assert_eq!(d.report_only(), report && d.code.as_str() != "ok");
        if let Some(reply) = d.reply() {
            prop_assert!(reply.headers.iter().any(|(n, v)| *n == "cache-control" && v == "no-store"));
            let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            prop_assert!(body.is_object());
        }
        serde_json::from_str::<serde_json::Value>(&json).unwrap();
    }

    #[test]
    fn raw_bytes_never_panic(target in proptest::collection::vec(any::<u8>(), 0..80),
                             auth in proptest::collection::vec(any::<u8>(), 0..80),
                             host in proptest::collection::vec(any::<u8>(), 0..30)) {
        let pol = policy("enforce");
        let mut r = Request::new(b"POST", &target);
        r.header(b"host", &host);
        r.header(b"authorization", &auth);
        let d = pol.decide(&r, 1_800_000_000);
        prop_assert_eq!(d.status(), d.code.status());
    }

    #[test]
    fn policy_parsing_never_panics(s in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Policy::from_json(&s);
        let _ = Registry::from_json(&s);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = Policy::from_json(&lossy);
    }

    #[test]
    fn mutated_policies_never_panic(cut in 0usize..800, byte in any::<u8>()) {
        // Take a valid policy and corrupt one place: truncated, or one byte changed.
        let json = r#"{"mode":"report","realm":"dbt","token_format":{"body_length":{"min":50,"max":50}},"registry":{"tokens":[{"sha256":"64e4c07917ae7a4bd348196d8b5413b0227105ec6b9cdd4e07d9c7a391e1eb4f","kind":"pat","account_id":"12","expires_at":"2027-01-01T00:00:00Z"}]},"hosts":{"account_prefixes":{"ab123":12}},"routes":[{"path":"/a/*/b/**","methods":["GET"],"allow_kinds":["pat"]}],"deprecations":{"user_keys":{"deprecated_at":"2024-02-07T00:00:00Z","sunset_at":"2024-10-22T00:00:00Z","link":"https://x.y/"},"endpoints":[{"path":"/api/v2/accounts/","deprecated_at":"2024-02-07T00:00:00Z","sunset_at":"2024-04-30T00:00:00Z"}]},"oauth":"reject","query_token":false,"upstream_headers":{"account_id":"a","token_kind":"b","token_id":"c"}}"#;
        prop_assert!(Policy::from_json(json).is_ok());
        let at = cut % json.len();
        let truncated = &json[..at];
        let _ = Policy::from_json(truncated);
        let mut bytes = json.as_bytes().to_vec();
        bytes[at] = byte;
        if let Ok(s) = std::str::from_utf8(&bytes) {
            if let Err(e) = Policy::from_json(s) {
                prop_assert!(!e.errors().is_empty());
            }
        }
    }
}

#[test]
fn policy_errors_name_every_bad_field() {
    let bad = r#"{"mode": "block", "realm": "a\"b", "token_format": {"body_length": {"min": 60, "max": 50}},
      "registry": {"tokens": [{"sha256": "zz", "kind": "pat", "account_id": "x"}], "extra": 1},
      "hosts": {"account_prefixes": {"bad label": "1"}},
      "routes": [{"path": "/a", "auth": "maybe", "methods": ["get"], "allow_kinds": ["robot"]}, {"auth": "none"}],
      "deprecations": {"user_keys": {"deprecated_at": "2024-02-07", "sunset_at": "2024-10-22T00:00:00Z"},
        "endpoints": [{"path": "/x", "deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-01-01T00:00:00Z", "link": "ftp://x"}]},
      "oauth": "sometimes", "query_token": "yes", "upstream_headers": {"account_id": "authorization", "token_kind": "x y"},
      "colour": "red"}"#;
    let errs = Policy::from_json(bad).unwrap_err();
    let paths: Vec<&str> = errs.errors().iter().map(|e| e.path.as_str()).collect();
    for want in [
        "mode",
        "realm",
        "token_format.body_length",
        "registry.tokens[0].sha256",
        "registry.tokens[0].account_id",
        "registry.extra",
        "hosts.account_prefixes.bad label",
        "routes[0].auth",
        "routes[0].methods[0]",
        "routes[0].allow_kinds[0]",
        "routes[1].path",
        "deprecations.user_keys.deprecated_at",
        "deprecations.endpoints[0].sunset_at",
        "deprecations.endpoints[0].link",
        "oauth",
        "query_token",
        "upstream_headers.account_id",
        "upstream_headers.token_kind",
        "colour",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
}

#[test]
fn policy_document_level_errors() {
    for (doc, needle) in [
        ("", "not valid JSON"),
        ("[]", "not valid JSON"),
        ("{}", "registry"),
        (r#"{"registry": {}}"#, "tokens"),
        (
            r#"{"registry": {"tokens": [], "url": {"cluster": "c", "path": "/r"}}}"#,
            "not both",
        ),
        (
            r#"{"registry": {"tokens": []}, "mode": "report", "mode": "enforce"}"#,
            "duplicate key",
        ),
        (
            r#"{"registry": {"tokens": []}, "routes": [{"path": "/a", "path": "/b"}]}"#,
            "duplicate key",
        ),
        (
            r#"{"registry": {"url": {"cluster": "c", "path": "r", "refresh_seconds": 0}}}"#,
            "registry.url",
        ),
    ] {
        let e = Policy::from_json(doc).unwrap_err().to_string();
        assert!(e.contains(needle), "{doc}: {e}");
    }
    assert!(Policy::from_json(r#"{"registry": {"tokens": []}}"#).is_ok());
}

/// Found by the `policy` fuzz target: serde quoted string values, and unknown keys came back in
/// error paths. A token or digest pasted into the wrong place must not be echoed.
#[test]
fn policy_errors_never_echo_values_or_long_keys() {
    let digest = sha256_hex(PAT.as_bytes());
    let docs = [
        format!(r#"{{"registry":"{digest}"}}"#),
        format!(r#""{digest}""#),
        format!(r#"{{"registry":{{"tokens":[{{"{digest}":1}}]}}}}"#),
        format!(r#"{{"registry":{{"tokens":[]}},"hosts":{{"account_prefixes":{{"{PAT}":"1"}}}}}}"#),
        format!(r#"{{"registry":{{"tokens":[]}},"{PAT}":1,"{PAT}":2}}"#),
        format!(r#"{{"registry":{{"tokens":[], "{digest}": 1}}}}"#),
        format!(r#"{{"registry":["{PAT}"]}}"#),
    ];
    for doc in &docs {
        let e = Policy::from_json(doc).unwrap_err().to_string();
        assert!(
            !e.contains(&digest[..16]) && !e.contains(&PAT[5..20]),
            "{e}"
        );
    }
    let e = Registry::from_json(&format!(r#"{{"{digest}":[]}}"#))
        .unwrap_err()
        .to_string();
    assert!(!e.contains(&digest[..16]), "{e}");
    let e = Registry::from_json(&format!(r#""{PAT}""#))
        .unwrap_err()
        .to_string();
    assert!(!e.contains(&PAT[5..20]), "{e}");
}
