//! Token kinds and their shapes (SPEC §1). One classification serves the decision (step 5) and
//! inspection ([`inspect`]), so the two can never read a token differently.

mod inspect;

pub use inspect::{inspect, inspect_with, Inspection, Problem, ProblemCode};

/// The kinds of credential dbt Cloud issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Account-scoped personal access token, `dbtu_…`.
    Pat,
    /// Service account token, `dbtc_…`.
    Service,
    /// Legacy user API key: reaches every account of its user; being retired.
    UserKey,
    /// dbt platform OAuth access token (a JWT).
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

    /// How a person reads the kind in a message (plural).
    pub const fn describe(self) -> &'static str {
        match self {
            Kind::Pat => "personal access tokens",
            Kind::Service => "service tokens",
            Kind::UserKey => "legacy user API keys",
            Kind::OAuth => "OAuth tokens",
        }
    }

    /// Whether a token of this kind is bound to one account.
    pub const fn is_scoped(self) -> bool {
        matches!(self, Kind::Pat | Kind::Service)
    }

    pub(crate) const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of kinds, as routes, deprecations and client rules name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kinds(pub(crate) u8);

impl Kinds {
    /// Every kind.
    pub const ALL: Kinds = Kinds(0x0f);

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The kinds in the set, in SPEC order.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

/// The default body length after `dbtu_` / `dbtc_`.
pub const DEFAULT_BODY_LENGTH: usize = 50;
const PAT_PREFIX: &[u8] = b"dbtu_";
const SERVICE_PREFIX: &[u8] = b"dbtc_";

/// What a credential looks like, as the decision needs it (SPEC §6 step 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `dbtu_`/`dbtc_` with a good body.
    Scoped(Kind),
    /// Three base64url segments, the first starting `eyJ`.
    Jwt,
    /// 40 lowercase hex: looks like a legacy key.
    HexKey,
    /// Printable ASCII of no known shape: a legacy key only if the registry holds it; otherwise
    /// malformed for the reason given.
    Unknown(ProblemCode),
    /// Malformed whatever the registry says: a dbt prefix with a wrong body, or bytes no token has.
    Malformed(ProblemCode),
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

pub(crate) fn is_body_byte(b: u8) -> bool {
    BODY_BYTES.get(usize::from(b)).copied().unwrap_or(false)
}

pub(crate) fn is_jwt(t: &[u8]) -> bool {
    if !t.starts_with(b"eyJ") {
        return false;
    }
    let mut parts = 0;
    for seg in t.split(|&b| b == b'.') {
        parts += 1;
        if seg.is_empty() || !seg.iter().all(|&b| is_body_byte(b)) {
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

pub(crate) fn scoped_kind(t: &[u8]) -> Option<(Kind, &[u8])> {
    if let Some(body) = t.strip_prefix(PAT_PREFIX) {
        Some((Kind::Pat, body))
    } else {
        t.strip_prefix(SERVICE_PREFIX).map(|b| (Kind::Service, b))
    }
}

/// The first problem of a `dbtu_`/`dbtc_` body, whitespace ignored for the length (a token split
/// by a line break is still the right length): bad characters, then the length.
pub(crate) fn body_problem(body: &[u8], min: usize, max: usize) -> Option<ProblemCode> {
    let compact = || body.iter().filter(|b| !b.is_ascii_whitespace());
    if compact().any(|&b| !is_body_byte(b)) {
        Some(ProblemCode::BadCharacter)
    } else if !(min..=max).contains(&compact().count()) {
        Some(ProblemCode::WrongLength)
    } else {
        None
    }
}

/// Why a string without a dbt prefix is not a token, when the registry does not hold it either.
pub(crate) fn unprefixed_problem(t: &[u8]) -> ProblemCode {
    let starts = |p: &[u8]| crate::bytes::starts_with_ignore_case(t, p);
    if t.contains(&b'@') || t.windows(3).any(|w| w == b"://") || starts(b"www.") {
        ProblemCode::NotAToken
    } else if starts(PAT_PREFIX) || starts(SERVICE_PREFIX) {
        // `DBTU_…`: the right token with its prefix in the wrong case.
        ProblemCode::UnknownPrefix
    } else if t.iter().any(|&b| !crate::bytes::is_visible(b)) {
        ProblemCode::BadCharacter
    } else {
        ProblemCode::UnknownPrefix
    }
}

/// Classify a credential already taken out of its header.
pub(crate) fn classify(t: &[u8], min: usize, max: usize) -> Shape {
    let whitespace = t.iter().any(u8::is_ascii_whitespace);
    if let Some((kind, body)) = scoped_kind(t) {
        return match (whitespace, body_problem(body, min, max)) {
            (true, _) => Shape::Malformed(ProblemCode::Whitespace),
            (false, Some(p)) => Shape::Malformed(p),
            (false, None) => Shape::Scoped(kind),
        };
    }
    if is_jwt(t) {
        Shape::Jwt
    } else if is_hex_key(t) {
        Shape::HexKey
    } else if t.is_empty() {
        Shape::Malformed(ProblemCode::Empty)
    } else if whitespace {
        Shape::Malformed(ProblemCode::Whitespace)
    } else if t.iter().any(|&b| !crate::bytes::is_visible(b)) {
        Shape::Malformed(unprefixed_problem(t))
    } else {
        Shape::Unknown(unprefixed_problem(t))
    }
}

/// Whether `token` may be registered as `kind`: only what the decision would look up and accept
/// under that kind (a `dbtu_` token as a `pat`, a `dbtc_` token as a `service`, and as a legacy
/// `user_key` anything printable that is neither). The error says why not; it never holds the token.
pub fn registrable_as(token: &[u8], kind: Kind) -> Result<(), &'static str> {
    let s = classify(token, DEFAULT_BODY_LENGTH, DEFAULT_BODY_LENGTH);
    match (kind, s) {
        (Kind::Pat | Kind::Service, Shape::Scoped(k)) if k == kind => Ok(()),
        (Kind::UserKey, Shape::HexKey | Shape::Unknown(_)) => Ok(()),
        (Kind::OAuth, _) => Err("OAuth tokens are not registered: they are verified by signature"),
        (_, Shape::Malformed(_)) if scoped_kind(token).is_some() => {
            Err("it has a dbt prefix but the wrong length or characters")
        }
        (_, Shape::Malformed(_)) => Err("it contains whitespace, control or non-ASCII characters"),
        (_, Shape::Jwt) => Err("it is an OAuth token"),
        (Kind::UserKey, Shape::Scoped(_)) => {
            Err("it is a personal access or service token, not a legacy key")
        }
        _ => Err("its prefix belongs to another kind of token"),
    }
}

/// Whether a registry entry of `kind` can stand for a token of this shape (SPEC §6 step 7): a
/// `dbtu_`/`dbtc_` token only as its own kind, an unprefixed string only as a legacy key.
pub(crate) fn entry_fits(shape: Shape, kind: Kind) -> bool {
    match shape {
        Shape::Scoped(k) => k == kind,
        Shape::HexKey | Shape::Unknown(_) => kind == Kind::UserKey,
        Shape::Jwt | Shape::Malformed(_) => false,
    }
}
