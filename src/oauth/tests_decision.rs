//! `oauth: {"verify": …}` in the decision: step 6 verifies in place of steps 7 and 8, step 10
//! binds the account claim, and the denial says which check failed.

use alloc::format;
use alloc::string::{String, ToString};

use super::tests::{claims, jwks, sign, NOW};
use crate::{Code, Policy, Request, Verdict};

fn policy(extra: &str) -> Policy {
    let json = format!(
        r#"{{"registry":{{"tokens":[]}}{extra},"oauth":{{"verify":{{"issuer":"https://issuer.test/",
        "audiences":["dbt-cloud-api"],"algorithms":["RS256","ES256"],"jwks":{},
        "account_claim":"https://dbt.com/account_id"}}}}}}"#,
        jwks()
    );
    Policy::from_json(&json).unwrap()
}

fn decide(p: &Policy, path: &str, token: &str) -> (Verdict, Code, Option<u64>, String) {
    let auth = format!("Bearer {token}");
    let mut r = Request::new(b"GET", path.as_bytes());
    r.header(b"authorization", auth.as_bytes());
    let d = p.decide(&r, NOW);
    (d.verdict, d.code, d.account_id, String::from(d.message()))
}

const OURS: &str = "/api/v2/accounts/70471823510118/jobs/";

#[test]
fn a_verified_token_binds_its_account() {
    let p = policy("");
    let t = sign("RS256", Some("rsa1"), &claims(""));
    for _ in 0..2 {
        // The second time from the cache: the same decision.
        let (v, c, a, _) = decide(&p, OURS, &t);
        assert_eq!((v, c, a), (Verdict::Allow, Code::Ok, Some(70471823510118)));
    }
    let (v, c, _, m) = decide(&p, "/api/v2/accounts/1/jobs/", &t);
    assert_eq!((v, c), (Verdict::Deny, Code::AccountMismatch), "{m}");
    let (v, c, a, _) = decide(&p, "/api/v3/users/me/", &t);
    assert_eq!((v, c, a), (Verdict::Allow, Code::Ok, Some(70471823510118)));

    let mut r = Request::new(b"GET", OURS.as_bytes());
    let auth = format!("Bearer {t}");
    r.header(b"authorization", auth.as_bytes());
    let d = p.decide(&r, NOW);
    let json = d.to_json();
    assert!(
        json.contains(r#""token_kind":"oauth""#)
            && json.contains(r#""account_id":"70471823510118""#),
        "{json}"
    );
    let set: alloc::vec::Vec<_> = d
        .set_headers()
        .map(|(n, v)| format!("{n}: {}", v.as_str()))
        .collect();
    assert!(
        set.iter().any(|h| h == "x-dbt-account-id: 70471823510118"),
        "{set:?}"
    );
}

#[test]
fn failures_name_the_check_and_map_to_their_codes() {
    let p = policy("");
    let expired = sign(
        "RS256",
        Some("rsa1"),
        &claims("").replace(&format!("{}", NOW + 300), &format!("{}", NOW - 300)),
    );
    let (v, c, a, m) = decide(&p, OURS, &expired);
    assert_eq!((v, c, a), (Verdict::Deny, Code::ExpiredToken, None));
    assert_eq!(
        m,
        "This OAuth token failed verification: it has expired (exp)."
    );
    let wrong_aud = sign(
        "ES256",
        Some("ec1"),
        &claims("").replace("dbt-cloud-api", "other"),
    );
    let (_, c, _, m) = decide(&p, OURS, &wrong_aud);
    assert_eq!(c, Code::InvalidToken);
    assert!(m.contains("audience (aud)") && !m.contains("other"), "{m}");
    let hs = sign("HS256", Some("rsa1"), &claims(""));
    assert_eq!(decide(&p, OURS, &hs).1, Code::InvalidToken);

    let mut r = Request::new(b"GET", OURS.as_bytes());
    let auth = format!("Bearer {expired}");
    r.header(b"authorization", auth.as_bytes());
    let reply = p.decide(&r, NOW).reply().unwrap();
    assert_eq!(reply.status, 401);
    let www = reply
        .headers
        .iter()
        .find(|(n, _)| *n == "www-authenticate")
        .unwrap();
    assert!(www.1.contains(r#"error="invalid_token""#), "{}", www.1);
    assert!(!reply.body.contains(&expired[expired.len() - 20..]));
}

#[test]
fn report_mode_lets_a_bad_token_through_marked() {
    let p = policy(r#","mode":"report""#);
    let t = sign("RS256", Some("rsa9"), &claims(""));
    let (v, c, a, _) = decide(&p, OURS, &t);
    assert_eq!((v, c, a), (Verdict::WouldDeny, Code::InvalidToken, None));
}

#[test]
fn the_policy_reader_names_oauth_paths() {
    for (doc, want) in [
        (
            r#"{"registry":{"tokens":[]},"oauth":"verify"}"#,
            "oauth: expected \"forward\", \"reject\" or {\"verify\": {…}}",
        ),
        (
            r#"{"registry":{"tokens":[]},"oauth":{"verify":{}}}"#,
            "oauth.verify.issuer: missing field",
        ),
        (
            r#"{"registry":{"tokens":[]},"oauth":{"check":{}}}"#,
            "oauth.check: unknown field",
        ),
    ] {
        let errs = Policy::from_json(doc).unwrap_err().to_string();
        assert!(errs.lines().any(|l| l.starts_with(want)), "{want}\n{errs}");
    }
    let p = policy("");
    assert!(
        p.summary()
            .contains("OAuth tokens verified (RS256, ES256; 2 keys; account claim bound)"),
        "{}",
        p.summary()
    );
}
