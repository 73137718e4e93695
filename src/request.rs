//! The request as the decision sees it: borrowed pieces of the HTTP request, the unambiguous path,
//! and the account the path or the host names (SPEC §5).

use crate::hosts::Hosts;

/// The parts of one HTTP request that the decision reads. Borrowed: nothing is copied.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    pub(crate) method: &'a [u8],
    pub(crate) target: &'a [u8],
    pub(crate) authority: Option<&'a [u8]>,
    pub(crate) host: Option<&'a [u8]>,
    pub(crate) authorization: Option<&'a [u8]>,
    pub(crate) authorization_count: u32,
    pub(crate) accept: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// A request for `target`, the request-target as sent: path plus optional query (Envoy's `:path`).
    pub fn new(method: &'a [u8], target: &'a [u8]) -> Self {
        Request {
            method,
            target,
            ..Request::default()
        }
    }

    /// From an absolute URL (`https://ab123.us1.dbt.com/api/...`) or a bare path.
    pub fn from_url(method: &'a [u8], url: &'a str) -> Self {
        let lower_scheme = |p: &str| {
            url.len() >= p.len()
                && url
                    .get(..p.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(p))
        };
        let rest = if lower_scheme("https://") {
            url.get(8..)
        } else if lower_scheme("http://") {
            url.get(7..)
        } else {
            None
        };
        match rest {
            Some(rest) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let (authority, target) = rest.split_at(end);
                // Userinfo is not an authority we name accounts by.
                let authority = authority.rsplit('@').next().unwrap_or(authority);
                let target = if target.is_empty() { "/" } else { target };
                let mut r = Request::new(method, target.as_bytes());
                r.authority = Some(authority.as_bytes());
                r
            }
            None => Request::new(method, url.as_bytes()),
        }
    }

    /// Offer one request header; the name is case-insensitive. Keeps what the decision reads and
    /// counts repeated `Authorization` lines; ignores everything else.
    pub fn header(&mut self, name: &'a [u8], value: &'a [u8]) {
        if name.eq_ignore_ascii_case(b"authorization") {
            self.authorization_count = self.authorization_count.saturating_add(1);
            if self.authorization.is_none() {
                self.authorization = Some(value);
            }
        } else if name.eq_ignore_ascii_case(b":authority") {
            self.authority = Some(value);
        } else if name.eq_ignore_ascii_case(b"host") {
            self.host = Some(value);
        } else if name.eq_ignore_ascii_case(b"accept") {
            self.accept = Some(value);
        }
    }

    /// Whether the client asked for RFC 9457 problem details.
    pub(crate) fn wants_problem_json(&self) -> bool {
        let Some(accept) = self.accept else {
            return false;
        };
        accept.split(|&b| b == b',').any(|range| {
            let mut params = range.split(|&b| b == b';');
            let media = trim(params.next().unwrap_or_default());
            media.eq_ignore_ascii_case(b"application/problem+json")
                && !params.any(|p| {
                    let p = trim(p);
                    p.len() >= 2
                        && p.get(..2).is_some_and(|k| k.eq_ignore_ascii_case(b"q="))
                        && p.iter().skip(2).all(|&b| b == b'0' || b == b'.')
                })
        })
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// A request-target split into an unambiguous path and its query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// Why a path was refused as ambiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ambiguity {
    NotAPath,
    ControlOrNonAscii,
    DotSegment,
    EmptySegment,
    Backslash,
    EncodedSeparator,
    BadPercent,
    Fragment,
    AccountOverflow,
}

