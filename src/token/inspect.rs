//! Inspection (SPEC §1): what is wrong with a string a user offers as a token, every problem
//! named, built on the same classification the decision uses.

use alloc::vec::Vec;

use super::{body_problem, is_hex_key, is_jwt, scoped_kind, unprefixed_problem, Kind};
use crate::bytes::starts_with_ignore_case;
use crate::render::json::JsonWriter;

/// A problem inspection found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemCode {
    /// Nothing at all.
    Empty,
    /// Leading, trailing or inner whitespace.
    Whitespace,
    /// `Token …` or `Bearer …` pasted with the token.
    SchemeIncluded,
    /// Wrapped in quotes.
    Quoted,
    /// A prefix no dbt token has.
    UnknownPrefix,
    /// The body after the prefix is too short or too long.
    WrongLength,
    /// A character no token contains.
    BadCharacter,
    /// Looks like a legacy user API key, which is being retired.
    LegacyUserKey,
    /// Something else entirely: an e-mail address, a URL.
    NotAToken,
}

impl ProblemCode {
    /// The code as reported.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProblemCode::Empty => "empty",
            ProblemCode::Whitespace => "whitespace",
            ProblemCode::SchemeIncluded => "scheme_included",
            ProblemCode::Quoted => "quoted",
            ProblemCode::UnknownPrefix => "unknown_prefix",
            ProblemCode::WrongLength => "wrong_length",
            ProblemCode::BadCharacter => "bad_character",
            ProblemCode::LegacyUserKey => "legacy_user_key",
            ProblemCode::NotAToken => "not_a_token",
        }
    }

    /// A plain sentence about the problem; it never repeats the token.
    pub const fn message(self) -> &'static str {
        crate::messages::problem(self)
    }
}

/// One problem found, with its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem.
    pub code: ProblemCode,
    /// A plain sentence; never the token.
    pub message: &'static str,
}

/// What inspection says of one string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// The kind the string is (or, once cleaned of quotes, whitespace and scheme, would be).
    pub kind: Option<Kind>,
    /// True when the string as given is exactly a token of a known shape.
    pub well_formed: bool,
    /// Every problem found, in a stable order.
    pub problems: Vec<Problem>,
}

impl Inspection {
    /// `{"kind":…,"well_formed":…,"problems":[{"code":…,"message":…}]}`.
    pub fn to_json(&self) -> alloc::string::String {
        let mut w = JsonWriter::new();
        w.begin_object();
        w.key("kind");
        w.opt_str(self.kind.map(Kind::as_str));
        w.key("well_formed");
        w.bool(self.well_formed);
        w.key("problems");
        w.begin_array();
        for p in &self.problems {
            w.begin_object();
            w.key("code");
            w.str(p.code.as_str());
            w.key("message");
            w.str(p.message);
            w.end_object();
        }
        w.end_array();
        w.end_object();
        w.finish()
    }
}

fn trim_ws(t: &[u8]) -> &[u8] {
    t.trim_ascii()
}

fn strip_quotes(t: &[u8]) -> Option<&[u8]> {
    for q in [b'"', b'\'', b'`'] {
        if let [first, inner @ .., last] = t {
            if *first == q && *last == q {
                return Some(inner);
            }
        }
    }
    None
}

fn strip_scheme(t: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"token"[..], b"bearer"] {
        if t.len() > scheme.len() && starts_with_ignore_case(t, scheme) {
            let rest = t.get(scheme.len()..)?;
            let after = trim_ws(rest);
            if after.len() < rest.len() || rest.first() == Some(&b':') {
                return Some(trim_ws(rest.strip_prefix(b":").unwrap_or(rest)));
            }
        }
    }
    None
}

/// Inspect with the default body length of 50.
pub fn inspect(token: &[u8]) -> Inspection {
    inspect_with(
        token,
        super::DEFAULT_BODY_LENGTH,
        super::DEFAULT_BODY_LENGTH,
    )
}

