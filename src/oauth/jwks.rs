//! The policy's JWK Set (RFC 7517) and signature checks with its keys (RFC 7518 §3).
//!
//! Keys the edge cannot use — another `kty` or curve, `use` other than `sig`, an algorithm it does
//! not implement — are skipped, as RFC 7517 §5 asks; a key it could use but that is malformed, a
//! symmetric key or a private key is a policy error, since each means the operator pasted the
//! wrong thing.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use p256::ecdsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

use super::b64;
use super::VerifyError;
use crate::error::PolicyErrors;
use crate::policy::json::{field, get, index, Json, Reader};

/// A JWS signing algorithm the edge verifies. HMAC and `none` are not among them: the edge holds
/// public keys only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl Algorithm {
    /// Every algorithm, in the order the docs list them.
    pub const ALL: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

    /// The JWA name (`RS256`, …).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
        }
    }

    /// The algorithm of a JWA name, exactly as spelled (names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The public part of one key.
#[derive(Clone)]
enum Material {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// One usable key of the set.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    /// The key's own `alg`, when it names one: then only that algorithm may use it.
    alg: Option<Algorithm>,
    material: Material,
}

impl Key {
    /// Whether `alg` may be verified with this key: its `kty`/curve and its own `alg` agree.
    fn fits(&self, alg: Algorithm) -> bool {
        let kind = matches!(
            (&self.material, alg),
            (Material::Rsa(_), Algorithm::RS256) | (Material::P256(_), Algorithm::ES256)
        );
        kind && self.alg.is_none_or(|a| a == alg)
    }

    fn verifies(&self, alg: Algorithm, input: &[u8], sig: &[u8]) -> bool {
        use rsa::Pkcs1v15Sign;
        match (&self.material, alg) {
            (Material::Rsa(k), Algorithm::RS256) => k
                .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input), sig)
                .is_ok(),
            (Material::P256(k), Algorithm::ES256) => {
                p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(input, &s).is_ok())
            }
            _ => false,
        }
    }
}

/// The keys a policy trusts: an inline `jwks`, or a document fetched from `jwks.url`.
#[derive(Clone)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// Keys are public, but a dump has no use for them: show their count.
impl core::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// The most keys a set may hold: real sets have a handful, and a token without `kid` is tried
/// against every key that fits its algorithm.
pub(crate) const MAX_KEYS: usize = 64;

impl KeySet {
    /// A JWK Set document on its own, `{"keys": [ … ]}`, as a `jwks.url` endpoint serves it,
    /// with the same rules as an inline one; errors carry paths from the document's root.
    pub fn from_json(json: &str) -> Result<KeySet, PolicyErrors> {
        let mut errs = PolicyErrors::default();
        let keys = match serde_json::from_str::<Json<'_>>(json) {
            Ok(v) => KeySet::read(&mut Reader { errs: &mut errs }, &v, ""),
            Err(e) => {
                errs.push("", format!("not valid JSON: {e}"));
                None
            }
        };
        match keys {
            Some(k) if errs.is_empty() => Ok(k),
            _ => Err(errs),
        }
    }

    /// No keys: what a fetched key set holds until its first document loads.
    pub(crate) fn empty() -> KeySet {
        KeySet { keys: Vec::new() }
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Check `sig` over `input` with the key `kid` names (or, without `kid`, any key that fits).
    pub(crate) fn verify(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        input: &[u8],
        sig: &[u8],
    ) -> Result<(), VerifyError> {
        // A key without `kid` may sign any token, as in Envoy's jwt_authn: `kid` is a hint.
        let named = |k: &&Key| kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid;
        if !self.keys.iter().any(|k| named(&k)) {
            return Err(VerifyError::UnknownKey);
        }
        let mut fitting = self.keys.iter().filter(named).filter(|k| k.fits(alg));
        let Some(first) = fitting.next() else {
            return Err(VerifyError::KeyMismatch);
        };
        if first.verifies(alg, input, sig) || fitting.any(|k| k.verifies(alg, input, sig)) {
            Ok(())
        } else {
            Err(VerifyError::Signature)
        }
    }

    /// Read `{"keys": [ … ]}` at `path`, recording every problem.
    pub(crate) fn read(r: &mut Reader<'_>, v: &Json<'_>, path: &str) -> Option<KeySet> {
        let fields = r.object(v, path, &["keys"])?;
        let keys_path = field(path, "keys");
        let Some(list) = get(fields, "keys") else {
            r.error(&keys_path, "missing field");
            return None;
        };
        let list = r.array(list, &keys_path)?;
        if list.len() > MAX_KEYS {
            r.error(&keys_path, format!("at most {MAX_KEYS} keys"));
            return None;
        }
        let before = r.errs.errors().len();
        let keys: Vec<Key> = list
            .iter()
            .enumerate()
            .filter_map(|(i, k)| read_key(r, k, &index(&keys_path, i)))
            .collect();
        if r.errs.errors().len() > before {
            return None;
        }
        if keys.is_empty() {
            r.error(
                &keys_path,
                "no usable signing key: expected an RSA (2048–4096 bits), or EC P-256 public key",
            );
            return None;
        }
        Some(KeySet { keys })
    }
}

