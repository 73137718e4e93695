//! One function a step of SPEC §6. Each takes what the steps before it found and returns what the
//! steps after it need, or a [`Refusal`] that says why (worded later, in `messages`).

use crate::bytes::same_header_name;
use crate::code::Code;
use crate::messages::{Reason, Subject};
use crate::policy::{sha256, ClientAction, Deprecation, OAuth, Policy, TokenId, FORWARDED_HEADER};
use crate::request::credential::{extract, Credential};
use crate::request::{authority, host_account, read_path, Ambiguity, PathView, Request};
use crate::token::{classify, entry_fits, Kind, Kinds, Shape};

use super::outcome::{ClientMatch, Presented, Refusal, Token};

/// Step 1: which of the client's header names to remove (bit `i` for `req.names()[i]`).
pub(super) fn strip(policy: &Policy, req: &Request<'_>) -> u128 {
    let mut mask = 0u128;
    for (i, name) in req.names().iter().enumerate() {
        let hit = policy.strip.iter().any(|s| {
            same_header_name(name, s.as_bytes()) && (s != FORWARDED_HEADER || req.forwarded_host)
        });
        if hit {
            mask |= 1u128 << (i as u32 & 127);
        }
    }
    mask
}

/// Step 2: a path, a host and a header set that no server behind reads differently.
pub(super) fn unambiguous<'a>(
    req: &Request<'a>,
) -> Result<(PathView<'a>, Option<&'a [u8]>), Refusal<'a>> {
    if req.too_many_names {
        return Err(Refusal::ambiguous(Ambiguity::TooManyHeaders));
    }
    let path = read_path(req.target).map_err(Refusal::ambiguous)?;
    let host = authority(req).map_err(Refusal::ambiguous)?;
    Ok((path, host))
}

/// Step 3: the first route that matches; `None` for `auth: none`, else the kinds it takes.
/// Restrictive routes match the path with and without a format suffix; a public one only as sent.
pub(super) fn route(policy: &Policy, path: &PathView<'_>, method: &[u8]) -> Option<Kinds> {
    let found = policy.routes.iter().find(|r| {
        let method_ok = r
            .methods
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m.as_bytes().eq_ignore_ascii_case(method)));
        let path_ok = if r.auth {
            path.readings().any(|p| r.pattern.matches(p))
        } else {
            r.pattern.matches(path.path)
        };
        method_ok && path_ok
    });
    match found {
        Some(r) if !r.auth => None,
        Some(r) => Some(r.kinds),
        None => Some(Kinds::ALL),
    }
}

fn endpoint_matches(pattern: &crate::policy::Pattern, path: &PathView<'_>) -> bool {
    path.readings().any(|p| pattern.matches(p))
}

fn sunset<'a>(d: &'a Deprecation) -> Refusal<'a> {
    let mut r = Refusal::new(Code::EndpointSunset, Reason::EndpointRetired(d.sunset_at));
    r.deprecation = Some(d);
    r
}

/// Step 4: an endpoint retired for every kind.
pub(super) fn retired_endpoint<'a>(
    policy: &'a Policy,
    path: &PathView<'_>,
    now: i64,
) -> Result<(), Refusal<'a>> {
    let retired = policy
        .endpoints
        .iter()
        .filter(|e| e.kinds == Kinds::ALL)
        .find(|e| endpoint_matches(&e.pattern, path))
        .map(|e| &e.deprecation)
        .filter(|d| now >= d.sunset_at);
    retired.map_or(Ok(()), |d| Err(sunset(d)))
}

/// Step 4 for deprecations scoped to kinds (SPEC §4), once the kind is known.
pub(super) fn retired_endpoint_for<'a>(
    policy: &'a Policy,
    path: &PathView<'_>,
    token: &Token<'a>,
    now: i64,
) -> Result<(), Refusal<'a>> {
    let retired = policy
        .endpoints
        .iter()
        .filter(|e| e.kinds != Kinds::ALL && e.kinds.contains(token.kind))
        .find(|e| endpoint_matches(&e.pattern, path))
        .map(|e| &e.deprecation)
        .filter(|d| now >= d.sunset_at);
    retired.map_or(Ok(()), |d| Err(sunset(d).of(token)))
}

