//! The `oauth.verify` reader: bad documents and the path each error names.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::tests::{b64, jwks, keys, rsa_jwk};
use super::Verifier;

fn errors(verify: &str) -> Vec<String> {
    let json = format!(r#"{{"verify":{verify}}}"#);
    match Verifier::from_json(&json) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors().iter().map(|e| format!("{e}")).collect(),
    }
}

fn doc(algs: &str, jwks: &str) -> String {
    format!(r#"{{"issuer":"i","audiences":["a"],"algorithms":[{algs}],"jwks":{jwks}}}"#)
}

#[test]
fn a_good_document_reads() {
    let v = Verifier::from_json(&format!(
        r#"{{"verify":{}}}"#,
        doc(r#""RS256","ES256""#, &jwks())
    ))
    .unwrap();
    assert_eq!(v.key_count(), 2, "the Ed25519 key is skipped");
    assert_eq!(v.leeway, 60);
    assert!(!v.binds_account());
    assert_eq!(
        v.algorithms().map(|a| a.name()).collect::<Vec<_>>(),
        ["RS256", "ES256"]
    );
}

#[test]
fn bad_documents_name_their_paths() {
    let j = jwks();
    let rsa = rsa_jwk(&keys().rsa, "k");
    let small_n = format!(
        r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#,
        b64(&[0xc5; 128])
    );
    let cases: &[(String, &str)] = &[
        (
            "[]".into(),
            "oauth.verify: expected an object, found an array",
        ),
        ("{}".into(), "oauth.verify.issuer: missing field"),
        (
            doc(r#""none""#, &j),
            "oauth.verify.algorithms[0]: an unsigned token is never verified",
        ),
        (
            doc(r#""HS256""#, &j),
            "oauth.verify.algorithms[0]: HMAC needs a shared secret",
        ),
        (
            doc(r#""rs256""#, &j),
            "oauth.verify.algorithms[0]: not an algorithm the edge verifies",
        ),
        (
            doc("", &j),
            "oauth.verify.algorithms: name at least one algorithm",
        ),
        (
            doc(r#""RS256""#, r#"{"keys":[]}"#),
            "oauth.verify.jwks.keys: no usable signing key",
        ),
        (
            doc(r#""RS256""#, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#),
            "oauth.verify.jwks.keys[0].k: a private or symmetric key",
        ),
        (
            doc(
                r#""RS256""#,
                &format!(
                    r#"{{"keys":[{},{}]}}"#,
                    rsa,
                    rsa.replace(r#""e":"#, r#""d":"AQAB","e":"#)
                ),
            ),
            "oauth.verify.jwks.keys[1].d: a private",
        ),
        (
            doc(r#""RS256""#, r#"{"keys":[{"kty":"RSA","e":"AQAB"}]}"#),
            "oauth.verify.jwks.keys[0].n: missing field",
        ),
        (
            doc(
                r#""RS256""#,
                r#"{"keys":[{"kty":"RSA","n":"AQAB=","e":"AQAB"}]}"#,
            ),
            "oauth.verify.jwks.keys[0].n: expected unpadded base64url",
        ),
        (
            doc(r#""RS256""#, &small_n),
            "oauth.verify.jwks.keys[0]: not a usable RSA public key",
        ),
        (
            doc(
                r#""ES256""#,
                r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}"#,
            ),
            "oauth.verify.jwks.keys[0]: not a P-256 public key",
        ),
        (
            doc(
                r#""ES256""#,
                r#"{"keys":[{"kty":"EC","x":"AAAA","y":"AAAA"}]}"#,
            ),
            "oauth.verify.jwks.keys[0].crv: missing field",
        ),
        (
            doc(r#""ES256""#, r#"{"keys":[{"crv":"P-256"}]}"#),
            "oauth.verify.jwks.keys[0].kty: missing field",
        ),
        (
            doc(r#""ES256""#, r#"{"keys":[7]}"#),
            "oauth.verify.jwks.keys[0]: expected a JWK object",
        ),
        (
            doc(r#""ES256""#, r#"{"url":"x"}"#),
            "oauth.verify.jwks.url: this front cannot fetch a key set",
        ),
        (
            r#"{"issuer":"","audiences":[],"algorithms":["RS256"],"jwks":{"keys":[]}}"#.into(),
            "oauth.verify.issuer: must not be empty",
        ),
        (
            r#"{"issuer":"i","audiences":[],"algorithms":["RS256"],"jwks":{"keys":[]}}"#.into(),
            "oauth.verify.audiences: name at least one audience",
        ),
        (
            r#"{"issuer":"i","audiences":[""],"algorithms":["RS256"],"jwks":{"keys":[]}}"#.into(),
            "oauth.verify.audiences[0]: must not be empty",
        ),
        (
            doc(r#""RS256""#, &j).replace('}', r#","leeway_seconds":86401}"#),
            "oauth.verify.leeway_seconds: at most 86400 seconds",
        ),
        (
            doc(r#""RS256""#, &j).replacen('{', r#"{"account_claim":7,"#, 1),
            "oauth.verify.account_claim: expected a string, found a number",
        ),
        (
            doc(r#""RS256""#, &j).replacen('{', r#"{"extra":1,"#, 1),
            "oauth.verify.extra: unknown field",
        ),
    ];
    for (verify, want) in cases {
        let errs = errors(verify);
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "{want}\n got {errs:?}"
        );
    }
    assert!(errors("1")
        .iter()
        .any(|e| e.starts_with("oauth.verify: expected an object")));
}

#[test]
fn keys_it_cannot_use_are_skipped() {
    // An encryption key, a P-384 key and a PS256 key sit beside a usable one, as in real JWKS.
    let rsa = rsa_jwk(&keys().rsa, "k");
    let set = format!(
        r#"{{"keys":[{{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}},{{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}},{},{}]}}"#,
        rsa.replace(r#""use":"sig""#, r#""alg":"PS256""#),
        rsa.replace(r#""kid":"k""#, r#""kid":"k2","x5c":["MIIB"]"#),
    );
    let v = Verifier::from_json(&format!(r#"{{"verify":{}}}"#, doc(r#""RS256""#, &set))).unwrap();
    assert_eq!(v.key_count(), 1);
}

#[test]
fn errors_never_repeat_a_value() {
    let errs = errors(&doc(
        r#""SECRET-ALG-dbtu_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx""#,
        &jwks(),
    ));
    assert!(
        !errs.is_empty() && errs.iter().all(|e| !e.contains("SECRET")),
        "{errs:?}"
    );
}
