//! Verification against keys the tests generate: every check, its order and its error.

use alloc::format;
use alloc::string::{String, ToString};
use std::sync::OnceLock;

use base64ct::{Base64UrlUnpadded as B64, Encoding};
use rsa::traits::PublicKeyParts;
use sha2::Digest;

use super::{Verifier, VerifyError};

pub(super) struct Keys {
    pub rsa: rsa::RsaPrivateKey,
    pub ec: p256::ecdsa::SigningKey,
    pub ed: ed25519_dalek::SigningKey,
}

pub(super) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        Keys {
            rsa: rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            ec: p256::ecdsa::SigningKey::random(&mut rng),
            ed: ed25519_dalek::SigningKey::generate(&mut rng),
        }
    })
}

pub(super) fn b64(b: &[u8]) -> String {
    B64::encode_string(b)
}

pub(super) fn rsa_jwk(k: &rsa::RsaPrivateKey, kid: &str) -> String {
    format!(
        r#"{{"kty":"RSA","kid":"{kid}","use":"sig","n":"{}","e":"{}"}}"#,
        b64(&k.n().to_bytes_be()),
        b64(&k.e().to_bytes_be())
    )
}

pub(super) fn jwks() -> String {
    let k = keys();
    let p = k.ec.verifying_key().to_encoded_point(false);
    let ec = format!(
        r#"{{"kty":"EC","crv":"P-256","kid":"ec1","alg":"ES256","x":"{}","y":"{}"}}"#,
        b64(p.x().unwrap()),
        b64(p.y().unwrap())
    );
    let ed = format!(
        r#"{{"kty":"OKP","crv":"Ed25519","kid":"ed1","x":"{}"}}"#,
        b64(k.ed.verifying_key().as_bytes())
    );
    format!(r#"{{"keys":[{},{ec},{ed}]}}"#, rsa_jwk(&k.rsa, "rsa1"))
}

pub(super) fn verifier(algs: &str, extra: &str) -> Verifier {
    let json = format!(
        r#"{{"verify":{{"issuer":"https://issuer.test/","audiences":["dbt-cloud-api","other"],
        "algorithms":[{algs}],"jwks":{},"leeway_seconds":60{extra}}}}}"#,
        jwks()
    );
    Verifier::from_json(&json).unwrap()
}

