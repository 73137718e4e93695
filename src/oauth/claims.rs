//! The registered claims SPEC §11 checks (RFC 7519 §4.1), read once the signature verifies.

use alloc::vec::Vec;

use super::config::Verifier;
use super::VerifyError;
use crate::policy::json::{get, Json};

/// What the claims say, and every check they fail (in the order `iss`, `aud`, `exp`, `nbf`,
/// account claim). The decision takes the first failure; `tokengate inspect` shows them all.
pub(crate) struct Checked {
    pub failures: Vec<VerifyError>,
    pub expires_at: i64,
    /// The token's `nbf`, if it has one.
    pub not_before: Option<i64>,
    pub account_id: Option<u64>,
}

/// Check `payload` against the policy at `now` (Unix seconds).
pub(crate) fn check(v: &Verifier, payload: &[u8], now: i64) -> Checked {
    let mut out = Checked {
        failures: Vec::new(),
        expires_at: 0,
        not_before: None,
        account_id: None,
    };
    let Ok(Json::Obj(claims)) = serde_json::from_slice::<Json<'_>>(payload) else {
        out.failures.push(VerifyError::Claims);
        return out;
    };
    let claims = &claims[..];
    if !matches!(get(claims, "iss"), Some(Json::Str(iss)) if *iss == v.issuer) {
        out.failures.push(VerifyError::Issuer);
    }
    if !audience_meets(get(claims, "aud"), &v.audiences) {
        out.failures.push(VerifyError::Audience);
    }
    let leeway = v.leeway;
    match get(claims, "exp").and_then(seconds) {
        None => out.failures.push(VerifyError::ExpiryMissing),
        // RFC 7519 §4.1.4: valid only while now is before exp (here, exp plus the leeway).
        Some(exp) if now >= exp.saturating_add(leeway) => out.failures.push(VerifyError::Expired),
        Some(exp) => out.expires_at = exp,
    }
    match get(claims, "nbf").map(seconds) {
        None => {}
        Some(Some(nbf)) if now.saturating_add(leeway) >= nbf => out.not_before = Some(nbf),
        Some(_) => out.failures.push(VerifyError::NotYetValid),
    }
    if let Some(name) = &v.account_claim {
        out.account_id = get(claims, name).and_then(account_id);
        if out.account_id.is_none() {
            out.failures.push(VerifyError::AccountClaim);
        }
    }
    out
}

/// `aud` is one string or an array of strings, and one of them is an expected audience. An array
/// with anything but strings in it fails, as in Envoy's jwt_authn.
fn audience_meets(aud: Option<&Json<'_>>, audiences: &[alloc::string::String]) -> bool {
    let expected = |a: &str| audiences.iter().any(|x| x == a);
    match aud {
        Some(Json::Str(a)) => expected(a),
        Some(Json::Arr(list)) => {
            list.iter().all(|a| matches!(a, Json::Str(_)))
                && list
                    .iter()
                    .any(|a| matches!(a, Json::Str(s) if expected(s)))
        }
        _ => false,
    }
}

/// A NumericDate (RFC 7519 §2): seconds, possibly fractional (rounded down).
fn seconds(v: &Json<'_>) -> Option<i64> {
    match v {
        Json::U64(n) => i64::try_from(*n).ok(),
        Json::I64(n) => Some(*n),
        Json::F64(f) if f.is_finite() && f.abs() < 9.0e18 => {
            // `as` saturates and truncates toward zero; step down for negative fractions.
            #[allow(clippy::cast_possible_truncation)]
            let t = *f as i64;
            Some(if (t as f64) > *f { t - 1 } else { t })
        }
        _ => None,
    }
}

/// An account id: a JSON number that is a u64, or a string of ASCII digits that fits one (ids may
/// exceed 2^53, beyond what a JSON number keeps exact in most readers).
fn account_id(v: &Json<'_>) -> Option<u64> {
    match v {
        Json::U64(n) => Some(*n),
        Json::Str(s) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates() {
        assert_eq!(seconds(&Json::U64(5)), Some(5));
        assert_eq!(seconds(&Json::F64(5.9)), Some(5));
        assert_eq!(seconds(&Json::F64(-0.5)), Some(-1));
        assert_eq!(seconds(&Json::U64(u64::MAX)), None);
        assert_eq!(seconds(&Json::F64(f64::NAN)), None);
        assert_eq!(seconds(&Json::Str("5".into())), None);
    }

    #[test]
    fn account_ids() {
        assert_eq!(
            account_id(&Json::U64(9_007_199_254_740_993)),
            Some(9_007_199_254_740_993)
        );
        assert_eq!(
            account_id(&Json::Str("18446744073709551615".into())),
            Some(u64::MAX)
        );
        for bad in [
            "",
            "18446744073709551616",
            "+1",
            "1_0",
            " 1",
            "1.0",
            "-1",
            "١",
        ] {
            assert_eq!(account_id(&Json::Str(bad.into())), None, "{bad}");
        }
        assert_eq!(account_id(&Json::F64(1.0)), None);
        assert_eq!(account_id(&Json::I64(-1)), None);
    }
}
