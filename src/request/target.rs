//! The request-target (SPEC §5): a path no two servers read differently, its query, the same
//! path without a format suffix (`/run.json` is served as `/run`), and the account it names.

use crate::bytes::hex_val;

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
    /// The segment after `/accounts/` is not plain digits but a lenient number parser (Python's
    /// `int()`) could read it as one: a sign, `_`, spaces, non-ASCII digits, a digit run with more.
    AccountNotDigits,
    /// More than one `Host` / `:authority`, or two that disagree.
    HostRepeated,
    /// A host that is not `name[:port]` of DNS labels (or an IP literal).
    HostMalformed,
    /// More distinct header names than the edge keeps track of.
    TooManyHeaders,
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

/// The path as the decision reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PathView<'a> {
    /// The path as sent, without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The path with the last segment's format suffix (`.json`) removed, when it has one: the
    /// API framework serves both as the same view, so restrictive rules match both.
    pub unsuffixed: Option<&'a str>,
    /// The account `/api/v<N>/accounts/<digits>` names.
    pub account: Option<u64>,
}

impl<'a> PathView<'a> {
    /// The path, then its unsuffixed form: every reading a restrictive rule must consider.
    pub fn readings(&self) -> impl Iterator<Item = &'a str> {
        core::iter::once(self.path).chain(self.unsuffixed)
    }
}

/// Check the target and read its path (step 2).
pub(crate) fn read_path(target: &[u8]) -> Result<PathView<'_>, Ambiguity> {
    let t = parse_target(target)?;
    let unsuffixed = without_format_suffix(t.path);
    let account = path_account(unsuffixed.unwrap_or(t.path))?;
    Ok(PathView {
        path: t.path,
        query: t.query,
        unsuffixed,
        account,
    })
}

/// `…/run.json` → `…/run`, `…/accounts.json/` → `…/accounts/`: the format suffix Django REST
/// framework's `format_suffix_patterns` reads (`\.[a-z0-9]+/?$`, matched case-insensitively here
/// to fail closed). `None` when the last segment has none.
fn without_format_suffix(path: &str) -> Option<&str> {
    let body = path.strip_suffix('/').unwrap_or(path);
    let last_start = body.rfind('/').map_or(0, |i| i + 1);
    let dot = body.rfind('.').filter(|&d| d > last_start)?;
    let ext = body.get(dot + 1..)?;
    if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    // Patterns ignore a trailing slash, so `/accounts.json/` reads as `/accounts`.
    body.get(..dot)
}

/// Whether a lenient number parser could read `seg` as a number although it is not plain digits:
/// it begins with what `int()` skips or accepts (sign, `_`, white space, a digit) or with a
/// percent-encoded byte (a non-ASCII digit or space once decoded).
fn number_like(seg: &str) -> bool {
    seg.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'_' | b'%'))
}

/// The account `/api/v<N>/accounts/<segment>` names. Plain ASCII digits name an account; a
/// segment a lenient parser could read as a number is ambiguous; anything else names none.
fn path_account(path: &str) -> Result<Option<u64>, Ambiguity> {
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
    let seg = rest.split('/').next().unwrap_or_default();
    if seg.is_empty() {
        return Ok(None);
    }
    if !seg.bytes().all(|b| b.is_ascii_digit()) {
        return if number_like(seg) {
            Err(Ambiguity::AccountNotDigits)
        } else {
            Ok(None)
        };
    }
    seg.parse::<u64>()
        .map(Some)
        .map_err(|_| Ambiguity::AccountOverflow)
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
        assert_eq!(
            path_account("/api/v2/accounts/12abc/"),
            Err(Ambiguity::AccountNotDigits)
        );
        assert_eq!(path_account("/api/v2/accounts/me/"), Ok(None));
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
    fn lenient_numbers_are_ambiguous() {
        for seg in [
            "+9007199254740993",
            "-1",
            "9_007_199_254_740_993",
            "%2B12",
            "%20123",
            "123%20",
            "%D9%A3",
            "%EF%BC%91",
            "0x10",
            "12abc",
            "_1",
        ] {
            let path = alloc::format!("/api/v2/accounts/{seg}/jobs/");
            assert_eq!(
                read_path(path.as_bytes()).map(|p| p.account),
                Err(Ambiguity::AccountNotDigits),
                "{seg}"
            );
        }
    }

    #[test]
    fn format_suffixes_read_through() {
        let p = read_path(b"/api/v2/accounts.json").unwrap();
        assert_eq!(
            (p.path, p.unsuffixed),
            ("/api/v2/accounts.json", Some("/api/v2/accounts"))
        );
        let p = read_path(b"/api/v2/accounts/1/jobs/42/run.json/").unwrap();
        assert_eq!(p.unsuffixed, Some("/api/v2/accounts/1/jobs/42/run"));
        assert_eq!(p.account, Some(1));
        let p = read_path(b"/api/v2/accounts/9007199254740993.json?x=1").unwrap();
        assert_eq!(
            (p.account, p.query),
            (Some(9_007_199_254_740_993), Some("x=1"))
        );
        assert_eq!(read_path(b"/api/v2/accounts/").unwrap().unsuffixed, None);
        assert_eq!(read_path(b"/api/v2/x.y-z/").unwrap().unsuffixed, None);
        // A suffix on a segment that is not the last is no format suffix: fail closed.
        assert_eq!(
            read_path(b"/api/v2/accounts/12.json/jobs/").map(|p| p.account),
            Err(Ambiguity::AccountNotDigits)
        );
    }
}