impl Ambiguity {
    pub(crate) const fn message(self) -> &'static str {
        match self {
            Ambiguity::NotAPath => "The request path must start with '/'.",
            Ambiguity::ControlOrNonAscii => {
                "The request path contains control characters, spaces or non-ASCII bytes."
            }
            Ambiguity::DotSegment => "The request path contains '.' or '..' segments.",
            Ambiguity::EmptySegment => "The request path contains an empty segment ('//').",
            Ambiguity::Backslash => "The request path contains a backslash.",
            Ambiguity::EncodedSeparator => {
                "The request path percent-encodes a character that servers decode differently ('/', '.', '\\', unreserved or control characters)."
            }
            Ambiguity::BadPercent => "The request path has a '%' that is not followed by two hex digits.",
            Ambiguity::Fragment => "The request target contains a fragment ('#').",
            Ambiguity::AccountOverflow => "The account id in the request path is too large.",
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Split and check a request-target: anything that two servers could read as different paths is
/// refused, so that the path the edge matched is the path the API serves. One pass over the bytes:
/// this runs on every request.
pub(crate) fn parse_target(target: &[u8]) -> Result<Target<'_>, Ambiguity> {
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(i) => (
            target.get(..i).unwrap_or_default(),
            Some(target.get(i + 1..).unwrap_or_default()),
        ),
        None => (target, None),
    };
    if let Some(q) = query {
        if q.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
            return Err(Ambiguity::ControlOrNonAscii);
        }
        if q.contains(&b'#') {
            return Err(Ambiguity::Fragment);
        }
    }
    if path.first() != Some(&b'/') {
        return if path.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
            Err(Ambiguity::ControlOrNonAscii)
        } else {
            Err(Ambiguity::NotAPath)
        };
    }
    // Where the current segment started, just after its '/'.
    let mut seg_start = 1;
    let mut i = 1;
    let segment_end = |start: usize, end: usize| -> Result<(), Ambiguity> {
        match path.get(start..end) {
            Some(b".") | Some(b"..") => Err(Ambiguity::DotSegment),
            _ => Ok(()),
        }
    };
    while let Some(&b) = path.get(i) {
        match b {
            b'/' => {
                if i == seg_start {
                    return Err(Ambiguity::EmptySegment);
                }
                segment_end(seg_start, i)?;
                seg_start = i + 1;
            }
            b'\\' => return Err(Ambiguity::Backslash),
            b'#' => return Err(Ambiguity::Fragment),
            b'%' => {
                let hi = path.get(i + 1).copied().and_then(hex_val);
                let lo = path.get(i + 2).copied().and_then(hex_val);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(Ambiguity::BadPercent);
                };
                let c = hi << 4 | lo;
                // Decoding any of these changes how the path splits or what it names.
                if c == b'/'
                    || c == b'\\'
                    || c == b'%'
                    || c < 0x20
                    || c == 0x7f
                    || c.is_ascii_alphanumeric()
                    || matches!(c, b'.' | b'-' | b'_' | b'~')
                {
                    return Err(Ambiguity::EncodedSeparator);
                }
                i += 2;
            }
            0x21..=0x7e => {}
            _ => return Err(Ambiguity::ControlOrNonAscii),
        }
        i += 1;
    }
    segment_end(seg_start, path.len())?;
    // Every byte checked is printable ASCII, so both halves are UTF-8.
    let path = core::str::from_utf8(path).map_err(|_| Ambiguity::ControlOrNonAscii)?;
    let query = match query {
        Some(q) => Some(core::str::from_utf8(q).map_err(|_| Ambiguity::ControlOrNonAscii)?),
        None => None,
    };
    Ok(Target { path, query })
}

/// The account `/api/v<N>/accounts/<digits>` names, when followed by `/`, `?` or the end.
/// Digits that do not fit a u64 are an ambiguity: they are never let through unbound.
pub(crate) fn path_account(path: &str) -> Result<Option<u64>, Ambiguity> {
    let Some(rest) = path.strip_prefix("/api/v") else {
        return Ok(None);
    };
    let version_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if version_len == 0 {
        return Ok(None);
    }
    let Some(rest) = rest
        .get(version_len..)
        .and_then(|r| r.strip_prefix("/accounts/"))
    else {
        return Ok(None);
    };
    let n = rest.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || !matches!(rest.as_bytes().get(n), None | Some(b'/')) {
        return Ok(None);
    }
    let digits = rest.get(..n).unwrap_or_default();
    digits
        .parse::<u64>()
        .map(Some)
        .map_err(|_| Ambiguity::AccountOverflow)
}