/// Inspect a string that a user offers as a token: its kind and every problem (SPEC §1).
pub fn inspect_with(token: &[u8], min: usize, max: usize) -> Inspection {
    let mut problems = Vec::new();
    let mut add = |c: ProblemCode| {
        if !problems.iter().any(|p: &Problem| p.code == c) {
            problems.push(Problem {
                code: c,
                message: c.message(),
            });
        }
    };
    // Peel what people paste around a token, noting each layer, until only the token is left.
    let mut t = token;
    loop {
        let trimmed = trim_ws(t);
        if trimmed.len() != t.len() {
            add(ProblemCode::Whitespace);
            t = trimmed;
        } else if let Some(inner) = strip_quotes(t) {
            add(ProblemCode::Quoted);
            t = inner;
        } else if let Some(rest) = strip_scheme(t) {
            add(ProblemCode::SchemeIncluded);
            t = rest;
        } else {
            break;
        }
    }
    if t.is_empty() {
        add(ProblemCode::Empty);
        return Inspection {
            kind: None,
            well_formed: false,
            problems,
        };
    }
    if t.iter().any(u8::is_ascii_whitespace) {
        add(ProblemCode::Whitespace);
    }
    let kind = match scoped_kind(t) {
        Some((kind, body)) => {
            // Every body problem, not only the first the decision reports.
            if let Some(first) = body_problem(body, min, max) {
                add(first);
                if first == ProblemCode::BadCharacter {
                    let len = body.iter().filter(|b| !b.is_ascii_whitespace()).count();
                    if !(min..=max).contains(&len) {
                        add(ProblemCode::WrongLength);
                    }
                }
            }
            Some(kind)
        }
        None if is_jwt(t) => Some(Kind::OAuth),
        None if is_hex_key(t) => {
            add(ProblemCode::LegacyUserKey);
            Some(Kind::UserKey)
        }
        None => {
            let first = unprefixed_problem(t);
            add(first);
            if first == ProblemCode::BadCharacter {
                add(ProblemCode::UnknownPrefix);
            }
            None
        }
    };
    let well_formed = kind.is_some()
        && problems
            .iter()
            .all(|p| p.code == ProblemCode::LegacyUserKey);
    Inspection {
        kind,
        well_formed,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{classify, registrable_as, Shape};
    use alloc::vec;

    fn codes(t: &str) -> Vec<&'static str> {
        inspect(t.as_bytes())
            .problems
            .iter()
            .map(|p| p.code.as_str())
            .collect()
    }

    const BODY: &str = "aB3_-xYz0123456789aB3_-xYz0123456789aB3_-xYz012345";

    #[test]
    fn body_is_fifty() {
        assert_eq!(BODY.len(), 50);
    }

    #[test]
    fn well_formed_kinds() {
        let pat = alloc::format!("dbtu_{BODY}");
        let svc = alloc::format!("dbtc_{BODY}");
        let i = inspect(pat.as_bytes());
        assert_eq!(
            (i.kind, i.well_formed, i.problems.len()),
            (Some(Kind::Pat), true, 0)
        );
        let i = inspect(svc.as_bytes());
        assert_eq!((i.kind, i.well_formed), (Some(Kind::Service), true));
        let i = inspect(b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl");
        assert_eq!((i.kind, i.well_formed), (Some(Kind::OAuth), true));
        let i = inspect(b"0123456789abcdef0123456789abcdef01234567");
        assert_eq!((i.kind, i.well_formed), (Some(Kind::UserKey), true));
        assert_eq!(
            codes("0123456789abcdef0123456789abcdef01234567"),
            vec!["legacy_user_key"]
        );
    }

    #[test]
    fn each_problem_code() {
        assert_eq!(codes(""), vec!["empty"]);
        assert_eq!(codes(&alloc::format!(" dbtu_{BODY}\n")), vec!["whitespace"]);
        assert_eq!(
            codes(&alloc::format!("Bearer dbtu_{BODY}")),
            vec!["scheme_included"]
        );
        assert_eq!(
            codes(&alloc::format!("token: dbtu_{BODY}")),
            vec!["scheme_included"]
        );
        assert_eq!(codes(&alloc::format!("\"dbtc_{BODY}\"")), vec!["quoted"]);
        assert_eq!(
            codes(&alloc::format!("dbtx_{BODY}")),
            vec!["unknown_prefix"]
        );
        assert_eq!(
            codes(&alloc::format!("DBTU_{BODY}")),
            vec!["unknown_prefix"]
        );
        assert_eq!(
            codes(&alloc::format!("dbtu_{}", &BODY[1..])),
            vec!["wrong_length"]
        );
        assert_eq!(codes(&alloc::format!("dbtu_{BODY}x")), vec!["wrong_length"]);
        assert_eq!(
            codes(&alloc::format!("dbtu_{}!", &BODY[1..])),
            vec!["bad_character"]
        );
        assert_eq!(codes("paul@atreides.com"), vec!["not_a_token"]);
        assert_eq!(codes("https://cloud.getdbt.com/"), vec!["not_a_token"]);
        let inner = alloc::format!("dbtu_{} {}", &BODY[..20], &BODY[20..]);
        assert_eq!(codes(&inner), vec!["whitespace"]);
    }

    #[test]
    fn layers_combine() {
        let t = alloc::format!("  \"Token dbtu_{BODY}\" ");
        let i = inspect(t.as_bytes());
        assert_eq!(i.kind, Some(Kind::Pat));
        assert!(!i.well_formed);
        let got: Vec<_> = i.problems.iter().map(|p| p.code).collect();
        assert_eq!(
            got,
            vec![
                ProblemCode::Whitespace,
                ProblemCode::Quoted,
                ProblemCode::SchemeIncluded
            ]
        );
    }

    #[test]
    fn widened_body_length() {
        let t = alloc::format!("dbtc_{BODY}abc");
        assert!(!inspect(t.as_bytes()).well_formed);
        assert!(inspect_with(t.as_bytes(), 40, 60).well_formed);
        assert_eq!(classify(t.as_bytes(), 40, 60), Shape::Scoped(Kind::Service));
        assert_eq!(
            classify(t.as_bytes(), 50, 50),
            Shape::Malformed(ProblemCode::WrongLength)
        );
    }

    #[test]
    fn registrable_matches_what_the_decision_looks_up() {
        let pat = alloc::format!("dbtu_{BODY}");
        let svc = alloc::format!("dbtc_{BODY}");
        assert_eq!(registrable_as(pat.as_bytes(), Kind::Pat), Ok(()));
        assert_eq!(registrable_as(svc.as_bytes(), Kind::Service), Ok(()));
        assert!(registrable_as(pat.as_bytes(), Kind::Service).is_err());
        assert!(registrable_as(pat.as_bytes(), Kind::UserKey).is_err());
        assert!(registrable_as(b"dbtu_short", Kind::Pat).is_err());
        assert_eq!(
            registrable_as(b"0123456789abcdef0123456789abcdef01234567", Kind::UserKey),
            Ok(())
        );
        assert_eq!(registrable_as(b"Legacy.Key:42", Kind::UserKey), Ok(()));
        // The decision never looks these up, so registering them would be a silent no-op.
        assert!(registrable_as(b"with space", Kind::UserKey).is_err());
        assert!(registrable_as(b"", Kind::UserKey).is_err());
        assert!(registrable_as(b"eyJa.b.c", Kind::UserKey).is_err());
        assert!(registrable_as(b"eyJa.b.c", Kind::OAuth).is_err());
    }

    #[test]
    fn shapes() {
        assert_eq!(
            classify(b"abc", 50, 50),
            Shape::Unknown(ProblemCode::UnknownPrefix)
        );
        assert_eq!(
            classify(b"ab\x01", 50, 50),
            Shape::Malformed(ProblemCode::BadCharacter)
        );
        assert_eq!(
            classify("caf\u{e9}".as_bytes(), 50, 50),
            Shape::Malformed(ProblemCode::BadCharacter)
        );
        assert_eq!(
            classify(b"0123456789abcdef0123456789abcdef01234567", 50, 50),
            Shape::HexKey
        );
        assert_eq!(classify(b"eyJa.b.c", 50, 50), Shape::Jwt);
        assert_eq!(
            classify(b"eyJa.b", 50, 50),
            Shape::Unknown(ProblemCode::UnknownPrefix)
        );
        assert_eq!(
            classify(b"eyJa..c", 50, 50),
            Shape::Unknown(ProblemCode::UnknownPrefix)
        );
    }

    #[test]
    fn messages_never_hold_the_token() {
        for t in [
            &alloc::format!("dbtu_{BODY}x")[..],
            "paul@x.com",
            "dbtx_abc",
            "  ",
        ] {
            for p in inspect(t.as_bytes()).problems {
                assert!(!p.message.contains(t.trim()) || t.trim().is_empty());
            }
        }
    }
}
