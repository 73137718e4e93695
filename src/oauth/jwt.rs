//! The JWS compact form (RFC 7515 §7.1): `header.payload.signature`, each strict base64url, with
//! bounds on every part so that a hostile header costs a bounded amount before it is refused.

use alloc::string::String;
use alloc::vec::Vec;

use super::b64;
use super::VerifyError;
use crate::policy::json::{get, Json};

/// The longest token the edge takes (Envoy's default header limit is 60 KiB; real JWTs are 1–2 KiB).
pub(crate) const MAX_TOKEN: usize = 16 * 1024;
/// The longest decoded header: `alg`, `kid`, `typ` and a little more.
const MAX_HEADER: usize = 2048;
/// The longest decoded signature: an RSA-4096 signature is 512 bytes.
const MAX_SIGNATURE: usize = 512;

/// A token split and decoded, not yet verified.
pub(crate) struct Parsed<'a> {
    /// `header.payload` as sent: what the signature covers.
    pub signing_input: &'a [u8],
    /// The header's `alg`, as written.
    pub alg: String,
    /// The header's `kid`, when it has one.
    pub kid: Option<String>,
    /// The decoded payload (claims JSON), read only once the signature verifies.
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Split `token` into its three segments and decode them; the header is read, the payload not.
pub(crate) fn parse(token: &[u8]) -> Result<Parsed<'_>, VerifyError> {
    if token.len() > MAX_TOKEN {
        return Err(VerifyError::TooLarge);
    }
    let (signing_input, [h, p, s]) = segments(token).ok_or(VerifyError::Format)?;
    let header = b64::decode(h, MAX_HEADER).ok_or(VerifyError::Format)?;
    let payload = b64::decode(p, MAX_TOKEN).ok_or(VerifyError::Format)?;
    let signature = b64::decode(s, MAX_SIGNATURE).ok_or(VerifyError::Format)?;
    let (alg, kid) = read_header(&header)?;
    Ok(Parsed {
        signing_input,
        alg,
        kid,
        payload,
        signature,
    })
}

/// The signing input and the three segments; `None` unless there are exactly two dots.
fn segments(token: &[u8]) -> Option<(&[u8], [&[u8]; 3])> {
    let first = token.iter().position(|&b| b == b'.')?;
    let (h, rest) = token.split_at(first);
    let rest = rest.get(1..)?;
    let second = rest.iter().position(|&b| b == b'.')?;
    let (p, s) = rest.split_at(second);
    let s = s.get(1..)?;
    if s.contains(&b'.') || h.is_empty() || p.is_empty() {
        return None;
    }
    let signing_input = token.get(..first + 1 + second)?;
    Some((signing_input, [h, p, s]))
}

/// `alg` and `kid` from the header; a header naming critical extensions is refused (RFC 7515
/// §4.1.11: the edge implements none). Duplicate member names are refused by the JSON reader.
fn read_header(header: &[u8]) -> Result<(String, Option<String>), VerifyError> {
    let json: Json<'_> = serde_json::from_slice(header).map_err(|_| VerifyError::Header)?;
    let Json::Obj(fields) = &json else {
        return Err(VerifyError::Header);
    };
    if get(fields, "crit").is_some() {
        return Err(VerifyError::Critical);
    }
    let Some(Json::Str(alg)) = get(fields, "alg") else {
        return Err(VerifyError::Header);
    };
    let kid = match get(fields, "kid") {
        None => None,
        Some(Json::Str(k)) => Some(String::from(k.as_ref())),
        Some(_) => return Err(VerifyError::Header),
    };
    Ok((String::from(alg.as_ref()), kid))
}

/// A JWT's header and claims as JSON text, for display (`tokengate inspect`). The signature is
/// decoded only to be counted: it is never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The header, as the token carries it (JSON text).
    pub header: String,
    /// The claims, as the token carries them (JSON text; not verified).
    pub claims: String,
    /// How many bytes the signature has.
    pub signature_len: usize,
}

impl core::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoded")
            .field("signature_len", &self.signature_len)
            .finish_non_exhaustive()
    }
}