/// Step 5: exactly one credential, of a possible format.
pub(super) fn credential<'a>(
    policy: &Policy,
    req: &Request<'a>,
    path: &PathView<'a>,
) -> Result<Presented<'a>, Refusal<'a>> {
    let query = if policy.query_token { path.query } else { None };
    let refuse = |code, reason| Err(Refusal::new(code, reason));
    let bytes = match extract(req, query) {
        Credential::Missing => return refuse(Code::MissingToken, Reason::MissingToken),
        Credential::Ambiguous => return refuse(Code::InvalidRequest, Reason::TwoCredentials),
        Credential::UnsupportedScheme => {
            return refuse(Code::UnsupportedScheme, Reason::UnsupportedScheme)
        }
        Credential::Empty => return refuse(Code::MalformedToken, Reason::EmptyCredential),
        Credential::Token(t) => t,
    };
    match classify(bytes, policy.body_min, policy.body_max) {
        Shape::Malformed(p) => refuse(Code::MalformedToken, Reason::Malformed(p)),
        shape => Ok(Presented { bytes, shape }),
    }
}

/// Step 6: an OAuth token is refused, forwarded without a registry or an account, or verified
/// (SPEC §11, in place of steps 7 and 8) and bound to its account claim at step 10.
pub(super) fn oauth<'a>(
    policy: &Policy,
    presented: Presented<'a>,
    now: i64,
) -> Result<Option<Token<'a>>, Refusal<'a>> {
    if presented.shape != Shape::Jwt {
        return Ok(None);
    }
    let digest = sha256(presented.bytes);
    let id = TokenId::of_digest(&digest);
    match &policy.oauth {
        OAuth::Verify(v) if !v.keys_loaded() => {
            Err(Refusal::new(Code::JwksUnavailable, Reason::JwksUnavailable)
                .token(Some(Kind::OAuth), id))
        }
        OAuth::Verify(v) => match v.verify_cached(presented.bytes, &digest, now) {
            Ok(ok) => Ok(Some(Token {
                kind: Kind::OAuth,
                id,
                account: ok.account_id,
            })),
            Err(e) => {
                Err(Refusal::new(e.code(), Reason::OAuthInvalid(e)).token(Some(Kind::OAuth), id))
            }
        },
        OAuth::Reject => Err(Refusal::new(Code::UnsupportedToken, Reason::OAuthRejected)
            .token(Some(Kind::OAuth), id)),
        OAuth::Forward => Ok(Some(Token {
            kind: Kind::OAuth,
            id,
            account: None,
        })),
    }
}

/// Step 7: the registry holds the digest, under a kind the token's shape can be, not revoked,
/// not expired.
pub(super) fn registry<'a>(
    policy: &'a Policy,
    presented: Presented<'_>,
    now: i64,
) -> Result<Token<'a>, Refusal<'a>> {
    let digest = sha256(presented.bytes);
    let seen = match presented.shape {
        Shape::Scoped(k) => Some(k),
        Shape::HexKey => Some(Kind::UserKey),
        _ => None,
    };
    let digest_id = TokenId::of_digest(&digest);
    if !policy.registry_loaded() {
        return Err(
            Refusal::new(Code::RegistryUnavailable, Reason::RegistryUnavailable)
                .token(seen, digest_id),
        );
    }
    let Some(hit) = policy.registry.lookup(&digest) else {
        return Err(match presented.shape {
            Shape::Unknown(p) => Refusal::new(Code::MalformedToken, Reason::Malformed(p)),
            _ => Refusal::new(Code::InvalidToken, Reason::UnknownToken).token(seen, digest_id),
        });
    };
    // A kind the token's shape cannot be is a registry mistake: fail closed, as unknown.
    if !entry_fits(presented.shape, hit.kind) {
        return Err(
            Refusal::new(Code::InvalidToken, Reason::UnknownToken).token(seen, hit.token_id)
        );
    }
    let token = Token {
        kind: hit.kind,
        id: hit.token_id,
        account: hit.account,
    };
    if hit.revoked {
        return Err(Refusal::new(Code::RevokedToken, Reason::Revoked).of(&token));
    }
    match hit.expires {
        Some(exp) if now >= exp => {
            Err(Refusal::new(Code::ExpiredToken, Reason::Expired(exp)).of(&token))
        }
        _ => Ok(token),
    }
}

