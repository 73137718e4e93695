//! The decision (SPEC §6): the twelve steps, in order, for one request.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::code::Code;
use crate::credential::{extract, Credential};
use crate::policy::{Deprecation, Mode, OAuth, Policy, UntilLoaded, WOULD_DENY_HEADER};
use crate::registry::{default_token_id, sha256};
use crate::render;
use crate::request::{host_account, parse_target, path_account, Request};
use crate::time::date;
use crate::token::{inspect_with, shape, Kind, Shape};

/// What the edge does with one request, and everything a front needs to carry it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request goes upstream.
    pub allow: bool,
    /// True only in report mode, when the request would have been denied.
    pub report_only: bool,
    /// 200 on allow; the denial's status otherwise (also in report mode).
    pub status: u16,
    /// `Ok`, or why it was (or would have been) denied.
    pub code: Code,
    /// A plain sentence for the user; never contains the token.
    pub message: String,
    /// The token's kind, once known.
    pub token_kind: Option<Kind>,
    /// The only token identity that may be shown: 12 hex characters of the digest, or the registry's id.
    pub token_id: Option<String>,
    /// The token's account, on allow.
    pub account_id: Option<u64>,
    /// Allowed with deprecation headers.
    pub deprecated: bool,
    /// On a denial, the local reply's headers; on an allow, headers to add to the upstream's response.
    pub response_headers: Vec<(&'static str, String)>,
    /// Headers to set on the request that goes upstream.
    pub upstream_headers: Vec<(String, String)>,
    /// The denial's body; `None` on allow and in report mode.
    pub body: Option<String>,
}

impl Decision {
    /// SPEC §9's JSON: snake_case, account ids as strings, `report_only` only when true.
    pub fn to_json(&self) -> String {
        render::decision_json(self)
    }
}

/// Why a request is refused, before it is rendered.
struct Denial<'p> {
    code: Code,
    message: String,
    kind: Option<Kind>,
    token_id: Option<String>,
    deprecation: Option<&'p Deprecation>,
}

impl<'p> Denial<'p> {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Denial {
            code,
            message: message.into(),
            kind: None,
            token_id: None,
            deprecation: None,
        }
    }

    fn token(mut self, kind: Option<Kind>, token_id: &Option<String>) -> Self {
        self.kind = kind;
        self.token_id.clone_from(token_id);
        self
    }
}

/// What an allowed request carries on.
struct Allowed<'p> {
    kind: Option<Kind>,
    token_id: Option<String>,
    account: Option<u64>,
    /// The deprecation whose headers go on the response, and what it is about.
    deprecation: Option<(&'p Deprecation, &'static str)>,
    /// `auth: none`: nothing to add.
    public: bool,
}

fn kinds_list(bits: u8) -> String {
    let names: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| bits & k.bit() != 0)
        .map(|k| k.describe())
        .collect();
    match names.as_slice() {
        [] => String::from("no tokens"),
        [one] => String::from(*one),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A u64 in decimal without the formatting machinery: this runs on every allowed request.
fn decimal(mut n: u64) -> String {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..)
        .and_then(|d| core::str::from_utf8(d).ok())
        .map_or_else(String::new, String::from)
}

const USER_KEY_ADVICE: &str = "create an account-scoped personal access token under Settings > Access Token, or use a service token for production and partner integrations";

impl Policy {
    /// Decide one request at `now` (Unix seconds). Never panics; the same input gives the same decision.
    pub fn decide(&self, req: &Request<'_>, now: i64) -> Decision {
        match self.evaluate(req, now) {
            Ok(a) => self.allowed(a),
            Err(d) => self.denied(d, req),
        }
    }

    fn evaluate<'p>(&'p self, req: &Request<'_>, now: i64) -> Result<Allowed<'p>, Denial<'p>> {
        // Step 1 (stripping identity headers) is the front's, on every request.
        // Step 2: a path that servers read differently.
        let ambiguous =
            |a: crate::request::Ambiguity| Denial::new(Code::InvalidRequest, a.message());
        let target = parse_target(req.target).map_err(ambiguous)?;
        let path_account = path_account(target.path).map_err(ambiguous)?;

        // Step 3: the first route that matches.
        let route = self.routes.iter().find(|r| {
            r.pattern.matches(target.path)
                && r.methods
                    .as_ref()
                    .is_none_or(|ms| ms.iter().any(|m| m.as_bytes() == req.method))
        });
        if route.is_some_and(|r| !r.auth) {
            return Ok(Allowed {
                kind: None,
                token_id: None,
                account: None,
                deprecation: None,
                public: true,
            });
        }
        let kinds = route.map_or(0xff, |r| r.kinds);

