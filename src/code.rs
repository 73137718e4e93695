//! The codes of a decision (SPEC §8) and the status each one carries.

/// The outcome of a decision: `Ok` or the reason for a denial.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// Allowed.
    Ok,
    /// The path reads differently on different servers, or the credential is ambiguous.
    InvalidRequest,
    /// No credential at all.
    MissingToken,
    /// An Authorization scheme other than `Token` or `Bearer`.
    UnsupportedScheme,
    /// A credential that cannot be a token.
    MalformedToken,
    /// An OAuth token where the policy rejects them.
    UnsupportedToken,
    /// A well-formed token the registry does not hold.
    InvalidToken,
    /// A token the registry marks revoked.
    RevokedToken,
    /// A token past its `expires_at`.
    ExpiredToken,
    /// A legacy user API key past its sunset.
    UserKeyRetired,
    /// A token kind the route does not take.
    TokenKindNotAllowed,
    /// The token (or the host) names another account than the request.
    AccountMismatch,
    /// A deprecated endpoint past its sunset.
    EndpointSunset,
    /// The registry is fetched from elsewhere and has not loaded yet (an extension to SPEC §8).
    RegistryUnavailable,
    /// OAuth tokens are verified with a key set fetched from elsewhere that has not loaded yet (SPEC §8).
    JwksUnavailable,
}

impl Code {
    /// Every code, `Ok` first.
    pub const ALL: [Code; 15] = [
        Code::Ok,
        Code::InvalidRequest,
        Code::MissingToken,
        Code::UnsupportedScheme,
        Code::MalformedToken,
        Code::UnsupportedToken,
        Code::InvalidToken,
        Code::RevokedToken,
        Code::ExpiredToken,
        Code::UserKeyRetired,
        Code::TokenKindNotAllowed,
        Code::AccountMismatch,
        Code::EndpointSunset,
        Code::RegistryUnavailable,
        Code::JwksUnavailable,
    ];

    /// The code as it appears on the wire and in decisions.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::InvalidRequest => "invalid_request",
            Code::MissingToken => "missing_token",
            Code::UnsupportedScheme => "unsupported_scheme",
            Code::MalformedToken => "malformed_token",
            Code::UnsupportedToken => "unsupported_token",
            Code::InvalidToken => "invalid_token",
            Code::RevokedToken => "revoked_token",
            Code::ExpiredToken => "expired_token",
            Code::UserKeyRetired => "user_key_retired",
            Code::TokenKindNotAllowed => "token_kind_not_allowed",
            Code::AccountMismatch => "account_mismatch",
            Code::EndpointSunset => "endpoint_sunset",
            Code::RegistryUnavailable => "registry_unavailable",
            Code::JwksUnavailable => "jwks_unavailable",
        }
    }

    /// The HTTP status a denial with this code carries (200 for `Ok`).
    pub const fn status(self) -> u16 {
        match self {
            Code::Ok => 200,
            Code::InvalidRequest => 400,
            Code::MissingToken
            | Code::UnsupportedScheme
            | Code::MalformedToken
            | Code::UnsupportedToken
            | Code::InvalidToken
            | Code::RevokedToken
            | Code::ExpiredToken
            | Code::UserKeyRetired => 401,
            Code::TokenKindNotAllowed | Code::AccountMismatch => 403,
            Code::EndpointSunset => 410,
            Code::RegistryUnavailable | Code::JwksUnavailable => 503,
        }
    }

    /// A short human title, used as the RFC 9457 `title`.
    pub const fn title(self) -> &'static str {
        match self {
            Code::Ok => "Allowed",
            Code::InvalidRequest => "Invalid request",
            Code::MissingToken => "Missing token",
            Code::UnsupportedScheme => "Unsupported authorization scheme",
            Code::MalformedToken => "Malformed token",
            Code::UnsupportedToken => "Unsupported token",
            Code::InvalidToken => "Invalid token",
            Code::RevokedToken => "Revoked token",
            Code::ExpiredToken => "Expired token",
            Code::UserKeyRetired => "User API key retired",
            Code::TokenKindNotAllowed => "Token kind not allowed",
            Code::AccountMismatch => "Account mismatch",
            Code::EndpointSunset => "Endpoint retired",
            Code::RegistryUnavailable => "Token registry unavailable",
            Code::JwksUnavailable => "OAuth key set unavailable",
        }
    }
}

impl core::fmt::Display for Code {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
