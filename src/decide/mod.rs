//! The decision (SPEC §6): twelve steps, in order, for one request. `pipeline` reads as the
//! list in the SPEC, one call a step; each step returns what the next needs, or a refusal.
//! Nothing here allocates: text is rendered later, when a front asks for it.

mod decision;
mod outcome;
mod steps;

pub use decision::{Advice, Decision, HeaderValue, Verdict};

use decision::AdviceFrom;
use outcome::{Allowed, Refusal, Token};

use crate::code::Code;
use crate::messages::Reason;
use crate::policy::{Mode, Policy, UntilLoaded};
use crate::request::Request;

impl Policy {
    /// Decide one request at `now` (Unix seconds). Never panics; allocates nothing; the same
    /// input gives the same decision.
    pub fn decide<'a>(&'a self, req: &'a Request<'a>, now: i64) -> Decision<'a> {
        let strip = steps::strip(self, req);
        let outcome = self.pipeline(req, now);
        let mut d = Decision {
            verdict: decision::Verdict::Allow,
            code: Code::Ok,
            token_kind: None,
            account_id: None,
            token_id: None,
            reason: Reason::Allowed,
            client: None,
            advice: None,
            deprecation: None,
            policy: self,
            names: req.names(),
            strip,
            problem_json: req.wants_problem_json(),
            public: false,
        };
        match outcome {
            Ok(a) => {
                d.public = a.public;
                d.reason = a.reason;
                d.token_kind = a.token.map(|t| t.kind);
                d.token_id = a.token.map(|t| t.id);
                d.account_id = a.token.and_then(|t| t.account);
                d.client = a.client;
                d.advice = a.advice;
                d.deprecation = a.deprecation;
            }
            Err(r) => {
                d.verdict = if self.passes_anyway(r.code) {
                    decision::Verdict::WouldDeny
                } else {
                    decision::Verdict::Deny
                };
                d.code = r.code;
                d.reason = r.reason;
                d.token_kind = r.kind;
                d.token_id = r.id;
                d.client = r.client;
                d.advice = r.client.map(AdviceFrom::Client).filter(|_| r.advised);
                d.deprecation = r.deprecation;
            }
        }
        d
    }

    /// The steps of SPEC §6, in order (step 1 is [`steps::strip`], applied to every request).
    fn pipeline<'a>(&'a self, req: &Request<'a>, now: i64) -> Result<Allowed<'a>, Refusal<'a>> {
        let (path, host) = steps::unambiguous(req)?; // 2
        let Some(kinds) = steps::route(self, &path, req.method) else {
            return Ok(Allowed::public()); // 3
        };
        steps::retired_endpoint(self, &path, now)?; // 4
        let credential = steps::credential(self, req, &path)?; // 5
        let token: Token<'a> = match steps::oauth(self, credential, now)? {
            // 6
            Some(jwt) => jwt,
            None => {
                let token = steps::registry(self, credential, now)?; // 7
                steps::user_key(self, &token, now)?; // 8
                steps::retired_endpoint_for(self, &path, &token, now)?; // 4, kind-scoped
                token
            }
        };
        steps::route_kinds(kinds, &token)?; // 9
        let client = steps::client(self, req, &token)?; // 9, client rules
        steps::account(self, &path, host, &token, client)?; // 10
        let window = steps::deprecation_window(self, &path, &token, now); // 11
        Ok(Allowed::token(token, client, window)) // 12
    }

    /// Whether a refusal goes on marked instead: report mode, or a registry or key set not
    /// loaded yet where the policy lets requests through meanwhile.
    fn passes_anyway(&self, code: Code) -> bool {
        let until_loaded = match code {
            Code::RegistryUnavailable => self.registry_url().map(|u| u.until_loaded),
            Code::JwksUnavailable => self.jwks_url().map(|u| u.url.until_loaded),
            _ => None,
        };
        self.mode == Mode::Report || until_loaded == Some(UntilLoaded::Allow)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wave2_tests;
