//! Token kinds and format inspection (SPEC §1): what a string looks like, without the registry.

use alloc::string::String;
use alloc::vec::Vec;

use crate::jsonout::JsonWriter;

/// The kinds of credential dbt Cloud issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Account-scoped personal access token, `dbtu_…`.
    Pat,
    /// Service account token, `dbtc_…`.
    Service,
    /// Legacy user API key: reaches every account of its user; being retired.
    UserKey,
    /// dbt platform OAuth access token (a JWT); claims are not verified here.
    OAuth,
}

impl Kind {
    /// Every kind, in the order of SPEC §1.
    pub const ALL: [Kind; 4] = [Kind::Pat, Kind::Service, Kind::UserKey, Kind::OAuth];

    /// The kind's name as used everywhere (`pat`, `service`, `user_key`, `oauth`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Pat => "pat",
            Kind::Service => "service",
            Kind::UserKey => "user_key",
            Kind::OAuth => "oauth",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How a person reads the kind in a message.
    pub const fn describe(self) -> &'static str {
        match self {
            Kind::Pat => "personal access tokens",
            Kind::Service => "service tokens",
            Kind::UserKey => "legacy user API keys",
            Kind::OAuth => "OAuth tokens",
        }
    }

    pub(crate) const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The default body length after `dbtu_` / `dbtc_`.
pub const DEFAULT_BODY_LENGTH: usize = 50;
const PAT_PREFIX: &[u8] = b"dbtu_";
const SERVICE_PREFIX: &[u8] = b"dbtc_";

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
        match self {
            ProblemCode::Empty => "The token is empty.",
            ProblemCode::Whitespace => {
                "The token contains whitespace; remove spaces and line breaks before or inside it."
            }
            ProblemCode::SchemeIncluded => {
                "Paste only the token, without the 'Token' or 'Bearer' scheme in front of it."
            }
            ProblemCode::Quoted => "Remove the quotes around the token.",
            ProblemCode::UnknownPrefix => {
                "This is not a dbt Cloud token: personal access tokens start with dbtu_ and service tokens with dbtc_."
            }
            ProblemCode::WrongLength => {
                "The token has a dbt prefix but the wrong length; it may have been cut off or pasted twice."
            }
            ProblemCode::BadCharacter => {
                "The token contains a character dbt tokens never have (only letters, digits, - and _ follow the prefix)."
            }
            ProblemCode::LegacyUserKey => {
                "This looks like a legacy user API key, which is retired: create an account-scoped personal access token under Settings > Access Token, or a service token for production and partner integrations."
            }
            ProblemCode::NotAToken => {
                "This is not a token (it looks like an e-mail address or a URL)."
            }
        }
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
    pub fn to_json(&self) -> String {
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

/// The shape of a clean credential, as the decision needs it (SPEC §6 step 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `dbtu_`/`dbtc_` with a good body.
    Scoped(Kind),
    /// `dbtu_`/`dbtc_` with a wrong body: malformed, whatever the registry says.
    BadScoped,
    /// Three base64url segments, the first starting `eyJ`.
    Jwt,
    /// 40 lowercase hex: looks like a legacy key.
    HexKey,
    /// Printable ASCII of no known shape: a legacy key only if the registry holds it.
    Unknown,
    /// Cannot be any token at all (control or non-ASCII bytes).
    Garbage,
}

/// `[A-Za-z0-9_-]` as a table: checked for every byte of every token on the hot path.
// Evaluated at compile time: a bad index fails the build, never a request.
#[allow(clippy::indexing_slicing)]
const BODY_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    t
};

fn is_body_byte(b: u8) -> bool {
    BODY_BYTES.get(usize::from(b)).copied().unwrap_or(false)
}

fn is_b64url(b: u8) -> bool {
    is_body_byte(b)
}

fn is_jwt(t: &[u8]) -> bool {
    if !t.starts_with(b"eyJ") {
        return false;
    }
    let mut parts = 0;
    for seg in t.split(|&b| b == b'.') {
        parts += 1;
        if seg.is_empty() || !seg.iter().all(|&b| is_b64url(b)) {
            return false;
        }
    }
    parts == 3
}

