//! OAuth access tokens verified at the edge (SPEC §11): a JWT's compact form, the policy's JWK Set,
//! and the checks in order — algorithm against the policy and the key, signature, `iss`, `aud`,
//! `exp`/`nbf` with leeway, and the account claim.
//!
//! The cryptography is RustCrypto's (`rsa`, `p256`), built without std; this
//! module only chooses the key and feeds it the signing input. Nothing here allocates a copy of
//! the token, and no error carries a claim's value, a key or a signature: [`VerifyError`] is a
//! `Copy` enum whose messages name the check that failed.

mod b64;
mod cache;
mod claims;
mod config;
mod error;
mod jwks;
mod jwt;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_config;
#[cfg(test)]
mod tests_decision;
#[cfg(test)]
mod tests_fetched;

pub use cache::{Cache, SLOTS as CACHE_SLOTS};
pub use config::{JwksUrl, KeySource, Verifier, DEFAULT_REFETCH_COOLDOWN_SECONDS};
pub use error::VerifyError;
pub use jwks::{Algorithm, KeySet};
pub use jwt::{decode, Decoded};

/// What a verified token carries into the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The token's `exp`, in Unix seconds: a cache may keep the verdict until then.
    pub expires_at: i64,
    /// The account named by the policy's `account_claim`, when the policy names one.
    pub account_id: Option<u64>,
}