        // Step 4: a retired endpoint.
        let endpoint = self
            .endpoints
            .iter()
            .find(|e| e.pattern.matches(target.path))
            .map(|e| &e.deprecation);
        if let Some(d) = endpoint.filter(|d| now >= d.sunset_at) {
            let mut denial = Denial::new(
                Code::EndpointSunset,
                format!(
                    "This endpoint was retired on {}. Call the account-scoped endpoints with a token created in that account.",
                    date(d.sunset_at)
                ),
            );
            denial.deprecation = Some(d);
            return Err(denial);
        }

        // Step 5: exactly one credential, of a possible format.
        let query = if self.query_token { target.query } else { None };
        let token = match extract(req, query) {
            Credential::Missing => {
                return Err(Denial::new(
                    Code::MissingToken,
                    "This request needs an API token: send it as 'Authorization: Token <token>'.",
                ))
            }
            Credential::Ambiguous => {
                return Err(Denial::new(
                    Code::InvalidRequest,
                    "The request carries more than one credential; send exactly one token.",
                ))
            }
            Credential::UnsupportedScheme => return Err(Denial::new(
                Code::UnsupportedScheme,
                "Send the token with the Token or Bearer scheme: 'Authorization: Token <token>'.",
            )),
            Credential::Empty => {
                return Err(Denial::new(
                    Code::MalformedToken,
                    "The credential is empty: put the token after the scheme.",
                ))
            }
            Credential::Token(t) => t,
        };
        let malformed = || {
            let why = inspect_with(token, self.body_min, self.body_max)
                .problems
                .first()
                .map_or("it is not a dbt Cloud token.", |p| p.message);
            let mut message = String::with_capacity(24 + why.len());
            message.push_str("The token is malformed. ");
            message.push_str(why);
            Denial::new(Code::MalformedToken, message)
        };
        let shape = shape(token, self.body_min, self.body_max);
        let (kind, token_id, account, user_key_window) = match shape {
            Shape::BadScoped | Shape::Garbage => return Err(malformed()),
            // Step 6: OAuth tokens skip the registry and the account binding.
            Shape::Jwt => {
                let id = Some(default_token_id(&sha256(token)));
                if self.oauth == OAuth::Reject {
                    return Err(Denial::new(
                        Code::UnsupportedToken,
                        "OAuth access tokens are not accepted here; use a personal access token or a service token.",
                    )
                    .token(Some(Kind::OAuth), &id));
                }
                (Kind::OAuth, id, None, None)
            }
            Shape::Scoped(_) | Shape::HexKey | Shape::Unknown => {
                // Step 7: the registry.
                let digest = sha256(token);
                let seen_kind = match shape {
                    Shape::Scoped(k) => Some(k),
                    Shape::HexKey => Some(Kind::UserKey),
                    _ => None,
                };
                if !self.registry_loaded {
                    return Err(Denial::new(
                        Code::RegistryUnavailable,
                        "Tokens cannot be checked yet because the token registry has not loaded; try again shortly.",
                    )
                    .token(seen_kind, &Some(default_token_id(&digest))));
                }
                let Some(hit) = self.registry.lookup(&digest) else {
                    if shape == Shape::Unknown {
                        return Err(malformed());
                    }
                    return Err(Denial::new(
                        Code::InvalidToken,
                        "The token is not recognised; it may have been deleted, or mistyped.",
                    )
                    .token(seen_kind, &Some(default_token_id(&digest))));
                };
                let id = Some(hit.token_id.clone());
                // A prefix that disagrees with the registry's kind is a registry mistake: fail closed.
                let scoped = matches!(hit.kind, Kind::Pat | Kind::Service);
                if scoped && shape != Shape::Scoped(hit.kind) {
                    return Err(Denial::new(
                        Code::InvalidToken,
                        "The token is not recognised; it may have been deleted, or mistyped.",
                    )
                    .token(seen_kind, &id));
                }
                let kind = Some(hit.kind);
                if hit.revoked {
                    return Err(Denial::new(
                        Code::RevokedToken,
                        "The token has been revoked; create a new one.",
                    )
                    .token(kind, &id));
                }
                if let Some(exp) = hit.expires.filter(|&e| now >= e) {
                    return Err(Denial::new(
                        Code::ExpiredToken,
                        format!("The token expired on {}; create a new one.", date(exp)),
                    )
                    .token(kind, &id));
                }
                // Step 8: legacy user API keys.
                let mut window = None;
                if hit.kind == Kind::UserKey {
                    if let Some(d) = &self.user_keys {
                        if now >= d.sunset_at {
                            let mut denial = Denial::new(
                                Code::UserKeyRetired,
                                format!(
                                    "Legacy user API keys were retired on {}: {USER_KEY_ADVICE}.",
                                    date(d.sunset_at)
                                ),
                            )
                            .token(kind, &id);
                            denial.deprecation = Some(d);
                            return Err(denial);
                        }
                        if now >= d.deprecated_at {
                            window = Some(d);
                        }
                    }
                }
                (hit.kind, id, hit.account, window)
            }
        };