/// A token signed with `alg` by the test key of that family (HS256: keyed with the RSA public key's
/// JWK text, the classic confusion attack).
pub(super) fn sign(alg: &str, kid: Option<&str>, claims: &str) -> String {
    let kid = kid.map(|k| format!(r#","kid":"{k}""#)).unwrap_or_default();
    let input = format!(
        "{}.{}",
        b64(format!(r#"{{"alg":"{alg}"{kid}}}"#).as_bytes()),
        b64(claims.as_bytes())
    );
    let k = keys();
    let sig: alloc::vec::Vec<u8> = match alg {
        "RS256" => {
            use rsa::signature::{SignatureEncoding, Signer};
            rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(k.rsa.clone())
                .sign(input.as_bytes())
                .to_vec()
        }
        "RS512" => {
            use rsa::signature::{SignatureEncoding, Signer};
            rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(k.rsa.clone())
                .sign(input.as_bytes())
                .to_vec()
        }
        "ES256" => {
            use p256::ecdsa::signature::Signer;
            let s: p256::ecdsa::Signature = k.ec.sign(input.as_bytes());
            s.to_bytes().to_vec()
        }
        "EdDSA" => {
            use ed25519_dalek::Signer;
            k.ed.sign(input.as_bytes()).to_bytes().to_vec()
        }
        "HS256" => hmac_sha256(rsa_jwk(&k.rsa, "rsa1").as_bytes(), input.as_bytes()),
        _ => alloc::vec::Vec::new(),
    };
    format!("{input}.{}", b64(&sig))
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> alloc::vec::Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<alloc::vec::Vec<u8>>();
    let inner = sha2::Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    sha2::Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

pub(super) const NOW: i64 = 1_800_000_000;

pub(super) fn claims(extra: &str) -> String {
    format!(
        r#"{{"iss":"https://issuer.test/","aud":"dbt-cloud-api","exp":{},"nbf":{},"https://dbt.com/account_id":"70471823510118"{extra}}}"#,
        NOW + 300,
        NOW - 10
    )
}

#[test]
fn table() {
    let v = verifier(
        r#""RS256","ES256""#,
        r#","account_claim":"https://dbt.com/account_id""#,
    );
    let good = claims("");
    let with = |s: &str| -> String {
        // Replace one claim by editing the JSON text: keeps each row one line.
        let (k, val) = s.split_once('=').unwrap();
        let mut m: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&good).unwrap();
        match val {
            "-" => {
                m.remove(k);
            }
            _ => {
                m.insert(k.to_string(), serde_json::from_str(val).unwrap());
            }
        }
        serde_json::to_string(&m).unwrap()
    };
    let exp = |d: i64| with(&format!("exp={}", NOW + d));
    let nbf = |d: i64| with(&format!("nbf={}", NOW + d));
    let rows: &[(&str, String, Result<u64, VerifyError>)] = &[
        (
            "RS256",
            sign("RS256", Some("rsa1"), &good),
            Ok(70471823510118),
        ),
        (
            "ES256",
            sign("ES256", Some("ec1"), &good),
            Ok(70471823510118),
        ),
        (
            "EdDSA: not implemented, its key skipped",
            sign("EdDSA", Some("ed1"), &good),
            Err(VerifyError::Algorithm),
        ),
        (
            "no kid: any fitting key",
            sign("ES256", None, &good),
            Ok(70471823510118),
        ),
        (
            "aud list",
            sign("RS256", Some("rsa1"), &with(r#"aud=["x","other"]"#)),
            Ok(70471823510118),
        ),
        (
            "account as number above 2^53",
            sign(
                "ES256",
                Some("ec1"),
                &with("https://dbt.com/account_id=9007199254740993"),
            ),
            Ok(9007199254740993),
        ),
        (
            "u64::MAX as string",
            sign(
                "ES256",
                Some("ec1"),
                &with(r#"https://dbt.com/account_id="18446744073709551615""#),
            ),
            Ok(u64::MAX),
        ),
        (
            "exp within leeway",
            sign("RS256", Some("rsa1"), &exp(-59)),
            Ok(70471823510118),
        ),
        (
            "exp at leeway edge",
            sign("RS256", Some("rsa1"), &exp(-60)),
            Err(VerifyError::Expired),
        ),
        (
            "expired",
            sign("RS256", Some("rsa1"), &exp(-3600)),
            Err(VerifyError::Expired),
        ),
        (
            "nbf within leeway",
            sign("RS256", Some("rsa1"), &nbf(60)),
            Ok(70471823510118),
        ),
        (
            "nbf past leeway",
            sign("RS256", Some("rsa1"), &nbf(61)),
            Err(VerifyError::NotYetValid),
        ),
        (
            "no nbf",
            sign("RS256", Some("rsa1"), &with("nbf=-")),
            Ok(70471823510118),
        ),
        (
            "no exp",
            sign("RS256", Some("rsa1"), &with("exp=-")),
            Err(VerifyError::ExpiryMissing),
        ),
        (
            "exp as string",
            sign("RS256", Some("rsa1"), &with(r#"exp="1900000000""#)),
            Err(VerifyError::ExpiryMissing),
        ),
        (
            "wrong issuer",
            sign("RS256", Some("rsa1"), &with(r#"iss="https://evil.test/""#)),
            Err(VerifyError::Issuer),
        ),
        (
            "issuer without slash",
            sign("RS256", Some("rsa1"), &with(r#"iss="https://issuer.test""#)),
            Err(VerifyError::Issuer),
        ),
        (
            "wrong audience",
            sign("RS256", Some("rsa1"), &with(r#"aud="x""#)),
            Err(VerifyError::Audience),
        ),
        (
            "missing audience",
            sign("RS256", Some("rsa1"), &with("aud=-")),
            Err(VerifyError::Audience),
        ),
        (
            "aud list with a number",
            sign("RS256", Some("rsa1"), &with(r#"aud=["dbt-cloud-api",1]"#)),
            Err(VerifyError::Audience),
        ),
        (
            "alg none",
            sign("none", None, &good),
            Err(VerifyError::Algorithm),
        ),
        (
            "HS256 with the RSA public key",
            sign("HS256", Some("rsa1"), &good),
            Err(VerifyError::Algorithm),
        ),
        (
            "RS512 not allowed by policy",
            sign("RS512", Some("rsa1"), &good),
            Err(VerifyError::Algorithm),
        ),
        (
            "unknown kid",
            sign("RS256", Some("rsa9"), &good),
            Err(VerifyError::UnknownKey),
        ),
        (
            "ES256 naming the RSA key",
            sign("ES256", Some("rsa1"), &good),
            Err(VerifyError::KeyMismatch),
        ),
        (
            "RS256 naming the EC key",
            sign("RS256", Some("ec1"), &good),
            Err(VerifyError::KeyMismatch),
        ),
        (
            "account claim missing",
            sign("RS256", Some("rsa1"), &with("https://dbt.com/account_id=-")),
            Err(VerifyError::AccountClaim),
        ),
        (
            "account claim signed",
            sign(
                "RS256",
                Some("rsa1"),
                &with(r#"https://dbt.com/account_id="-1""#),
            ),
            Err(VerifyError::AccountClaim),
        ),
        (
            "account claim above u64",
            sign(
                "RS256",
                Some("rsa1"),
                &with(r#"https://dbt.com/account_id="18446744073709551616""#),
            ),
            Err(VerifyError::AccountClaim),
        ),
        (
            "account claim float",
            sign(
                "RS256",
                Some("rsa1"),
                &with("https://dbt.com/account_id=1.0"),
            ),
            Err(VerifyError::AccountClaim),
        ),
        (
            "payload not JSON",
            sign("RS256", Some("rsa1"), "nope"),
            Err(VerifyError::Claims),
        ),
        (
            "payload an array",
            sign("RS256", Some("rsa1"), "[]"),
            Err(VerifyError::Claims),
        ),
    ];
    for (name, token, want) in rows {
        let got = v
            .verify(token.as_bytes(), NOW)
            .map(|ok| ok.account_id.unwrap());
        assert_eq!(&got, want, "{name}");
    }
}

#[test]
fn tampering_breaks_the_signature() {
    let v = verifier(r#""RS256","ES256""#, "");
    for (alg, kid) in [("RS256", "rsa1"), ("ES256", "ec1")] {
        let t = sign(alg, Some(kid), &claims(""));
        let ok = v.verify(t.as_bytes(), NOW).unwrap();
        assert_eq!(
            (ok.expires_at, ok.account_id),
            (NOW + 300, None),
            "no account claim configured"
        );
        let (h, rest) = t.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let evil = b64(claims(r#","admin":true"#).as_bytes());
        let tampered = format!("{h}.{evil}.{s}");
        assert_eq!(
            v.verify(tampered.as_bytes(), NOW),
            Err(VerifyError::Signature),
            "{alg}"
        );
        // Truncations: the last segment cut, a whole segment dropped.
        let cut = &t[..t.len() - 4];
        assert!(
            matches!(
                v.verify(cut.as_bytes(), NOW),
                Err(VerifyError::Signature | VerifyError::Format)
            ),
            "{alg}"
        );
        assert_eq!(
            v.verify(t.rsplit_once('.').unwrap().0.as_bytes(), NOW),
            Err(VerifyError::Format)
        );
        let unsigned = format!("{}.", t.rsplit_once('.').unwrap().0);
        assert_eq!(
            v.verify(unsigned.as_bytes(), NOW),
            Err(VerifyError::Signature),
            "{alg}"
        );
    }
}

#[test]
fn the_signature_is_checked_before_any_claim() {
    // An expired token with a forged signature says "signature", not "expired": claims of an
    // unauthenticated token are not worth reporting.
    let v = verifier(r#""RS256""#, "");
    let t = sign("RS256", Some("rsa1"), &claims(""));
    let (input, _) = t.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", b64(&[7u8; 256]));
    assert_eq!(
        v.verify(forged.as_bytes(), NOW + 100_000),
        Err(VerifyError::Signature)
    );
    assert_eq!(
        v.verify(t.as_bytes(), NOW + 100_000),
        Err(VerifyError::Expired)
    );
    let fails = v.failures(forged.as_bytes(), NOW + 100_000);
    assert_eq!(fails, [VerifyError::Signature, VerifyError::Expired]);
}

#[test]
fn messages_name_the_check_never_the_value() {
    let v = verifier(r#""RS256""#, r#","account_claim":"acct""#);
    let secret_claims =
        r#"{"iss":"SECRET-ISS","aud":"SECRET-AUD","exp":1,"nbf":9999999999,"acct":"SECRET-ACCT"}"#;
    let t = sign("RS256", Some("rsa1"), secret_claims);
    let fails = v.failures(t.as_bytes(), NOW);
    assert_eq!(fails.len(), 5);
    for e in fails {
        let m = format!("{e} {e:?} {}", e.check());
        assert!(
            !m.contains("SECRET") && !m.contains(&t[t.len() - 20..]),
            "{m}"
        );
        assert_eq!(
            e.code().as_str(),
            if e == VerifyError::Expired {
                "expired_token"
            } else {
                "invalid_token"
            }
        );
    }
}

#[test]
fn debug_shows_no_key() {
    let v = verifier(r#""RS256""#, "");
    let d = format!("{v:?}");
    let n = b64(&keys().rsa.n().to_bytes_be());
    assert!(!d.contains(&n[..40]) && d.contains("keys: 2"), "{d}");
}

#[test]
fn the_cache_answers_as_verify_does_until_exp() {
    let v = verifier(
        r#""RS256","ES256""#,
        r#","account_claim":"https://dbt.com/account_id""#,
    );
    let t = sign("ES256", Some("ec1"), &claims(""));
    let d: [u8; 32] = sha2::Sha256::digest(t.as_bytes()).into();
    let first = v.verify_cached(t.as_bytes(), &d, NOW).unwrap();
    assert_eq!(
        v.verify_cached(t.as_bytes(), &d, NOW + 1),
        Ok(first),
        "a hit"
    );
    assert_eq!(first, v.verify(t.as_bytes(), NOW).unwrap());
    // exp is NOW + 300, leeway 60: the last valid second is NOW + 359, cached or not.
    assert!(v.verify_cached(t.as_bytes(), &d, NOW + 359).is_ok());
    assert_eq!(
        v.verify_cached(t.as_bytes(), &d, NOW + 360),
        Err(VerifyError::Expired)
    );
    // A failure is not cached: the second call checks again and fails the same way.
    let bad = sign(
        "RS256",
        Some("rsa1"),
        &claims(r#","aud":"x""#).replace(r#""aud":"dbt-cloud-api","#, ""),
    );
    let bd: [u8; 32] = sha2::Sha256::digest(bad.as_bytes()).into();
    assert_eq!(
        v.verify_cached(bad.as_bytes(), &bd, NOW),
        Err(VerifyError::Audience)
    );
    assert_eq!(
        v.verify_cached(bad.as_bytes(), &bd, NOW),
        Err(VerifyError::Audience)
    );
}
