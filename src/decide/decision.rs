//! The decision: a verdict, the edits to the request that goes on, and the response — the shape
//! of Envoy's ext_authz answer. Fronts apply these lists and know no rules. Everything here
//! borrows the policy and the request; text is rendered only when a front asks for it.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bytes::Decimal;
use crate::code::Code;
use crate::messages::{Reason, Subject};
use crate::policy::{ClientRule, Deprecation, Policy, TokenId, ADVICE_HEADER, WOULD_DENY_HEADER};
use crate::render::{self, Reply};
use crate::token::Kind;

/// What happens to the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It goes upstream, with the edits.
    Allow,
    /// The edge answers it with [`Decision::reply`].
    Deny,
    /// Report mode (or a registry not loaded yet, where the policy says so): it would have been
    /// denied, and goes upstream marked instead.
    WouldDeny,
}

/// Something to tell the operator about an allowed request (SPEC §9 `advice`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advice<'a> {
    /// A stable code: a client rule's (`service_token_advised`, …) or a deprecation's
    /// (`user_key_deprecated`, `endpoint_deprecated`).
    pub code: &'static str,
    /// A plain sentence; never the token.
    pub message: Cow<'a, str>,
}

/// Where a decision's advice comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AdviceFrom<'a> {
    Client(&'a ClientRule),
    Deprecation(Subject, i64),
}

/// A value of a header the decision sets, borrowed or built on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    /// Text from the policy or the registry.
    Text(&'a str),
    /// An account id.
    Account(Decimal),
    /// A token id.
    TokenId(TokenId<'a>),
}

impl HeaderValue<'_> {
    /// The value as text.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderValue::Text(s) => s,
            HeaderValue::Account(d) => d.as_str(),
            HeaderValue::TokenId(t) => t.as_str(),
        }
    }
}

/// What the edge does with one request, and everything a front needs to carry it out.
#[derive(Clone, Debug)]
pub struct Decision<'a> {
    /// Allow, deny, or would-deny (report mode).
    pub verdict: Verdict,
    /// `Ok`, or why it was (or would have been) denied.
    pub code: Code,
    /// The token's kind, once known.
    pub token_kind: Option<Kind>,
    /// The token's account, on allow.
    pub account_id: Option<u64>,
    pub(crate) token_id: Option<TokenId<'a>>,
    pub(crate) reason: Reason<'a>,
    pub(crate) client: Option<&'a ClientRule>,
    pub(crate) advice: Option<AdviceFrom<'a>>,
    /// On a denial, the retirement its headers tell of; on an allow, the deprecation window.
    pub(crate) deprecation: Option<&'a Deprecation>,
    pub(crate) policy: &'a Policy,
    pub(crate) names: &'a [&'a [u8]],
    /// Bit `i`: `names[i]` is removed before the request goes on (step 1).
    pub(crate) strip: u128,
    pub(crate) problem_json: bool,
    /// An `auth: none` route: nothing to add.
    pub(crate) public: bool,
}

impl<'a> Decision<'a> {
    /// Whether the request goes upstream (allowed, or only reported).
    pub fn allow(&self) -> bool {
        self.verdict != Verdict::Deny
    }

    /// True only in report mode, when the request would have been denied.
    pub fn report_only(&self) -> bool {
        self.verdict == Verdict::WouldDeny
    }

