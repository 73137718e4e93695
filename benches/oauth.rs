//! Native cost of OAuth verification (SPEC §11): a signature check and the claims (a cache miss),
//! against a cache hit, for RS256 and ES256 tokens signed by keys made here. With the decision
//! around it: `decide/oauth-*` (the whole pipeline, cache cold or warm).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core
)]

use std::hint::black_box;

use base64ct::{Base64UrlUnpadded as B64, Encoding};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use tokengate::oauth::{Cache, Verified, Verifier};
use tokengate::{Policy, Request};

const NOW: i64 = 1_795_000_000;

struct Keys {
    rsa: rsa::RsaPrivateKey,
    ec: p256::ecdsa::SigningKey,
}

fn b64(b: &[u8]) -> String {
    B64::encode_string(b)
}

fn jwks(k: &Keys) -> String {
    let p = k.ec.verifying_key().to_encoded_point(false);
    format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"r","n":"{}","e":"{}"}},{{"kty":"EC","crv":"P-256","kid":"e","x":"{}","y":"{}"}}]}}"#,
        b64(&k.rsa.n().to_bytes_be()),
        b64(&k.rsa.e().to_bytes_be()),
        b64(p.x().unwrap()),
        b64(p.y().unwrap())
    )
}

fn policy(k: &Keys) -> Policy {
    let json = format!(
        r#"{{"registry":{{"tokens":[]}},"oauth":{{"verify":{{"issuer":"https://issuer.test/","audiences":["api"],
        "algorithms":["RS256","ES256"],"account_claim":"acct","jwks":{}}}}}}}"#,
        jwks(k)
    );
    Policy::from_json(&json).unwrap()
}

fn decide(p: &Policy, auth: &str) -> u16 {
    let mut r = Request::new(b"GET", b"/api/v2/accounts/70471823510118/jobs/");
    r.header(b"authorization", auth.as_bytes());
    p.decide(&r, NOW).status()
}

fn verifier(k: &Keys) -> Verifier {
    let p = k.ec.verifying_key().to_encoded_point(false);
    let json = format!(
        r#"{{"verify":{{"issuer":"https://issuer.test/","audiences":["api"],"algorithms":["RS256","ES256"],
        "account_claim":"acct","jwks":{{"keys":[
        {{"kty":"RSA","kid":"r","n":"{}","e":"{}"}},{{"kty":"EC","crv":"P-256","kid":"e","x":"{}","y":"{}"}}]}}}}}}"#,
        b64(&k.rsa.n().to_bytes_be()),
        b64(&k.rsa.e().to_bytes_be()),
        b64(p.x().unwrap()),
        b64(p.y().unwrap())
    );
    Verifier::from_json(&json).unwrap()
}

fn token(k: &Keys, alg: &str) -> String {
    let claims = format!(
        r#"{{"iss":"https://issuer.test/","aud":"api","sub":"user-1","exp":{},"acct":"70471823510118"}}"#,
        NOW + 3600
    );
    let kid = if alg == "RS256" { "r" } else { "e" };
    let input = format!(
        "{}.{}",
        b64(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#).as_bytes()),
        b64(claims.as_bytes())
    );
    let sig = if alg == "RS256" {
        use rsa::signature::{SignatureEncoding, Signer};
        rsa::pkcs1v15::SigningKey::<Sha256>::new(k.rsa.clone())
            .sign(input.as_bytes())
            .to_vec()
    } else {
        use p256::ecdsa::signature::Signer;
        let s: p256::ecdsa::Signature = k.ec.sign(input.as_bytes());
        s.to_bytes().to_vec()
    };
    format!("{input}.{}", b64(&sig))
}

fn benches(c: &mut Criterion) {
    let mut rng = rand::thread_rng();
    let keys = Keys {
        rsa: rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(),
        ec: p256::ecdsa::SigningKey::random(&mut rng),
    };
    let v = verifier(&keys);
    for alg in ["RS256", "ES256"] {
        let t = token(&keys, alg);
        assert!(v.verify(t.as_bytes(), NOW).is_ok());
        c.bench_function(&format!("oauth/verify-{}", alg.to_lowercase()), |b| {
            b.iter(|| v.verify(black_box(t.as_bytes()), NOW))
        });
    }
    // A hit: the digest (which the decision computes anyway for the token id) and one slot read.
    let cache = Cache::new();
    let t = token(&keys, "ES256");
    let digest: [u8; 32] = Sha256::digest(t.as_bytes()).into();
    cache.insert(
        &digest,
        i64::MIN,
        NOW + 3600,
        &Verified {
            expires_at: NOW + 3600,
            account_id: Some(1),
        },
    );
    c.bench_function("oauth/cache-hit", |b| {
        b.iter(|| cache.get(black_box(&digest), NOW))
    });
    c.bench_function("oauth/cache-hit-with-digest", |b| {
        b.iter(|| {
            let d: [u8; 32] = Sha256::digest(black_box(t.as_bytes())).into();
            cache.get(&d, NOW)
        })
    });

    // The whole decision: warm (every request after the first) and cold (a fresh policy clone,
    // whose cache is empty, made outside the timed part).
    let p = policy(&keys);
    for alg in ["RS256", "ES256"] {
        let auth = format!("Bearer {}", token(&keys, alg));
        assert_eq!(decide(&p, &auth), 200);
        let a = alg.to_lowercase();
        c.bench_function(&format!("decide/oauth-{a}-cached"), |b| {
            b.iter(|| decide(&p, black_box(&auth)))
        });
        c.bench_function(&format!("decide/oauth-{a}-uncached"), |b| {
            b.iter_batched(
                || p.clone(),
                |fresh| decide(&fresh, black_box(&auth)),
                BatchSize::SmallInput,
            )
        });
    }
}

criterion_group!(oauth, benches);
criterion_main!(oauth);
