//! The translation, natively: the host's header map in, the core's decision out.

use crate::filter::plan;
use crate::pairs::serialize;
use tokengate::Policy;

const PAT: &str = "dbtu_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX";

fn policy() -> Policy {
    let digest = tokengate::sha256_hex(PAT.as_bytes());
    let json = format!(
        r#"{{"registry": {{"tokens": [{{"sha256": "{digest}", "kind": "pat", "account_id": "70471823510118"}}]}},
            "routes": [{{"path": "/health", "auth": "none"}}]}}"#
    );
    Policy::from_json(&json).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> Vec<u8> {
    serialize(pairs)
}

#[test]
fn an_allowed_request_gets_identity_headers_and_spoofed_ones_are_found() {
    let p = policy();
    let auth = format!("Token {PAT}");
    let h = map(&[
        (":method", "GET"),
        (":path", "/api/v2/accounts/70471823510118/jobs/"),
        (":authority", "api.example"),
        ("authorization", &auth),
        ("x-dbt-account-id", "1"),
        ("X-Tokengate-Would-Deny", "spoof"),
    ]);
    let out = plan(&p, &h, 1_800_000_000);
    assert!(!out.malformed);
    assert!(out.decision.allow, "{:?}", out.decision.code);
    let strip = p.strip_headers();
    let idx = |n: &str| strip.iter().position(|s| s == n).unwrap();
    assert_ne!(out.present & (1 << idx("x-dbt-account-id")), 0);
    assert_ne!(out.present & (1 << idx("x-tokengate-would-deny")), 0);
    assert_eq!(out.present & (1 << idx("x-dbt-token-kind")), 0);
    assert!(out
        .decision
        .upstream_headers
        .iter()
        .any(|(n, v)| n == "x-dbt-account-id" && v == "70471823510118"));
}

#[test]
fn method_and_path_come_from_the_pseudo_headers() {
    let p = policy();
    let h = map(&[(":path", "/health"), (":method", "GET")]);
    assert!(plan(&p, &h, 0).decision.allow);
    let h = map(&[(":method", "GET"), (":path", "/api/v2/accounts/1/")]);
    assert_eq!(plan(&p, &h, 0).decision.code.as_str(), "missing_token");
}

#[test]
fn repeated_authorization_headers_are_all_offered() {
    let p = policy();
    let auth = format!("Token {PAT}");
    let h = map(&[
        (":method", "GET"),
        (":path", "/api/v2/accounts/70471823510118/"),
        ("authorization", &auth),
        ("authorization", &auth),
    ]);
    assert_eq!(plan(&p, &h, 0).decision.code.as_str(), "invalid_request");
}

#[test]
fn a_broken_map_is_reported_and_never_panics() {
    let p = policy();
    let good = map(&[(":method", "GET"), (":path", "/health")]);
    for cut in 1..good.len() {
        let out = plan(&p, &good[..cut], 0);
        assert!(out.malformed, "cut {cut}");
    }
    let empty = plan(&p, &[], 0);
    assert!(!empty.malformed);
    assert!(!empty.decision.allow);
    let bytes: Vec<u8> = (0u8..=255).collect();
    let _ = plan(&p, &bytes, 0);
}