    /// 200 on allow; the denial's status otherwise (also when only reported).
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The only token identity that may be shown.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_ref().map(TokenId::as_str)
    }

    /// Whether the front should fetch the key set again (SPEC §11): an OAuth token named a `kid`
    /// the fetched key set does not hold — the issuer may have rotated its keys since the last
    /// fetch. The front fetches at most once per `refetch_cooldown_seconds`; this request is
    /// decided as it is, with the keys in force.
    pub fn wants_new_keys(&self) -> bool {
        self.reason == Reason::OAuthInvalid(crate::oauth::VerifyError::UnknownKey)
            && self.policy.jwks_url().is_some()
    }

    /// One line for the operator's debug log on a denial or a would-deny (`None` on allow):
    /// `denied 401 invalid_token token_id=3f2a9c01b7de kind=pat`. The token appears only by id.
    pub fn log_line(&self) -> Option<String> {
        let what = match self.verdict {
            Verdict::Allow => return None,
            Verdict::Deny => "denied",
            Verdict::WouldDeny => "would deny",
        };
        Some(alloc::format!(
            "{what} {} {} token_id={} kind={}",
            self.status(),
            self.code.as_str(),
            self.token_id().unwrap_or("-"),
            self.token_kind.map_or("-", Kind::as_str),
        ))
    }

    /// The name of the client rule (SPEC §10) the request matched.
    pub fn client(&self) -> Option<&'a str> {
        self.client.map(|c| c.name.as_str())
    }

    /// Whether the response carries deprecation headers (an allow inside a window).
    pub fn deprecated(&self) -> bool {
        self.verdict == Verdict::Allow && self.deprecation.is_some()
    }

    /// A plain sentence for the user; never contains the token.
    pub fn message(&self) -> Cow<'static, str> {
        self.reason.message()
    }

    /// What the operator should know of an allowed request.
    pub fn advice(&self) -> Option<Advice<'a>> {
        Some(match self.advice? {
            AdviceFrom::Client(rule) => Advice {
                code: rule.advice_code(),
                message: Cow::Borrowed(rule.advice.as_str()),
            },
            AdviceFrom::Deprecation(subject, sunset) => Advice {
                code: match subject {
                    Subject::UserKeys => "user_key_deprecated",
                    Subject::Endpoint => "endpoint_deprecated",
                },
                message: Reason::Deprecated(subject, sunset).message(),
            },
        })
    }

    /// Request headers to remove before the request goes on (SPEC §6 step 1): client-sent
    /// identity headers in any spelling a server may read as theirs, and forwarded hosts. Those
    /// the decision sets anyway are left to [`Decision::set_headers`], which replaces them.
    pub fn remove_headers(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let going_on = self.allow();
        self.names
            .iter()
            .enumerate()
            .filter(move |(i, _)| going_on && self.strip & (1u128 << (*i as u32 & 127)) != 0)
            .map(|(_, n)| *n)
            .filter(move |n| {
                !self
                    .set_headers()
                    .any(|(s, _)| s.as_bytes().eq_ignore_ascii_case(n))
            })
    }

    /// Request headers to set (replacing any value) before the request goes on: the identity on
    /// allow, `x-tokengate-would-deny` when only reported, and a client rule's advice code.
    pub fn set_headers(&self) -> impl Iterator<Item = (&'a str, HeaderValue<'a>)> {
        let id = &self.policy.identity;
        let allowed = self.verdict == Verdict::Allow && !self.public;
        let text = HeaderValue::Text;
        let slots: [Option<(&'a str, HeaderValue<'a>)>; 4] = match self.verdict {
            Verdict::WouldDeny => [
                Some((WOULD_DENY_HEADER, text(self.code.as_str()))),
                None,
                None,
                None,
            ],
            _ if !allowed => [None; 4],
            _ => [
                self.account_id.map(|a| {
                    (
                        id.account_id.as_str(),
                        HeaderValue::Account(Decimal::new(a)),
                    )
                }),
                self.token_kind
                    .map(|k| (id.token_kind.as_str(), text(k.as_str()))),
                self.token_id
                    .map(|t| (id.token_id.as_str(), HeaderValue::TokenId(t))),
                match self.advice {
                    Some(AdviceFrom::Client(rule)) => {
                        Some((ADVICE_HEADER, text(rule.advice_code())))
                    }
                    _ => None,
                },
            ],
        };
        slots.into_iter().flatten()
    }

    /// On allow: headers to add to the upstream's response (a deprecation's notice). Borrowed
    /// from the policy, rendered when it was read.
    pub fn response_headers(&self) -> impl Iterator<Item = (&'static str, &'a str)> {
        let notice = match self.verdict {
            Verdict::Allow => self.deprecation,
            _ => None,
        };
        notice.into_iter().flat_map(Deprecation::headers)
    }

    /// On deny: the local reply — status, headers and body (SPEC §7), rendered now.
    pub fn reply(&self) -> Option<Reply> {
        (self.verdict == Verdict::Deny).then(|| render::reply(self))
    }

    /// SPEC §9's JSON: snake_case, account ids as strings, `report_only` only when true.
    pub fn to_json(&self) -> String {
        render::decision_json(self)
    }

    /// The headers SPEC §9 lists as `response_headers`: the reply's on a denial, the notice's on
    /// an allow.
    pub fn json_response_headers(&self) -> Vec<(&'static str, String)> {
        match self.reply() {
            Some(r) => r.headers,
            None => self
                .response_headers()
                .map(|(n, v)| (n, String::from(v)))
                .collect(),
        }
    }

    /// The headers SPEC §9 lists as `upstream_headers`, as owned text.
    pub fn json_upstream_headers(&self) -> Vec<(String, String)> {
        self.set_headers()
            .map(|(n, v)| (String::from(n), String::from(v.as_str())))
            .collect()
    }
}