fn is_hex_key(t: &[u8]) -> bool {
    t.len() == 40
        && t.iter()
            .all(|&b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn scoped_kind(t: &[u8]) -> Option<(Kind, &[u8])> {
    if let Some(body) = t.strip_prefix(PAT_PREFIX) {
        Some((Kind::Pat, body))
    } else {
        t.strip_prefix(SERVICE_PREFIX).map(|b| (Kind::Service, b))
    }
}

/// Classify a credential already taken out of its header.
pub(crate) fn shape(t: &[u8], min: usize, max: usize) -> Shape {
    if let Some((kind, body)) = scoped_kind(t) {
        let ok = (min..=max).contains(&body.len()) && body.iter().all(|&b| is_body_byte(b));
        return if ok {
            Shape::Scoped(kind)
        } else {
            Shape::BadScoped
        };
    }
    if is_jwt(t) {
        Shape::Jwt
    } else if is_hex_key(t) {
        Shape::HexKey
    } else if t.is_empty() || t.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
        Shape::Garbage
    } else {
        Shape::Unknown
    }
}

fn trim_ws(mut t: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = t {
        if first.is_ascii_whitespace() {
            t = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = t {
        if last.is_ascii_whitespace() {
            t = rest;
        } else {
            break;
        }
    }
    t
}

fn strip_quotes(t: &[u8]) -> Option<&[u8]> {
    for q in [b'"', b'\'', b'`'] {
        if t.len() >= 2 && t.first() == Some(&q) && t.last() == Some(&q) {
            return t.get(1..t.len() - 1);
        }
    }
    None
}

fn strip_scheme(t: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"token"[..], b"bearer"] {
        if t.len() > scheme.len()
            && t.get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        {
            let rest = t.get(scheme.len()..)?;
            let after = trim_ws(rest);
            if after.len() < rest.len() || rest.first() == Some(&b':') {
                return Some(trim_ws(rest.strip_prefix(b":").unwrap_or(rest)));
            }
        }
    }
    None
}

/// Whether `token` may be registered as `kind`: only what the decision would look up and accept
/// under that kind (a `dbtu_` token as a `pat`, a `dbtc_` token as a `service`, and as a legacy
/// `user_key` anything printable that is neither). The error says why not; it never holds the token.
pub fn registrable_as(token: &[u8], kind: Kind) -> Result<(), &'static str> {
    let s = shape(token, DEFAULT_BODY_LENGTH, DEFAULT_BODY_LENGTH);
    match (kind, s) {
        (Kind::Pat | Kind::Service, Shape::Scoped(k)) if k == kind => Ok(()),
        (Kind::UserKey, Shape::HexKey | Shape::Unknown) => Ok(()),
        (Kind::OAuth, _) => Err("OAuth tokens are not registered: the upstream verifies them"),
        (_, Shape::Garbage) => Err("it contains whitespace, control or non-ASCII characters"),
        (_, Shape::BadScoped) => Err("it has a dbt prefix but the wrong length or characters"),
        (_, Shape::Jwt) => Err("it is an OAuth token"),
        (Kind::UserKey, Shape::Scoped(_)) => {
            Err("it is a personal access or service token, not a legacy key")
        }
        _ => Err("its prefix belongs to another kind of token"),
    }
}

/// Inspect with the default body length of 50.
pub fn inspect(token: &[u8]) -> Inspection {
    inspect_with(token, DEFAULT_BODY_LENGTH, DEFAULT_BODY_LENGTH)
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
            continue;
        }
        if let Some(inner) = strip_quotes(t) {
            add(ProblemCode::Quoted);
            t = inner;
            continue;
        }
        if let Some(rest) = strip_scheme(t) {
            add(ProblemCode::SchemeIncluded);
            t = rest;
            continue;
        }
        break;
    }
    if t.is_empty() {
        add(ProblemCode::Empty);
        return Inspection {
            kind: None,
            well_formed: false,
            problems,
        };
    }
    if t.iter().any(|b| b.is_ascii_whitespace()) {
        add(ProblemCode::Whitespace);
    }
    let kind = match scoped_kind(t) {
        Some((kind, body)) => {
            let mut compact = body.iter().filter(|b| !b.is_ascii_whitespace());
            if compact.clone().any(|&b| !is_body_byte(b)) {
                add(ProblemCode::BadCharacter);
            }
            if !(min..=max).contains(&compact.by_ref().count()) {
                add(ProblemCode::WrongLength);
            }
            Some(kind)
        }
        None if is_jwt(t) => Some(Kind::OAuth),
        None if is_hex_key(t) => {
            add(ProblemCode::LegacyUserKey);
            Some(Kind::UserKey)
        }
        None => {
            let lower_starts = |p: &[u8]| {
                t.len() >= p.len() && t.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p))
            };
            if t.contains(&b'@') || t.windows(3).any(|w| w == b"://") || lower_starts(b"www.") {
                add(ProblemCode::NotAToken);
            } else if scoped_kind(&t.to_ascii_lowercase()).is_some() {
                // `DBTU_…`: the right token with its prefix in the wrong case.
                add(ProblemCode::UnknownPrefix);
            } else {
                if t.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
                    add(ProblemCode::BadCharacter);
                }
                add(ProblemCode::UnknownPrefix);
            }
            None
        }
    };
    let well_formed = problems
        .iter()
        .all(|p| p.code == ProblemCode::LegacyUserKey)
        && kind.is_some();
    Inspection {
        kind,
        well_formed,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(shape(t.as_bytes(), 40, 60), Shape::Scoped(Kind::Service));
        assert_eq!(shape(t.as_bytes(), 50, 50), Shape::BadScoped);
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
        assert_eq!(shape(b"abc", 50, 50), Shape::Unknown);
        assert_eq!(shape(b"ab\x01", 50, 50), Shape::Garbage);
        assert_eq!(shape("caf\u{e9}".as_bytes(), 50, 50), Shape::Garbage);
        assert_eq!(
            shape(b"0123456789abcdef0123456789abcdef01234567", 50, 50),
            Shape::HexKey
        );
        assert_eq!(shape(b"eyJa.b.c", 50, 50), Shape::Jwt);
        assert_eq!(shape(b"eyJa.b", 50, 50), Shape::Unknown);
        assert_eq!(shape(b"eyJa..c", 50, 50), Shape::Unknown);
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