/// Decode a JWT for display, without verifying anything. Header and claims must be UTF-8 JSON.
pub fn decode(token: &[u8]) -> Result<Decoded, VerifyError> {
    let parsed = parse(token)?;
    let header_seg = token.split(|&b| b == b'.').next().unwrap_or_default();
    let header = b64::decode(header_seg, MAX_HEADER).ok_or(VerifyError::Format)?;
    let header = String::from_utf8(header).map_err(|_| VerifyError::Header)?;
    let claims = String::from_utf8(parsed.payload).map_err(|_| VerifyError::Claims)?;
    if serde_json::from_str::<Json<'_>>(&claims).is_err() {
        return Err(VerifyError::Claims);
    }
    Ok(Decoded {
        header,
        claims,
        signature_len: parsed.signature.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        use base64ct::{Base64UrlUnpadded, Encoding};
        Base64UrlUnpadded::encode_string(s.as_bytes())
    }

    fn token(h: &str, p: &str) -> String {
        alloc::format!("{}.{}.c2ln", b64(h), b64(p))
    }

    #[test]
    fn splits_and_reads_the_header() {
        let t = token(r#"{"alg":"RS256","kid":"k1"}"#, r#"{"iss":"x"}"#);
        let p = parse(t.as_bytes()).unwrap();
        assert_eq!((p.alg.as_str(), p.kid.as_deref()), ("RS256", Some("k1")));
        assert_eq!(p.payload, br#"{"iss":"x"}"#);
        assert_eq!(p.signature, b"sig");
        assert_eq!(p.signing_input, t.rsplit_once('.').unwrap().0.as_bytes());
    }

    #[test]
    fn refuses_bad_shapes() {
        let ok = token(r#"{"alg":"RS256"}"#, "{}");
        let cases: &[(&str, VerifyError)] = &[
            ("", VerifyError::Format),
            ("a.b", VerifyError::Format),
            ("a.b.c.d", VerifyError::Format),
            (".e30.c2ln", VerifyError::Format),
            ("e30..c2ln", VerifyError::Format),
            ("e30=.e30.c2ln", VerifyError::Format),
            ("e30.e30.c2ln ", VerifyError::Format),
            ("e30.e30.c2ln", VerifyError::Header),
            ("W10.e30.c2ln", VerifyError::Header),
        ];
        for (t, want) in cases {
            assert_eq!(parse(t.as_bytes()).err(), Some(*want), "{t}");
        }
        assert!(parse(ok.as_bytes()).is_ok());
        let unsigned = alloc::format!("{}.", ok.rsplit_once('.').unwrap().0);
        assert!(
            parse(unsigned.as_bytes()).is_ok(),
            "an empty signature parses; it never verifies"
        );
        let crit = token(r#"{"alg":"RS256","crit":["b64"],"b64":false}"#, "{}");
        assert_eq!(parse(crit.as_bytes()).err(), Some(VerifyError::Critical));
        let dup = token(r#"{"alg":"RS256","alg":"none"}"#, "{}");
        assert_eq!(parse(dup.as_bytes()).err(), Some(VerifyError::Header));
        let kid_num = token(r#"{"alg":"RS256","kid":7}"#, "{}");
        assert_eq!(parse(kid_num.as_bytes()).err(), Some(VerifyError::Header));
        let big = alloc::format!("{ok}{}", "A".repeat(MAX_TOKEN));
        assert_eq!(parse(big.as_bytes()).err(), Some(VerifyError::TooLarge));
        let long_sig = alloc::format!("{ok}{}", "A".repeat(700));
        assert_eq!(parse(long_sig.as_bytes()).err(), Some(VerifyError::Format));
    }

    #[test]
    fn decode_shows_header_and_claims_never_the_signature() {
        let t = token(r#"{"alg":"ES256"}"#, r#"{"sub":"u"}"#);
        let d = decode(t.as_bytes()).unwrap();
        assert_eq!(
            (d.header.as_str(), d.claims.as_str()),
            (r#"{"alg":"ES256"}"#, r#"{"sub":"u"}"#)
        );
        assert_eq!(d.signature_len, 3);
        assert!(!alloc::format!("{d:?}").contains("sub"));
        let bad = token(r#"{"alg":"ES256"}"#, "not json");
        assert_eq!(decode(bad.as_bytes()).err(), Some(VerifyError::Claims));
    }
}
