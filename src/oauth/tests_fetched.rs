//! `jwks: {"url": …}` (SPEC §11): read only where the front can fetch, `503 jwks_unavailable`
//! until a key set is swapped in (or let through marked), and the signal that asks the front to
//! fetch again when a token names a `kid` the set does not hold.

use alloc::format;
use alloc::string::String;

use super::tests::{claims, jwks, keys, rsa_jwk, sign, NOW};
use super::{KeySet, DEFAULT_REFETCH_COOLDOWN_SECONDS};
use crate::{Code, Decision, Policy, Request, Verdict, WOULD_DENY_HEADER};

const OURS: &str = "/api/v2/accounts/70471823510118/jobs/";

fn doc(url: &str) -> String {
    format!(
        r#"{{"registry":{{"tokens":[]}},"oauth":{{"verify":{{"issuer":"https://issuer.test/",
        "audiences":["dbt-cloud-api"],"algorithms":["RS256","ES256"],"jwks":{{"url":{url}}},
        "account_claim":"https://dbt.com/account_id"}}}}}}"#
    )
}

fn fetched(url: &str) -> Policy {
    Policy::from_json_fetching(&doc(url)).unwrap()
}

fn errors(json: &str, fetching: bool) -> String {
    let got = if fetching {
        Policy::from_json_fetching(json)
    } else {
        Policy::from_json(json)
    };
    match got {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => format!("{e}"),
    }
}

fn decide<'a>(p: &'a Policy, token: &'a str, auth: &'a mut String) -> Decision<'a> {
    *auth = format!("Bearer {token}");
    let mut r = Request::new(b"GET", OURS.as_bytes());
    r.header(b"authorization", auth.as_bytes());
    // The decision borrows only the policy for what the test reads: code, verdict, headers.
    let r: &'a Request<'a> = alloc::boxed::Box::leak(alloc::boxed::Box::new(r));
    p.decide(r, NOW)
}

