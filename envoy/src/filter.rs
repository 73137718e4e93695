//! One HTTP request: read its headers once, let the core decide, carry the decision out.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use tokengate::{Decision, Policy, Request, Verdict};

use crate::host::{self, LogLevel, Map};
use crate::metrics::{self, Metrics};
use crate::pairs::{self, Pairs};

/// The request the core reads, from the host's serialised header map: no host calls, no copies
/// of header values (the request borrows them). `None` when the host's map broke its own layout:
/// the caller fails closed.
pub fn read_request(headers: &[u8]) -> Option<Request<'_>> {
    let mut method: &[u8] = b"";
    let mut target: &[u8] = b"";
    for (name, value) in Pairs::new(headers) {
        match name {
            b":method" => method = value,
            b":path" => target = value,
            _ => {}
        }
    }
    let mut request = Request::new(method, target);
    let mut pairs = Pairs::new(headers);
    for (name, value) in pairs.by_ref() {
        request.header(name, value);
    }
    (!pairs.malformed()).then_some(request)
}

pub struct Filter {
    pub policy: Option<Rc<Policy>>,
    pub metrics: Rc<Metrics>,
    /// Headers to put on the upstream's response (deprecation notices).
    pub pending: Vec<(&'static str, String)>,
    /// Tells the root that a token named a `kid` the fetched key set does not hold.
    pub keys_wanted: Rc<std::cell::Cell<bool>>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(policy) = self.policy.clone() else {
            return internal_error("no policy is loaded");
        };
        let headers = match host::header_map(Map::Request) {
            Ok(h) => h,
            Err(e) => return internal_error(&format!("reading request headers: status {}", e.0)),
        };
        let now = match host::now_unix_seconds() {
            Ok(t) => t,
            Err(e) => return internal_error(&format!("reading the clock: status {}", e.0)),
        };
        let Some(request) = read_request(&headers) else {
            return internal_error("the host's request header map is malformed");
        };
        let decision = policy.decide(&request, now);
        crate::export::decision(&decision); // filter state for the access log (SPEC §12)
        if decision.wants_new_keys() {
            self.keys_wanted.set(true);
        }
        if decision.verdict == Verdict::Deny {
            return self.deny(&decision);
        }
        // The request edits, as the core lists them: step 1's removals, then the headers to set.
        for name in decision.remove_headers() {
            if let Ok(name) = core::str::from_utf8(name) {
                let _ = host::remove_header(Map::Request, name);
            }
        }
        for (name, value) in decision.set_headers() {
            if let Err(e) = host::set_header(Map::Request, name, value.as_str()) {
                return internal_error(&format!("setting {name}: status {}", e.0));
            }
        }
        if decision.verdict == Verdict::WouldDeny {
            metrics::bump(self.metrics.would_deny(decision.code));
            if host::log_enabled(LogLevel::Debug) {
                log_decision(&decision);
            }
        } else {
            metrics::bump(self.metrics.allowed);
            if decision.deprecated() {
                metrics::bump(self.metrics.deprecated_served);
            }
        }
        // Deprecation notices for the upstream's response. Only then is that callback's work
        // taken: most requests leave `pending` empty and it returns at once.
        self.pending.extend(
            decision
                .response_headers()
                .map(|(name, value)| (name, String::from(value))),
        );
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.pending.is_empty() {
            return Action::Continue;
        }
        for (name, value) in core::mem::take(&mut self.pending) {
            // `Link` may carry the upstream's own relations: add ours beside them. The others
            // (`Deprecation`, `Sunset`) hold one value: ours replaces any the upstream sent.
            let r = if name.eq_ignore_ascii_case("link") {
                host::add_header(Map::Response, name, &value)
            } else {
                host::set_header(Map::Response, name, &value)
            };
            if let Err(e) = r {
                host::log(
                    LogLevel::Warn,
                    &format!("could not add {name} to the response: status {}", e.0),
                );
            }
        }
        Action::Continue
    }
}

impl Filter {
    fn deny(&self, decision: &Decision<'_>) -> Action {
        metrics::bump(self.metrics.denied(decision.code));
        if host::log_enabled(LogLevel::Debug) {
            log_decision(decision);
        }
        let Some(reply) = decision.reply() else {
            return internal_error("a denial without a reply");
        };
        let headers = pairs::serialize(&reply.headers);
        let details = format!("tokengate_{}", decision.code.as_str());
        match host::send_local_response(reply.status, &details, &headers, reply.body.as_bytes()) {
            Ok(()) => Action::Pause,
            Err(e) => internal_error(&format!("sending the denial: status {}", e.0)),
        }
    }
}

/// One line per denial: the code and the token id, never the token or its digest.
fn log_decision(d: &Decision<'_>) {
    if let Some(line) = d.log_line() {
        host::log(LogLevel::Debug, &line);
    }
}

/// The host failed us; fail closed, and say so in the log.
fn internal_error(why: &str) -> Action {
    host::log(LogLevel::Error, &format!("failing closed: {why}"));
    let headers = pairs::serialize(&[
        ("cache-control", "no-store"),
        ("content-type", "text/plain"),
    ]);
    let _ = host::send_local_response(
        500,
        "tokengate_internal_error",
        &headers,
        b"internal error\n",
    );
    Action::Pause
}