/// Step 8: a legacy user API key past its sunset.
pub(super) fn user_key<'a>(
    policy: &'a Policy,
    token: &Token<'a>,
    now: i64,
) -> Result<(), Refusal<'a>> {
    match &policy.user_keys {
        Some(d) if token.kind == Kind::UserKey && now >= d.sunset_at => {
            let mut r =
                Refusal::new(Code::UserKeyRetired, Reason::UserKeyRetired(d.sunset_at)).of(token);
            r.deprecation = Some(d);
            Err(r)
        }
        _ => Ok(()),
    }
}

/// Step 9: the kinds the route takes.
pub(super) fn route_kinds<'a>(kinds: Kinds, token: &Token<'a>) -> Result<(), Refusal<'a>> {
    if kinds.contains(token.kind) {
        return Ok(());
    }
    Err(Refusal::new(
        Code::TokenKindNotAllowed,
        Reason::KindNotAllowed(token.kind, kinds),
    )
    .of(token))
}

/// Step 9, client rules (SPEC §10): the first rule whose `User-Agent` glob matches.
pub(super) fn client<'a>(
    policy: &'a Policy,
    req: &Request<'_>,
    token: &Token<'a>,
) -> Result<ClientMatch<'a>, Refusal<'a>> {
    let ua = req.user_agent.unwrap_or_default();
    let Some(rule) = policy.clients.iter().find(|c| c.matches(ua)) else {
        return Ok(ClientMatch::default());
    };
    let matched = ClientMatch {
        rule: Some(rule),
        advise: !rule.expect_kinds.contains(token.kind),
    };
    match (matched.advise, rule.action) {
        (true, ClientAction::Deny) => Err(Refusal::new(
            Code::TokenKindNotAllowed,
            Reason::ClientRule(&rule.advice),
        )
        .of(token)
        .with_client(ClientMatch {
            rule: Some(rule),
            advise: false,
        })),
        _ => Ok(matched),
    }
}

/// Step 10: the account the path and the host name agree, and are the token's.
pub(super) fn account<'a>(
    policy: &Policy,
    path: &PathView<'_>,
    host: Option<&[u8]>,
    token: &Token<'a>,
    client: ClientMatch<'a>,
) -> Result<(), Refusal<'a>> {
    if token.kind == Kind::OAuth && token.account.is_none() {
        return Ok(());
    }
    let host = host_account(host, &policy.hosts);
    let refuse = |reason| {
        Err(Refusal::new(Code::AccountMismatch, reason)
            .of(token)
            .with_client(client))
    };
    if let (Some(p), Some(h)) = (path.account, host) {
        if p != h {
            return refuse(Reason::HostPathMismatch);
        }
    }
    match (token.account, path.account.or(host)) {
        (Some(mine), Some(theirs)) if mine != theirs => refuse(Reason::AccountMismatch),
        _ => Ok(()),
    }
}

/// Step 11: inside a deprecation window, the one whose sunset comes first.
pub(super) fn deprecation_window<'a>(
    policy: &'a Policy,
    path: &PathView<'_>,
    token: &Token<'_>,
    now: i64,
) -> Option<(&'a Deprecation, Subject)> {
    let user_keys = policy
        .user_keys
        .as_ref()
        .filter(|d| token.kind == Kind::UserKey && now >= d.deprecated_at);
    let endpoint = policy
        .endpoints
        .iter()
        .filter(|e| e.kinds.contains(token.kind))
        .find(|e| endpoint_matches(&e.pattern, path))
        .map(|e| &e.deprecation)
        .filter(|d| now >= d.deprecated_at);
    match (user_keys, endpoint) {
        (Some(u), Some(e)) if e.sunset_at < u.sunset_at => Some((e, Subject::Endpoint)),
        (Some(u), _) => Some((u, Subject::UserKeys)),
        (None, Some(e)) => Some((e, Subject::Endpoint)),
        (None, None) => None,
    }
}