#[test]
fn a_jwks_url_is_read_where_the_front_fetches_and_refused_elsewhere() {
    let p = fetched(r#"{"cluster":"idp","path":"/.well-known/jwks.json"}"#);
    let u = p.jwks_url().unwrap();
    assert_eq!(
        (
            u.url.cluster.as_str(),
            u.url.path.as_str(),
            u.url.authority.as_str()
        ),
        ("idp", "/.well-known/jwks.json", "idp")
    );
    assert_eq!(u.refetch_cooldown_seconds, DEFAULT_REFETCH_COOLDOWN_SECONDS);
    assert_eq!((u.url.refresh_seconds, u.url.timeout_ms), (60, 5000));
    let p = fetched(
        r#"{"cluster":"idp","path":"/k","refresh_seconds":300,"refetch_cooldown_seconds":5,"until_loaded":"allow"}"#,
    );
    assert_eq!(p.jwks_url().unwrap().refetch_cooldown_seconds, 5);
    assert!(
        p.summary().contains("OAuth tokens verified (RS256, ES256; keys fetched from cluster idp every 300s; account claim bound)"),
        "{}",
        p.summary()
    );
    assert_eq!(p.jwks_url().unwrap().url.refresh_seconds, 300);

    let cannot = errors(&doc(r#"{"cluster":"idp","path":"/k"}"#), false);
    assert!(
        cannot.contains("oauth.verify.jwks.url") && cannot.contains("cannot fetch"),
        "{cannot}"
    );
    for (url, path, says) in [
        (
            r#"{"path":"/k"}"#,
            "oauth.verify.jwks.url.cluster",
            "missing field",
        ),
        (
            r#"{"cluster":"idp","path":"k"}"#,
            "oauth.verify.jwks.url.path",
            "starting with '/'",
        ),
        (
            r#"{"cluster":"idp","path":"/k","refetch_cooldown_seconds":0}"#,
            "oauth.verify.jwks.url.refetch_cooldown_seconds",
            "above 0",
        ),
        (
            r#"{"cluster":"idp","path":"/k","cooldown":3}"#,
            "oauth.verify.jwks.url.cooldown",
            "unknown field",
        ),
        (r#""https://idp/k""#, "oauth.verify.jwks.url", "object"),
    ] {
        let e = errors(&doc(url), true);
        assert!(e.contains(path) && e.contains(says), "{url}: {e}");
    }
    let both = doc(r#"{"cluster":"idp","path":"/k"},"keys":[]"#);
    let e = errors(&both, true);
    assert!(
        e.contains("oauth.verify.jwks") && e.contains("not both"),
        "{e}"
    );
}

#[test]
fn until_a_key_set_loads_oauth_tokens_get_503_and_other_tokens_do_not_wait() {
    let p = fetched(r#"{"cluster":"idp","path":"/k"}"#);
    let t = sign("RS256", Some("rsa1"), &claims(""));
    let mut a = String::new();
    let d = decide(&p, &t, &mut a);
    assert_eq!(
        (d.verdict, d.code, d.status()),
        (Verdict::Deny, Code::JwksUnavailable, 503)
    );
    assert!(
        d.message().contains("key set has not loaded"),
        "{}",
        d.message()
    );
    assert_eq!(d.token_kind, Some(crate::Kind::OAuth));
    assert!(
        !d.wants_new_keys(),
        "nothing to refetch: the first fetch is already due"
    );
    // A PAT is decided by the registry, which is inline here.
    let pat = format!("dbtu_{}", "a".repeat(50));
    let mut a = String::new();
    let d = decide(&p, &pat, &mut a);
    assert_eq!(d.code, Code::InvalidToken);

    let marked = fetched(r#"{"cluster":"idp","path":"/k","until_loaded":"allow"}"#);
    let mut a = String::new();
    let d = decide(&marked, &t, &mut a);
    assert_eq!(
        (d.verdict, d.code, d.allow()),
        (Verdict::WouldDeny, Code::JwksUnavailable, true)
    );
    let set: alloc::vec::Vec<String> = d
        .set_headers()
        .map(|(n, v)| format!("{n}: {}", v.as_str()))
        .collect();
    assert!(
        set.contains(&format!("{WOULD_DENY_HEADER}: jwks_unavailable")),
        "{set:?}"
    );
}

#[test]
fn a_fetched_key_set_verifies_and_an_unknown_kid_asks_for_a_refetch() {
    let mut p = fetched(r#"{"cluster":"idp","path":"/k"}"#);
    p.set_jwks(KeySet::from_json(&jwks()).unwrap());
    let t = sign("RS256", Some("rsa1"), &claims(""));
    let mut a = String::new();
    let d = decide(&p, &t, &mut a);
    assert_eq!(
        (d.verdict, d.code, d.account_id),
        (Verdict::Allow, Code::Ok, Some(70471823510118))
    );
    assert!(!d.wants_new_keys());

    let rotated = sign("RS256", Some("rsa2"), &claims(""));
    let mut a = String::new();
    let d = decide(&p, &rotated, &mut a);
    assert_eq!((d.code, d.status()), (Code::InvalidToken, 401));
    assert!(d.wants_new_keys());
    // Another failure is no reason to fetch.
    let tampered = format!("{}x", &t[..t.len() - 1]);
    let mut a = String::new();
    assert!(!decide(&p, &tampered, &mut a).wants_new_keys());

    // Inline keys are never refetched.
    let inline = Policy::from_json(&doc("").replace(r#"{"url":}"#, &jwks())).unwrap();
    let mut a = String::new();
    let d = decide(&inline, &rotated, &mut a);
    assert_eq!(d.code, Code::InvalidToken);
    assert!(!d.wants_new_keys());
}

#[test]
fn a_new_key_set_forgets_tokens_verified_with_the_old_one() {
    let mut p = fetched(r#"{"cluster":"idp","path":"/k"}"#);
    p.set_jwks(KeySet::from_json(&jwks()).unwrap());
    let t = sign("RS256", Some("rsa1"), &claims(""));
    let mut a = String::new();
    assert_eq!(decide(&p, &t, &mut a).code, Code::Ok); // now cached
                                                       // The issuer dropped rsa1 (the same key material, published under another kid).
    let only_other = format!(r#"{{"keys":[{}]}}"#, rsa_jwk(&keys().rsa, "rsa2"));
    p.set_jwks(KeySet::from_json(&only_other).unwrap());
    let mut a = String::new();
    let d = decide(&p, &t, &mut a);
    assert_eq!(d.code, Code::InvalidToken, "{}", d.message());
    assert!(d.wants_new_keys());
}

#[test]
fn a_fetched_document_is_read_with_the_inline_rules() {
    assert_eq!(
        KeySet::from_json(&jwks()).unwrap().len(),
        2,
        "the Ed25519 key is skipped"
    );
    for (json, says) in [
        ("{not json", "not valid JSON"),
        (r#"{"keys":[]}"#, "no usable signing key"),
        (r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#, "keys[0].k"),
        (r#"{"kees":[]}"#, "unknown field"),
        ("[]", "object"),
    ] {
        match KeySet::from_json(json) {
            Ok(_) => panic!("accepted {json}"),
            Err(e) => assert!(format!("{e}").contains(says), "{json}: {e}"),
        }
    }
}
