//! Every sentence a user or operator reads, in one place, one wording each. Messages never hold a
//! token, a digest, or a value a client sent.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;

use crate::request::Ambiguity;
use crate::time::date;
use crate::token::{Kind, Kinds, ProblemCode};

/// What to do instead of a legacy user API key (the source document's advice).
macro_rules! user_key_advice {
    () => {
        "create an account-scoped personal access token under Settings > Access Token, or use a service token for production and partner integrations"
    };
}

/// Why a request was decided as it was, before it is worded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason<'p> {
    Allowed,
    Public,
    /// Allowed inside a deprecation window that ends at `sunset`.
    Deprecated(Subject, i64),
    Ambiguous(Ambiguity),
    EndpointRetired(i64),
    MissingToken,
    TwoCredentials,
    UnsupportedScheme,
    EmptyCredential,
    Malformed(ProblemCode),
    OAuthRejected,
    /// An OAuth token failed one of SPEC §11's checks.
    OAuthInvalid(crate::oauth::VerifyError),
    UnknownToken,
    Revoked,
    Expired(i64),
    RegistryUnavailable,
    JwksUnavailable,
    UserKeyRetired(i64),
    KindNotAllowed(Kind, Kinds),
    /// A client rule refused the kind: its advice is the message.
    ClientRule(&'p str),
    HostPathMismatch,
    AccountMismatch,
}

/// What a deprecation window is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Subject {
    UserKeys,
    Endpoint,
}

impl Reason<'_> {
    /// The plain sentence for the user.
    pub(crate) fn message(&self) -> Cow<'static, str> {
        use Reason::*;
        Cow::Borrowed(match *self {
            Allowed => "Allowed.",
            Public => "Allowed: this route needs no token.",
            Deprecated(s, sunset) => return Cow::Owned(deprecated(s, sunset)),
            Ambiguous(a) => ambiguity(a),
            EndpointRetired(at) => return Cow::Owned(format!(
                "This endpoint was retired on {}. Call the account-scoped endpoints with a token created in that account.",
                date(at)
            )),
            MissingToken => "This request needs an API token: send it as 'Authorization: Token <token>'.",
            TwoCredentials => "The request carries more than one credential; send exactly one token.",
            UnsupportedScheme => "Send the token with the Token or Bearer scheme: 'Authorization: Token <token>'.",
            EmptyCredential => "The credential is empty: put the token after the scheme.",
            Malformed(p) => return Cow::Owned(format!("The token is malformed. {}", problem(p))),
            OAuthRejected => "OAuth access tokens are not accepted here; use a personal access token or a service token.",
            OAuthInvalid(e) => return Cow::Owned(format!("This OAuth token failed verification: {}.", e.message())),
            UnknownToken => "The token is not recognised; it may have been deleted, or mistyped.",
            Revoked => "The token has been revoked; create a new one.",
            Expired(at) => return Cow::Owned(format!("The token expired on {}; create a new one.", date(at))),
            RegistryUnavailable => "Tokens cannot be checked yet because the token registry has not loaded; try again shortly.",
            JwksUnavailable => "OAuth tokens cannot be verified yet because the key set has not loaded; try again shortly.",
            UserKeyRetired(at) => return Cow::Owned(format!(
                concat!("Legacy user API keys were retired on {}: ", user_key_advice!(), "."),
                date(at)
            )),
            KindNotAllowed(kind, accepted) => return Cow::Owned(format!(
                "This endpoint does not accept {}; it accepts {}.",
                kind.describe(),
                kinds_list(accepted)
            )),
            ClientRule(advice) => return Cow::Owned(String::from(advice)),
            HostPathMismatch => "The host and the path name different accounts.",
            AccountMismatch => "This token is not valid for this account. Tokens are account-scoped: create a token in the account you are calling.",
        })
    }
}

fn deprecated(subject: Subject, sunset: i64) -> String {
    match subject {
        Subject::UserKeys => format!(
            concat!(
                "Allowed, but legacy user API keys are deprecated and will stop working on {}; ",
                user_key_advice!(),
                "."
            ),
            date(sunset)
        ),
        Subject::Endpoint => format!(
            "Allowed, but this endpoint is deprecated and will stop working on {}.",
            date(sunset)
        ),
    }
}

/// `personal access tokens and service tokens`, `no tokens`, …
pub(crate) fn kinds_list(kinds: Kinds) -> String {
    let mut out = String::new();
    let names: [Option<&str>; 4] = Kind::ALL.map(|k| kinds.contains(k).then(|| k.describe()));
    let total = names.iter().flatten().count();
    for (i, name) in names.iter().flatten().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == total { " and " } else { ", " });
        }
        out.push_str(name);
    }
    if out.is_empty() {
        out.push_str("no tokens");
    }
    out
}

/// The advice a client rule gives when its policy entry has none of its own.
pub(crate) fn client_advice(name: &str, expect: Kinds) -> String {
    format!(
        "{name} should call with {}; this token is of another kind.",
        kinds_list(expect)
    )
}

/// A sentence for each problem inspection finds.
pub(crate) const fn problem(p: ProblemCode) -> &'static str {
    match p {
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
        ProblemCode::LegacyUserKey => concat!(
            "This looks like a legacy user API key, which is retired: ",
            user_key_advice!(),
            "."
        ),
        ProblemCode::NotAToken => "This is not a token (it looks like an e-mail address or a URL).",
    }
}

/// A sentence for each way a request is ambiguous.
pub(crate) const fn ambiguity(a: Ambiguity) -> &'static str {
    match a {
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
        Ambiguity::AccountNotDigits => {
            "The account id in the request path must be plain digits (no sign, spaces, underscores or other characters)."
        }
        Ambiguity::HostRepeated => "The request names its host more than once.",
        Ambiguity::HostMalformed => "The request's host is not a well-formed host name.",
        Ambiguity::TooManyHeaders => "The request carries too many headers to check.",
    }
}