/// The account the host's first DNS label names (port and case ignored).
pub(crate) fn host_account(authority: Option<&[u8]>, hosts: &Hosts) -> Option<u64> {
    let authority = authority?;
    if hosts.is_empty() || authority.first() == Some(&b'[') {
        return None;
    }
    let host = authority.split(|&b| b == b':').next().unwrap_or_default();
    let label = host.split(|&b| b == b'.').next().unwrap_or_default();
    hosts.lookup(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_path_and_query() {
        let t = parse_target(b"/api/v2/accounts/1/?token=x").unwrap();
        assert_eq!((t.path, t.query), ("/api/v2/accounts/1/", Some("token=x")));
    }

    #[test]
    fn every_ambiguous_form() {
        use Ambiguity::*;
        let cases: &[(&[u8], Ambiguity)] = &[
            (b"/api/./v2", DotSegment),
            (b"/api/../v2", DotSegment),
            (b"/api/v2/..", DotSegment),
            (b"/api/v2/.", DotSegment),
            (b"/api/v2/accounts%2f1", EncodedSeparator),
            (b"/api/v2/accounts%2F1", EncodedSeparator),
            (b"/api/%2e%2e/v2", EncodedSeparator),
            (b"/api/%2E/v2", EncodedSeparator),
            (b"/api%5cv2", EncodedSeparator),
            (b"/api%5Cv2", EncodedSeparator),
            (b"/api/v2/%61ccounts/", EncodedSeparator),
            (b"/api/%00", EncodedSeparator),
            (b"/api/%zz", BadPercent),
            (b"/api/%2", BadPercent),
            (b"/api\\v2", Backslash),
            (b"/api/\x00/v2", ControlOrNonAscii),
            (b"/api/\x1f", ControlOrNonAscii),
            (b"/api/\x7f", ControlOrNonAscii),
            (b"/api/ v2", ControlOrNonAscii),
            (b"/api/\xc3\xa9", ControlOrNonAscii),
            (b"/api//v2", EmptySegment),
            (b"api/v2", NotAPath),
            (b"*", NotAPath),
            (b"/a#b", Fragment),
        ];
        for (t, want) in cases {
            assert_eq!(parse_target(t), Err(*want), "{}", t.escape_ascii());
        }
        // Encoded characters that do not change the path's structure stay allowed.
        assert!(parse_target(b"/api/v2/name%20with%20space").is_ok());
        assert!(parse_target(b"/api/v2/x?next=/a/../b%2f").is_ok());
        assert!(parse_target(b"/api/v2/caf%C3%A9").is_ok());
    }

    #[test]
    fn account_from_path() {
        assert_eq!(
            path_account("/api/v2/accounts/70471823510118/"),
            Ok(Some(70_471_823_510_118))
        );
        assert_eq!(path_account("/api/v3/accounts/12"), Ok(Some(12)));
        assert_eq!(path_account("/api/v2/accounts/"), Ok(None));
        assert_eq!(path_account("/api/v2/accounts/12abc/"), Ok(None));
        assert_eq!(path_account("/api/vx/accounts/12/"), Ok(None));
        assert_eq!(path_account("/x/api/v2/accounts/12/"), Ok(None));
        assert_eq!(
            path_account("/api/v2/accounts/18446744073709551615/"),
            Ok(Some(u64::MAX))
        );
        assert_eq!(
            path_account("/api/v2/accounts/18446744073709551616/"),
            Err(Ambiguity::AccountOverflow)
        );
        // Above 2^53: exact, no float on the way.
        assert_eq!(
            path_account("/api/v2/accounts/9007199254740993"),
            Ok(Some(9_007_199_254_740_993))
        );
    }

    #[test]
    fn problem_json_accept() {
        let mut r = Request::new(b"GET", b"/");
        assert!(!r.wants_problem_json());
        r.header(b"Accept", b"text/html, Application/Problem+JSON;q=0.9");
        assert!(r.wants_problem_json());
        r.header(b"accept", b"application/problem+json;q=0");
        assert!(!r.wants_problem_json());
        r.header(b"accept", b"application/json");
        assert!(!r.wants_problem_json());
    }

    #[test]
    fn from_url_forms() {
        let r = Request::from_url(
            b"GET",
            "https://AB123.us1.dbt.com:443/api/v2/accounts/1/?x=1",
        );
        assert_eq!(r.authority, Some(&b"AB123.us1.dbt.com:443"[..]));
        assert_eq!(r.target, b"/api/v2/accounts/1/?x=1");
        let r = Request::from_url(b"GET", "http://u:p@ab123.dbt.com");
        assert_eq!(
            (r.authority, r.target),
            (Some(&b"ab123.dbt.com"[..]), &b"/"[..])
        );
        let r = Request::from_url(b"GET", "/health");
        assert_eq!((r.authority, r.target), (None, &b"/health"[..]));
    }
}
