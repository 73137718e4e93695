//! What the steps hand each other: a refusal (why, worded later in `messages`), the token a
//! step vouched for, and what an allowed request carries on.

use crate::code::Code;
use crate::messages::{Reason, Subject};
use crate::policy::{ClientRule, Deprecation, TokenId};
use crate::request::Ambiguity;
use crate::token::{Kind, Shape};

use super::decision::AdviceFrom;
/// Why a request is refused, before it is worded or rendered.
#[derive(Clone, Copy, Debug)]
pub(super) struct Refusal<'a> {
    pub code: Code,
    pub reason: Reason<'a>,
    pub kind: Option<Kind>,
    pub id: Option<TokenId<'a>>,
    pub client: Option<&'a ClientRule>,
    /// The client rule's advice stands (a `report` rule whose kinds the token missed).
    pub advised: bool,
    pub deprecation: Option<&'a Deprecation>,
}

impl<'a> Refusal<'a> {
    pub(super) fn new(code: Code, reason: Reason<'a>) -> Self {
        Refusal {
            code,
            reason,
            kind: None,
            id: None,
            client: None,
            advised: false,
            deprecation: None,
        }
    }

    pub(super) fn token(mut self, kind: Option<Kind>, id: TokenId<'a>) -> Self {
        self.kind = kind;
        self.id = Some(id);
        self
    }

    pub(super) fn of(self, token: &Token<'a>) -> Self {
        self.token(Some(token.kind), token.id)
    }

    pub(super) fn ambiguous(a: Ambiguity) -> Self {
        Refusal::new(Code::InvalidRequest, Reason::Ambiguous(a))
    }

    /// A refusal after a client rule matched keeps the rule, and its advice, for the operator.
    pub fn with_client(mut self, client: ClientMatch<'a>) -> Self {
        self.client = client.rule;
        self.advised = client.advise;
        self
    }
}

/// A token the registry (or a JWT check) vouched for.
#[derive(Clone, Copy, Debug)]
pub(super) struct Token<'a> {
    pub kind: Kind,
    pub id: TokenId<'a>,
    pub account: Option<u64>,
}

/// The credential of step 5, classified.
#[derive(Clone, Copy, Debug)]
pub(super) struct Presented<'a> {
    pub bytes: &'a [u8],
    pub shape: Shape,
}

/// The client rule a request matched, and whether its advice stands.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ClientMatch<'a> {
    pub rule: Option<&'a ClientRule>,
    pub advise: bool,
}

/// What an allowed request carries on.
#[derive(Clone, Copy, Debug)]
pub(super) struct Allowed<'a> {
    pub public: bool,
    pub reason: Reason<'a>,
    pub token: Option<Token<'a>>,
    pub client: Option<&'a ClientRule>,
    pub advice: Option<AdviceFrom<'a>>,
    pub deprecation: Option<&'a Deprecation>,
}

impl<'a> Allowed<'a> {
    pub fn public() -> Self {
        Allowed {
            public: true,
            reason: Reason::Public,
            token: None,
            client: None,
            advice: None,
            deprecation: None,
        }
    }

    pub fn token(
        token: Token<'a>,
        client: ClientMatch<'a>,
        window: Option<(&'a Deprecation, Subject)>,
    ) -> Self {
        let notice = window.map(|(d, s)| AdviceFrom::Deprecation(s, d.sunset_at));
        let advice = match client.rule {
            Some(rule) if client.advise => Some(AdviceFrom::Client(rule)),
            _ => notice,
        };
        Allowed {
            public: false,
            reason: window.map_or(Reason::Allowed, |(d, s)| Reason::Deprecated(s, d.sunset_at)),
            token: Some(token),
            client: client.rule,
            advice,
            deprecation: window.map(|(d, _)| d),
        }
    }
}