        // Step 9: the kinds this route takes.
        if kinds & kind.bit() == 0 {
            return Err(Denial::new(
                Code::TokenKindNotAllowed,
                format!(
                    "This endpoint does not accept {}; it accepts {}.",
                    kind.describe(),
                    kinds_list(kinds)
                ),
            )
            .token(Some(kind), &token_id));
        }

        // Step 10: the account the request names (not for OAuth: nothing to bind).
        if kind != Kind::OAuth {
            let host = host_account(req.authority.or(req.host), &self.hosts);
            if let (Some(p), Some(h)) = (path_account, host) {
                if p != h {
                    return Err(Denial::new(
                        Code::AccountMismatch,
                        "The host and the path name different accounts.",
                    )
                    .token(Some(kind), &token_id));
                }
            }
            if let (Some(mine), Some(theirs)) = (account, path_account.or(host)) {
                if mine != theirs {
                    return Err(Denial::new(
                        Code::AccountMismatch,
                        "This token is not valid for this account. Tokens are account-scoped: create a token in the account you are calling.",
                    )
                    .token(Some(kind), &token_id));
                }
            }
        }

        // Step 11: inside a deprecation window, the headers tell of the sunset that comes first.
        let endpoint_window = endpoint.filter(|d| now >= d.deprecated_at);
        let deprecation = match (user_key_window, endpoint_window) {
            (Some(u), Some(e)) if e.sunset_at < u.sunset_at => Some((e, "this endpoint is")),
            (Some(u), _) => Some((u, "legacy user API keys are")),
            (None, Some(e)) => Some((e, "this endpoint is")),
            (None, None) => None,
        };
        Ok(Allowed {
            kind: Some(kind),
            token_id,
            account,
            deprecation,
            public: false,
        })
    }

    // Step 12: allow, with the identity headers.
    fn allowed(&self, a: Allowed<'_>) -> Decision {
        let mut response_headers = Vec::new();
        let message = match a.deprecation {
            Some((d, what)) => {
                render::deprecation_headers(d, &mut response_headers);
                let advice = if what.starts_with("legacy") {
                    format!("; {USER_KEY_ADVICE}")
                } else {
                    String::new()
                };
                format!(
                    "Allowed, but {what} deprecated and will stop working on {}{advice}.",
                    date(d.sunset_at)
                )
            }
            None if a.public => String::from("Allowed: this route needs no token."),
            None => String::from("Allowed."),
        };
        let mut upstream_headers = Vec::new();
        if !a.public {
            if let Some(acc) = a.account {
                upstream_headers.push((String::from(self.account_header()), decimal(acc)));
            }
            if let Some(k) = a.kind {
                upstream_headers.push((String::from(self.kind_header()), String::from(k.as_str())));
            }
            if let Some(id) = &a.token_id {
                upstream_headers.push((String::from(self.token_id_header()), id.clone()));
            }
        }
        Decision {
            allow: true,
            report_only: false,
            status: 200,
            code: Code::Ok,
            message,
            token_kind: a.kind,
            token_id: a.token_id,
            account_id: a.account,
            deprecated: a.deprecation.is_some(),
            response_headers,
            upstream_headers,
            body: None,
        }
    }

    fn denied(&self, d: Denial<'_>, req: &Request<'_>) -> Decision {
        let pass_anyway = self.mode == Mode::Report
            || (d.code == Code::RegistryUnavailable
                && self
                    .registry_url
                    .as_ref()
                    .is_some_and(|u| u.until_loaded == UntilLoaded::Allow));
        if pass_anyway {
            return Decision {
                allow: true,
                report_only: true,
                status: d.code.status(),
                code: d.code,
                message: d.message,
                token_kind: d.kind,
                token_id: d.token_id,
                account_id: None,
                deprecated: false,
                response_headers: Vec::new(),
                upstream_headers: alloc::vec![(
                    String::from(WOULD_DENY_HEADER),
                    String::from(d.code.as_str())
                )],
                body: None,
            };
        }
        let problem = req.wants_problem_json();
        Decision {
            allow: false,
            report_only: false,
            status: d.code.status(),
            code: d.code,
            response_headers: render::denial_headers(
                d.code,
                &d.message,
                &self.realm,
                problem,
                d.deprecation,
            ),
            body: Some(render::denial_body(d.code, &d.message, problem)),
            message: d.message,
            token_kind: d.kind,
            token_id: d.token_id,
            account_id: None,
            deprecated: false,
            upstream_headers: Vec::new(),
        }
    }
}
