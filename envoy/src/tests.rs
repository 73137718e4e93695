//! The translation, natively: the host's header map in, the core's decision out.

use crate::filter::read_request;
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

/// (allowed, code) for a serialised header map.
fn decide(p: &Policy, headers: &[u8]) -> (bool, &'static str) {
    let req = read_request(headers).unwrap();
    let d = p.decide(&req, 0);
    (d.allow(), d.code.as_str())
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
    let req = read_request(&h).unwrap();
    let d = p.decide(&req, 1_800_000_000);
    assert!(d.allow(), "{:?}", d.code);
    // The spoofed would-deny marker goes; the spoofed account id is replaced by the set below.
    let removed: Vec<&[u8]> = d.remove_headers().collect();
    assert_eq!(removed, [&b"X-Tokengate-Would-Deny"[..]]);
    assert!(d
        .set_headers()
        .any(|(n, v)| n == "x-dbt-account-id" && v.as_str() == "70471823510118"));
}

#[test]
fn method_and_path_come_from_the_pseudo_headers() {
    let p = policy();
    let h = map(&[(":path", "/health"), (":method", "GET")]);
    assert!(decide(&p, &h).0);
    let h = map(&[(":method", "GET"), (":path", "/api/v2/accounts/1/")]);
    assert_eq!(decide(&p, &h).1, "missing_token");
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
    assert_eq!(decide(&p, &h).1, "invalid_request");
}

#[test]
fn a_broken_map_is_reported_and_never_panics() {
    let p = policy();
    let good = map(&[(":method", "GET"), (":path", "/health")]);
    for cut in 1..good.len() {
        assert!(read_request(&good[..cut]).is_none(), "cut {cut}");
    }
    assert!(!decide(&p, &[]).0);
    let bytes: Vec<u8> = (0u8..=255).collect();
    if let Some(req) = read_request(&bytes) {
        let _ = p.decide(&req, 0);
    }
}
