//! Where the credential comes from (SPEC §2): `Authorization: Token|Bearer <t>`, or `?token=` when
//! the policy allows it. Borrowed: the token is a slice of the header.

use crate::bytes::{hex_val, is_ows, is_tchar, trim_ows};
use crate::request::Request;

/// What the request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Credential<'a> {
    /// No credential at all.
    Missing,
    /// More than one credential: repeated headers, a second credential in one value, or both a
    /// header and a query token.
    Ambiguous,
    /// A scheme other than Token or Bearer.
    UnsupportedScheme,
    /// The scheme with nothing after it.
    Empty,
    /// One credential.
    Token(&'a [u8]),
}

/// Read one Authorization value.
pub(crate) fn from_authorization(value: &[u8]) -> Credential<'_> {
    let value = trim_ows(value);
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (
            value.get(..i).unwrap_or_default(),
            value.get(i..).unwrap_or_default(),
        ),
        None => (value, &b""[..]),
    };
    if !(scheme.eq_ignore_ascii_case(b"token") || scheme.eq_ignore_ascii_case(b"bearer")) {
        // `Basic x, Token y` carries two credentials: ambiguous comes before the scheme (SPEC §6
        // step 5). It is also what Envoy hands a filter for two Authorization lines: it joins
        // repeated ones with commas before any filter runs.
        return if has_second_credential(value) {
            Credential::Ambiguous
        } else {
            Credential::UnsupportedScheme
        };
    }
    let token = trim_ows(rest);
    if token.is_empty() {
        Credential::Empty
    } else if token.iter().any(|&b| is_ows(b) || b == b',') {
        Credential::Ambiguous
    } else {
        Credential::Token(token)
    }
}

/// Whether a query key reads `token` once percent-decoded, as the API's server decodes it:
/// `%74oken` must count, or a second token could ride beside the first unseen.
fn is_token_key(k: &str) -> bool {
    let mut decoded = [0u8; 5];
    let mut n = 0;
    let bytes = k.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let c = if b == b'%' {
            let hex = |j: usize| bytes.get(j).copied().and_then(hex_val);
            match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    i += 2;
                    hi << 4 | lo
                }
                _ => b,
            }
        } else {
            b
        };
        match decoded.get_mut(n) {
            Some(slot) => *slot = c,
            None => return false,
        }
        n += 1;
        i += 1;
    }
    n == 5 && &decoded == b"token"
}

