//! JWT parsing and verification (SPEC §11) over arbitrary bytes: no panic, a stable verdict (the
//! same through the cache), the
//! decision's error first among the checks `failures` lists, and a decoded token exactly when
//! the compact form parses. The seeds are tokens signed by the key pair whose public half is
//! below (made once with node:crypto; the private half was not kept), so mutations start valid.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tokengate::oauth::{decode, Verifier, VerifyError};

const JWKS: &str = r#"{"keys":[{"kty":"RSA","n":"y3dlBMH9Pqbl0kwD1dqU53-uRiCX6uUp3o4PaMRIK-4LCiXipsWxwTExWzPa7RknVjOuzo2Jz2H2OkL444CIOa-rBkVJIZ4G2KiyQc1BaqPso8DXPPmBID_FovVGZsTxj65ZRkfnnfqXUEVQOVGIwZmAuMpGYJCXH62EDxuTT6GdJr8RNir-wLtIZ73TI2jDYMlxzkZp_yoc2SazFM-pn4DauOerZgeHNO_x5WDiQaYmTvrvuNcw639VDoaO8B1TLH5w59glDKKIx73frZ8hE7v4iPej5J9R9s_Y-8t7Tp3-IlatCB0QDKvfCF_Zw9GxJECFXNoA9ach2G4-XbgcZw","e":"AQAB","kid":"r1","use":"sig"},{"kty":"EC","x":"0mty71bAzxZPZzocTvcx71sFSWd_HXYB8zxwCkdbick","y":"OqOr9TYmNhyVrzSSJt5e59qOMxnHZIe9Wu2RhB5f4yo","crv":"P-256","kid":"e1"}]}"#;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let json = format!(
            r#"{{"verify":{{"issuer":"https://issuer.fuzz/","audiences":["api"],
            "algorithms":["RS256","ES256"],"jwks":{JWKS},"account_claim":"acct"}}}}"#
        );
        Verifier::from_json(&json).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte moves the clock across the seeds' nbf and exp; the rest is the token.
    let Some((&clock, token)) = data.split_first() else {
        return;
    };
    let now = 1_690_000_000 + i64::from(clock) * 1_500_000;
    let v = verifier();
    let verdict = v.verify(token, now);
    assert_eq!(verdict, v.verify(token, now), "verification is not deterministic");
    // Through the cache (filled by earlier inputs too), the same verdict; twice, so a hit is met.
    let digest = tokengate::sha256(token);
    for _ in 0..2 {
        assert_eq!(v.verify_cached(token, &digest, now), verdict, "the cache changed a verdict");
    }
    let failures = v.failures(token, now);
    match verdict {
        Ok(ok) => {
            assert!(failures.is_empty(), "verified, yet {failures:?}");
            assert!(ok.account_id.is_some(), "the account claim is required");
            assert!(now < ok.expires_at + 60, "verified after exp plus leeway");
        }
        Err(e) => assert_eq!(failures.first(), Some(&e), "{failures:?}"),
    }
    let parse_error = matches!(
        failures.first(),
        Some(VerifyError::TooLarge | VerifyError::Format | VerifyError::Header | VerifyError::Critical)
    );
    match decode(token) {
        Ok(d) => {
            assert!(!parse_error, "decoded, yet {failures:?}");
            assert_eq!(decode(token).as_ref(), Ok(&d), "decoding is not deterministic");
            assert!(d.header.starts_with('{') && d.signature_len <= 512);
        }
        Err(VerifyError::Claims | VerifyError::Header) => {}
        Err(e) => assert!(parse_error && failures == [e], "decode {e:?}, verify {failures:?}"),
    }
    for e in &failures {
        // Messages are fixed text: none can carry the token, a claim or the signature.
        assert!(!e.message().is_empty() && !e.check().is_empty());
    }
});
