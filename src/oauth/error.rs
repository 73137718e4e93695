//! Why a JWT was refused: one variant per check, each message naming the check, never a value.

use core::fmt;

use crate::Code;

/// The check a JWT failed. Messages name the check; none repeats a claim, a key or a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerifyError {
    /// Longer than the edge accepts for a JWT.
    TooLarge,
    /// Not three base64url segments (strict: unpadded, canonical, nothing else).
    Format,
    /// The header is not a JSON object with a string `alg`.
    Header,
    /// The header names extensions (`crit`) the edge does not implement.
    Critical,
    /// The header's `alg` is not one the policy allows (`none` and HMAC never are).
    Algorithm,
    /// The header's `kid` names no key of the key set.
    UnknownKey,
    /// No key of the key set fits the header's `alg` (wrong `kty`, curve or key `alg`).
    KeyMismatch,
    /// The signature does not verify with the key.
    Signature,
    /// The payload is not a JSON object of claims.
    Claims,
    /// `iss` is absent, not a string, or not the policy's issuer.
    Issuer,
    /// `aud` is absent or names none of the policy's audiences.
    Audience,
    /// `exp` is absent or not a number.
    ExpiryMissing,
    /// `exp` is in the past, beyond the leeway.
    Expired,
    /// `nbf` is not a number, or is in the future beyond the leeway.
    NotYetValid,
    /// The account claim is absent or not a u64 (a number or a decimal string).
    AccountClaim,
}

impl VerifyError {
    /// The check that failed, as a clause: "This OAuth token failed verification: {message}."
    pub fn message(self) -> &'static str {
        match self {
            VerifyError::TooLarge => "it is longer than the edge accepts",
            VerifyError::Format => "it is not three strict base64url segments",
            VerifyError::Header => "its header is not a JSON object with an alg",
            VerifyError::Critical => {
                "its header names critical extensions the edge does not implement"
            }
            VerifyError::Algorithm => "its signing algorithm is not allowed by the policy",
            VerifyError::UnknownKey => "its key id names no key of the key set",
            VerifyError::KeyMismatch => "no key of the key set fits its signing algorithm",
            VerifyError::Signature => "its signature does not verify",
            VerifyError::Claims => "its payload is not a JSON object of claims",
            VerifyError::Issuer => "its issuer (iss) is missing or not the expected one",
            VerifyError::Audience => "its audience (aud) is missing or not an expected one",
            VerifyError::ExpiryMissing => "it has no expiry time (exp)",
            VerifyError::Expired => "it has expired (exp)",
            VerifyError::NotYetValid => "it is not valid yet (nbf)",
            VerifyError::AccountClaim => "its account claim is missing or not an account id",
        }
    }

    /// A short name of the check, for machine-readable output (`signature`, `iss`, `exp`, …).
    pub fn check(self) -> &'static str {
        match self {
            VerifyError::TooLarge | VerifyError::Format => "format",
            VerifyError::Header | VerifyError::Critical => "header",
            VerifyError::Algorithm => "alg",
            VerifyError::UnknownKey => "kid",
            VerifyError::KeyMismatch => "key",
            VerifyError::Signature => "signature",
            VerifyError::Claims => "claims",
            VerifyError::Issuer => "iss",
            VerifyError::Audience => "aud",
            VerifyError::ExpiryMissing | VerifyError::Expired => "exp",
            VerifyError::NotYetValid => "nbf",
            VerifyError::AccountClaim => "account_claim",
        }
    }

    /// The decision code: an expired token is `expired_token`, every other failure `invalid_token`.
    pub fn code(self) -> Code {
        match self {
            VerifyError::Expired => Code::ExpiredToken,
            _ => Code::InvalidToken,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl core::error::Error for VerifyError {}
