//! One access-log line, as the shipped Envoy configurations write it (envoy/README.md, "Access
//! log"): a JSON object per line. Keys other than these are ignored, so an operator may log more;
//! any of these may be missing or null (Envoy writes null for an absent value, `-` in text
//! formats), and a value may come as a string or a number.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A JSON string or scalar read as text, borrowed from the line when it has no escapes.
#[derive(Debug, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The keys the report reads. `path` is logged without its query (`%REQ_WITHOUT_QUERY(:PATH)%`):
/// a `?token=` never reaches the log. The line also carries `method`, `status`, `authority`,
/// `account_id` and `would_deny`, for people and other tools; the checklist needs none of them
/// (a would-be denial has the same `code` as a denial).
#[derive(Debug, Default, Deserialize)]
pub struct LogLine<'a> {
    #[serde(borrow, default)]
    pub time: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub path: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub user_agent: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub code: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub token_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub token_kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub client: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub advice: Option<Text<'a>>,
}

/// The value of a field, with Envoy's spellings of "absent" (`-`, empty) read as absent.
pub fn value<'s>(f: &'s Option<Text<'_>>) -> Option<&'s str> {
    f.as_ref()
        .map(|t| t.0.as_ref())
        .filter(|v| !v.is_empty() && *v != "-")
}

impl<'a> LogLine<'a> {
    /// `None` when the line is not a JSON object of this shape.
    pub fn parse(line: &'a [u8]) -> Option<LogLine<'a>> {
        // serde would also read a JSON array into the struct, field by field.
        if line.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(line).ok()
    }
}

/// Longest endpoint or user agent kept, in bytes; longer ones are cut (at a character boundary)
/// and marked with `…`, so that a hostile log cannot make the report hold long strings.
pub const MAX_TEXT: usize = 160;

/// Cuts `s` to [`MAX_TEXT`] bytes and replaces control characters, which a terminal would
/// otherwise obey (a user agent is whatever the client sent).
pub fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_TEXT + 3));
    for c in s.chars() {
        if out.len() + c.len_utf8() > MAX_TEXT {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '\u{fffd}' } else { c });
    }
    out
}

/// The endpoint a path stands for: the query (if any slipped through) dropped, every segment of
/// digits (account ids, job ids, run ids) replaced by `{id}`, and anything that looks like a
/// credential replaced by `{redacted}`, so that the report groups calls by endpoint and never
/// repeats a token a client put in a path.
pub fn endpoint(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut out = String::with_capacity(path.len().min(MAX_TEXT));
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{id}");
        } else if looks_secret(seg) {
            out.push_str("{redacted}");
        } else {
            out.push_str(seg);
        }
    }
    tidy(&out)
}

/// A dbt token prefix, a JWT, or a long run of hex or base64url (a legacy key, a digest).
fn looks_secret(seg: &str) -> bool {
    let lower = seg.to_ascii_lowercase();
    if lower.starts_with("dbtu_") || lower.starts_with("dbtc_") || seg.starts_with("eyJ") {
        return true;
    }
    seg.len() >= 32
        && seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && (seg.bytes().any(|b| b.is_ascii_digit()) || seg.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn endpoints_group_by_shape() {
        assert_eq!(
            endpoint("/api/v2/accounts/70471823510118/jobs/42/run/"),
            "/api/v2/accounts/{id}/jobs/{id}/run/"
        );
        assert_eq!(endpoint("/api/v2/accounts/"), "/api/v2/accounts/");
        assert_eq!(
            endpoint("/api/v3/accounts/1/projects?limit=5"),
            "/api/v3/accounts/{id}/projects"
        );
        assert_eq!(endpoint("/api/v2/accounts/12a/"), "/api/v2/accounts/12a/");
    }

    #[test]
    fn credentials_in_a_path_never_come_back() {
        let pat = format!("dbtu_{}", "a1".repeat(25));
        let key = "0123456789abcdef0123456789abcdef01234567";
        let digest = "ab".repeat(32);
        for secret in [pat.as_str(), key, digest.as_str(), "eyJhbGciOiJSUzI1NiJ9"] {
            let e = endpoint(&format!("/semantic-layer/{secret}/x"));
            assert_eq!(e, "/semantic-layer/{redacted}/x");
        }
        // Long words without digits are names, not secrets.
        let name = "the-quick-brown-fox-jumps-over-the-lazy-dog";
        assert_eq!(endpoint(&format!("/docs/{name}")), format!("/docs/{name}"));
    }

    #[test]
    fn text_is_cut_and_control_characters_replaced() {
        assert_eq!(tidy("curl/8.5\u{1b}[2J"), "curl/8.5\u{fffd}[2J");
        let long = "é".repeat(200);
        let t = tidy(&long);
        assert!(t.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(t.ends_with('…'));
    }

    #[test]
    fn lines_parse_with_numbers_nulls_and_extra_keys() {
        let l = LogLine::parse(
            br#"{"time":"2026-11-01T00:00:00.000Z","status":403,"code":"account_mismatch","token_id":null,"client":"-","user_agent":7}"#,
        )
        .unwrap();
        assert_eq!(value(&l.user_agent), Some("7"));
        assert_eq!(value(&l.code), Some("account_mismatch"));
        assert_eq!(value(&l.token_id), None);
        assert_eq!(value(&l.client), None);
        assert!(LogLine::parse(b"not json").is_none());
        assert!(LogLine::parse(b"[1,2]").is_none());
        assert!(LogLine::parse(br#"{"code": {"nested": 1}}"#).is_none());
    }

    #[test]
    fn escaped_strings_are_read() {
        let l = LogLine::parse(br#"{"user_agent":"a\"b"}"#).unwrap();
        assert_eq!(value(&l.user_agent), Some("a\"b"));
    }
}
