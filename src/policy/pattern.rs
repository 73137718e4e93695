//! Path patterns of routes and deprecated endpoints: literal segments, `*` for exactly one segment,
//! a trailing `**` for any rest. A trailing slash is optional on both sides, so `/run` cannot slip
//! past a rule written for `/run/`.

use alloc::string::String;
use alloc::vec::Vec;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
}

/// A parsed path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
    rest: bool,
}

fn strip_trailing_slash(p: &str) -> &str {
    if p.len() > 1 {
        p.strip_suffix('/').unwrap_or(p)
    } else {
        p
    }
}

impl Pattern {
    /// Parse a pattern; the error says why it is not one.
    pub fn parse(p: &str) -> Result<Pattern, &'static str> {
        if !p.starts_with('/') {
            return Err("a path pattern starts with '/'");
        }
        if p.bytes()
            .any(|b| !(0x21..0x7f).contains(&b) || b == b'?' || b == b'#' || b == b'%')
        {
            return Err("a path pattern holds printable ASCII only, without '?', '#' or '%'");
        }
        if p.contains("//") {
            return Err("a path pattern has no empty segments ('//')");
        }
        let body = strip_trailing_slash(p);
        let mut segments = Vec::new();
        let mut rest = false;
        if body != "/" {
            let parts: Vec<&str> = body.split('/').skip(1).collect();
            for (i, seg) in parts.iter().enumerate() {
                match *seg {
                    "" => return Err("a path pattern has no empty segments ('//')"),
                    "**" if i + 1 == parts.len() => rest = true,
                    "**" => return Err("'**' may only be the last segment"),
                    "*" => segments.push(Segment::One),
                    s if s.contains('*') => {
                        return Err("'*' stands for a whole segment, not part of one")
                    }
                    "." | ".." => return Err("a path pattern has no dot segments"),
                    s => segments.push(Segment::Literal(s.into())),
                }
            }
        }
        Ok(Pattern { segments, rest })
    }

    /// Whether `path` (no query; already checked unambiguous) matches. Works on bytes, one pass:
    /// this runs for every route and deprecation on every request.
    pub fn matches(&self, path: &str) -> bool {
        let body = strip_trailing_slash(path).as_bytes();
        // The segments after the leading '/'; none for the root.
        let mut rest = match body {
            b"/" => None,
            _ => body.get(1..),
        };
        for seg in &self.segments {
            let Some(r) = rest else {
                return false;
            };
            let (s, next) = match r.iter().position(|&b| b == b'/') {
                Some(i) => (r.get(..i).unwrap_or_default(), r.get(i + 1..)),
                None => (r, None),
            };
            let ok = match seg {
                Segment::One => !s.is_empty(),
                Segment::Literal(l) => l.as_bytes() == s,
            };
            if !ok {
                return false;
            }
            rest = next;
        }
        self.rest || rest.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Pattern::parse(p).unwrap().matches(path)
    }

    #[test]
    fn literal_with_or_without_slash() {
        assert!(m("/api/v2/accounts/", "/api/v2/accounts/"));
        assert!(m("/api/v2/accounts/", "/api/v2/accounts"));
        assert!(m("/api/v2/accounts", "/api/v2/accounts/"));
        assert!(!m("/api/v2/accounts/", "/api/v2/accounts/1/"));
        assert!(!m("/api/v2/accounts/", "/api/v2/account"));
        assert!(m("/", "/"));
        assert!(!m("/", "/x"));
    }

    #[test]
    fn one_segment_star() {
        let p = "/api/v2/accounts/*/jobs/*/run/";
        assert!(m(p, "/api/v2/accounts/1/jobs/2/run/"));
        assert!(m(p, "/api/v2/accounts/1/jobs/2/run"));
        assert!(!m(p, "/api/v2/accounts/1/jobs/run/"));
        assert!(!m(p, "/api/v2/accounts/1/jobs/2/run/x"));
    }

    #[test]
    fn double_star_rest() {
        assert!(m("/api/**", "/api"));
        assert!(m("/api/**", "/api/"));
        assert!(m("/api/**", "/api/a/b/c"));
        assert!(!m("/api/**", "/apix"));
        assert!(m("/**", "/"));
        assert!(m("/**", "/anything/at/all"));
    }

    #[test]
    fn bad_patterns() {
        for p in [
            "api", "/a/**/b", "/a/b*", "/a//b", "/a/../b", "/a?b", "/a%2f",
        ] {
            assert!(Pattern::parse(p).is_err(), "{p}");
        }
    }
}