/// Whether an Authorization value holds a second credential: an element of its comma-separated
/// list (outside quoted strings) that is not an `auth-param` (`name = value`). `Digest a="x, y",
/// b=c` is one credential; `Basic x,Token y` and `Basic x, Negotiate` are two.
fn has_second_credential(value: &[u8]) -> bool {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        if in_quotes {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_quotes = true,
            b',' => {
                let element = value.get(i + 1..).unwrap_or_default();
                let element = trim_ows(element);
                let name_len = element.iter().take_while(|&&c| is_tchar(c)).count();
                let after = trim_ows(element.get(name_len..).unwrap_or_default());
                let empty = element.is_empty() || element.first() == Some(&b',');
                let auth_param = name_len > 0 && after.first() == Some(&b'=');
                if !empty && !auth_param {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// The `token` parameters of a query: (how many, the first value).
fn query_tokens(query: &str) -> (usize, Option<&[u8]>) {
    let mut count = 0;
    let mut first = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if is_token_key(k) {
            count += 1;
            first.get_or_insert(v.as_bytes());
        }
    }
    (count, first)
}

/// The request's credential; `query` is the target's query when the policy takes `?token=`.
pub(crate) fn extract<'a>(req: &Request<'a>, query: Option<&'a str>) -> Credential<'a> {
    let (q_count, q_token) = query.map_or((0, None), query_tokens);
    match (req.authorization_count, q_count) {
        (0, 0) => Credential::Missing,
        (1, 0) => req
            .authorization
            .map_or(Credential::Missing, from_authorization),
        (0, 1) => match q_token {
            Some([]) | None => Credential::Empty,
            Some(t) => Credential::Token(t),
        },
        _ => Credential::Ambiguous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_spacing() {
        assert_eq!(from_authorization(b"Token abc"), Credential::Token(b"abc"));
        assert_eq!(
            from_authorization(b"bearer   abc"),
            Credential::Token(b"abc")
        );
        assert_eq!(
            from_authorization(b"BEARER abc  "),
            Credential::Token(b"abc")
        );
        assert_eq!(
            from_authorization(b"Basic dXNlcjpwYXNz"),
            Credential::UnsupportedScheme
        );
        assert_eq!(
            from_authorization(b"Digest a=b"),
            Credential::UnsupportedScheme
        );
        assert_eq!(
            from_authorization(b"dbtu_abc"),
            Credential::UnsupportedScheme
        );
        assert_eq!(from_authorization(b"Bearer"), Credential::Empty);
        assert_eq!(from_authorization(b"Bearer   "), Credential::Empty);
        assert_eq!(from_authorization(b"Bearer a b"), Credential::Ambiguous);
        assert_eq!(
            from_authorization(b"Bearer a, Bearer b"),
            Credential::Ambiguous
        );
        assert_eq!(from_authorization(b"Bearer a,b"), Credential::Ambiguous);
        assert_eq!(
            from_authorization(b"Bearer\tabc"),
            Credential::UnsupportedScheme
        );
    }

    #[test]
    fn a_second_credential_behind_another_scheme_is_ambiguous() {
        // Two Authorization lines as Envoy joins them, and the same written by hand.
        for v in [
            &b"Basic dXNlcjpwYXNz,Token dbtu_abc"[..],
            b"Basic dXNlcjpwYXNz, Bearer abc",
            b"Digest username=\"a\", realm=\"r\", Token abc",
            b"Basic x, Negotiate",
            b"a,b,c",
            b"Basic x,\"quoted\"",
        ] {
            assert_eq!(
                from_authorization(v),
                Credential::Ambiguous,
                "{}",
                v.escape_ascii()
            );
        }
        // One credential whose parameters hold commas, quoted or not, is still one.
        for v in [
            &b"Digest username=\"a, Token b\", realm=\"r\""[..],
            b"Digest a=b, c = d,e=\"x\\\"y, Token z\"",
            b"Basic dXNlcjpwYXNz",
            b"Basic x,",
            b"Basic x, ,",
            b"Basic",
        ] {
            assert_eq!(
                from_authorization(v),
                Credential::UnsupportedScheme,
                "{}",
                v.escape_ascii()
            );
        }
    }

    #[test]
    fn repeated_and_query() {
        let mut r = Request::new(b"GET", b"/");
        assert_eq!(extract(&r, None), Credential::Missing);
        r.header(b"authorization", b"Token a");
        assert_eq!(extract(&r, None), Credential::Token(b"a"));
        assert_eq!(extract(&r, Some("token=b")), Credential::Ambiguous);
        assert_eq!(extract(&r, Some("x=1")), Credential::Token(b"a"));
        r.header(b"Authorization", b"Token a");
        assert_eq!(extract(&r, None), Credential::Ambiguous);
        let r = Request::new(b"GET", b"/");
        assert_eq!(extract(&r, Some("a=1&token=t")), Credential::Token(b"t"));
        assert_eq!(extract(&r, Some("token=t&token=u")), Credential::Ambiguous);
        assert_eq!(extract(&r, Some("token=")), Credential::Empty);
        assert_eq!(extract(&r, Some("tokens=t")), Credential::Missing);
        // Keys that decode to `token` are the same parameter to the server behind.
        assert_eq!(extract(&r, Some("%74oken=t")), Credential::Token(b"t"));
        assert_eq!(
            extract(&r, Some("token=t&tok%65n=u")),
            Credential::Ambiguous
        );
        assert_eq!(
            extract(&r, Some("%74%6F%6B%65%6E=t&token=u")),
            Credential::Ambiguous
        );
        assert_eq!(extract(&r, Some("Token=t")), Credential::Missing);
        assert_eq!(extract(&r, Some("%74oke=t&%zzken=u")), Credential::Missing);
    }
}