/// Members that only a private or symmetric key has.
const SECRET_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// One JWK: `Some` if usable, `None` if skipped or in error (errors are recorded).
fn read_key(r: &mut Reader<'_>, v: &Json<'_>, path: &str) -> Option<Key> {
    let Json::Obj(fields) = v else {
        r.error(path, "expected a JWK object");
        return None;
    };
    if let Some(m) = SECRET_MEMBERS.iter().find(|m| get(fields, m).is_some()) {
        let msg = "a private or symmetric key does not belong in the policy: give public keys only";
        r.error(&field(path, m), msg);
        return None;
    }
    let text = |r: &mut Reader<'_>, name: &str| -> Option<Option<String>> {
        match get(fields, name) {
            None => Some(None),
            Some(v) => r
                .string(v, &field(path, name))
                .map(|s| Some(String::from(s))),
        }
    };
    let kty = text(r, "kty")?;
    let kid = text(r, "kid")?;
    let alg_name = text(r, "alg")?;
    let use_ = text(r, "use")?;
    let crv = text(r, "crv")?;
    let Some(kty) = kty else {
        r.error(&field(path, "kty"), "missing field");
        return None;
    };
    if use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let alg = match alg_name.as_deref() {
        None => None,
        Some(name) => Some(Algorithm::from_name(name)?),
    };
    let material = match (kty.as_str(), crv.as_deref()) {
        ("RSA", _) => Material::Rsa(rsa_key(r, fields, path)?),
        ("EC", Some("P-256")) => Material::P256(p256_key(r, fields, path)?),
        ("EC", None) => {
            r.error(&field(path, "crv"), "missing field");
            return None;
        }
        _ => return None,
    };
    Some(Key { kid, alg, material })
}

type Fields<'j, 'a> = &'j [(alloc::borrow::Cow<'a, str>, Json<'a>)];

/// A base64url member of `len_max` bytes at most, or an error at its path.
fn bytes(
    r: &mut Reader<'_>,
    f: Fields<'_, '_>,
    path: &str,
    name: &str,
    max: usize,
) -> Option<Vec<u8>> {
    let p = field(path, name);
    let Some(v) = get(f, name) else {
        r.error(&p, "missing field");
        return None;
    };
    let s = r.string(v, &p)?;
    let out = b64::decode(s.as_bytes(), max);
    if out.is_none() {
        r.error(
            &p,
            format!("expected unpadded base64url of at most {max} bytes"),
        );
    }
    out
}

fn rsa_key(r: &mut Reader<'_>, f: Fields<'_, '_>, path: &str) -> Option<rsa::RsaPublicKey> {
    let n = bytes(r, f, path, "n", 513)?;
    let e = bytes(r, f, path, "e", 8)?;
    let n = rsa::BigUint::from_bytes_be(&n);
    let key = rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(&e)).ok();
    match key {
        Some(k) if k.n().bits() >= 2048 => Some(k),
        _ => {
            let msg = "not a usable RSA public key: the modulus must have 2048 to 4096 bits and the exponent be odd and at least 3";
            r.error(path, msg);
            None
        }
    }
}

fn p256_key(
    r: &mut Reader<'_>,
    f: Fields<'_, '_>,
    path: &str,
) -> Option<p256::ecdsa::VerifyingKey> {
    let x = bytes(r, f, path, "x", 32)?;
    let y = bytes(r, f, path, "y", 32)?;
    let point = match (<[u8; 32]>::try_from(x), <[u8; 32]>::try_from(y)) {
        (Ok(x), Ok(y)) => Some(p256::EncodedPoint::from_affine_coordinates(
            &x.into(),
            &y.into(),
            false,
        )),
        _ => None,
    };
    let key = point.and_then(|p| p256::ecdsa::VerifyingKey::from_encoded_point(&p).ok());
    if key.is_none() {
        r.error(
            path,
            "not a P-256 public key: x and y must be 32 bytes each and name a point on the curve",
        );
    }
    key
}
