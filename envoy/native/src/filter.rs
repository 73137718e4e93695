//! One HTTP stream: read the request headers once, let the core decide, carry the decision out.

use std::sync::Arc;

use tokengate::{Policy, Request, Verdict};

use crate::config::Shared;
use crate::host::{log, log_enabled, LogLevel, Map, Stream};
use crate::plan::Plan;

/// The dynamic-metadata namespace of every decision (`%DYNAMIC_METADATA(tokengate:code)%`).
pub const METADATA_NAMESPACE: &str = "tokengate";

/// Whether Envoy goes on with the stream after the request headers.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

pub struct Filter {
    shared: Arc<Shared>,
    /// Headers to put on the upstream's response (deprecation notices).
    pending: Vec<(&'static str, String)>,
    /// A local reply was sent: a panic after it must not send a second one.
    pub replied: bool,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Filter {
    pub fn new(shared: Arc<Shared>) -> Filter {
        Filter {
            shared,
            pending: Vec::new(),
            replied: false,
        }
    }

    pub fn on_request_headers(&mut self, stream: &mut impl Stream) -> Flow {
        let policy = self.shared.policy.load_full();
        let plan = decide(&policy, &*stream, unix_now());
        self.apply(stream, plan)
    }

    /// Carries a decision out on the stream: the one place that knows the decision's shape.
    fn apply(&mut self, stream: &mut impl Stream, plan: Plan) -> Flow {
        let metrics = &self.shared.metrics;
        export_metadata(stream, &plan);
        if let Some(reply) = &plan.reply {
            stream.increment(metrics.denied(plan.code));
            log_decision("denied", &plan);
            let headers: Vec<(&str, &str)> = reply
                .headers
                .iter()
                .map(|(n, v)| (*n, v.as_str()))
                .collect();
            let details = format!("tokengate_{}", plan.code.as_str());
            self.replied = true;
            stream.send_response(reply.status, &headers, reply.body.as_bytes(), &details);
            return Flow::Stop;
        }
        if plan.verdict == Verdict::Deny {
            return internal_error(stream, &mut self.replied, "a denial without a reply");
        }
        // The request edits, as the core lists them: step 1's removals, then the headers to set.
        for name in &plan.remove {
            stream.remove_header(Map::Request, name);
        }
        for (name, value) in plan.set_headers() {
            if !stream.set_header(Map::Request, name, value) {
                return internal_error(
                    stream,
                    &mut self.replied,
                    &format!("setting {name} failed"),
                );
            }
        }
        if plan.verdict == Verdict::WouldDeny {
            stream.increment(metrics.would_deny(plan.code));
            log_decision("would deny", &plan);
        } else {
            stream.increment(metrics.allowed);
            if plan.deprecated {
                stream.increment(metrics.deprecated_served);
            }
        }
        self.pending = plan.response;
        Flow::Continue
    }

    pub fn on_response_headers(&mut self, stream: &mut impl Stream) {
        for (name, value) in core::mem::take(&mut self.pending) {
            // `Link` may carry the upstream's own relations: add ours beside them. `Deprecation`
            // and `Sunset` hold one value: ours replaces any the upstream sent.
            let ok = if name.eq_ignore_ascii_case("link") {
                stream.add_header(Map::Response, name, &value)
            } else {
                stream.set_header(Map::Response, name, &value)
            };
            if !ok {
                log(
                    LogLevel::Warn,
                    &format!("could not add {name} to the response"),
                );
            }
        }
    }
}

/// The decision for the stream's request headers, copied out of them: the header views end
/// here, so nothing below can hold one while the map is edited.
fn decide(policy: &Policy, stream: &impl Stream, now: i64) -> Plan {
    let headers = stream.request_headers();
    #[cfg(feature = "panic-marker")]
    panic_marker(&headers);
    let (mut method, mut target): (&[u8], &[u8]) = (b"", b"");
    for (name, value) in &headers {
        match *name {
            b":method" => method = value,
            b":path" => target = value,
            _ => {}
        }
    }
    let mut request = Request::new(method, target);
    for (name, value) in &headers {
        request.header(name, value);
    }
    Plan::of(&policy.decide(&request, now))
}

/// Test builds only: a request with this header panics inside the filter.
#[cfg(feature = "panic-marker")]
#[allow(clippy::panic)]
fn panic_marker(headers: &[(&[u8], &[u8])]) {
    if headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(b"x-tokengate-test-panic"))
    {
        panic!("x-tokengate-test-panic: a panic injected by a test build");
    }
}

/// The decision as dynamic metadata, for the access log and the filters after this one: one
/// call, the keys that have a value.
fn export_metadata(stream: &mut impl Stream, p: &Plan) {
    let candidates = [
        ("code", Some(p.code.as_str())),
        ("token_id", p.token_id()),
        ("token_kind", p.token_kind),
        ("account_id", p.account_id()),
        ("client", p.client()),
        (
            "would_deny",
            (p.verdict == Verdict::WouldDeny).then(|| p.code.as_str()),
        ),
        ("advice", p.advice),
    ];
    let mut entries: [(&str, &str); 7] = [("", ""); 7];
    let mut n = 0;
    for (slot, (k, v)) in entries
        .iter_mut()
        .zip(candidates.iter().filter_map(|(k, v)| v.map(|v| (*k, v))))
    {
        *slot = (k, v);
        n += 1;
    }
    stream.set_metadata(METADATA_NAMESPACE, entries.get(..n).unwrap_or_default());
}

/// One debug line per denial: the code and the token id, never the token or its digest; not
/// even formatted unless Envoy's `dynamic_modules` logger is at debug.
fn log_decision(what: &str, p: &Plan) {
    if !log_enabled(LogLevel::Debug) {
        return;
    }
    log(
        LogLevel::Debug,
        &format!(
            "{what} {} {} token_id={} kind={}",
            p.status(),
            p.code.as_str(),
            p.token_id().unwrap_or("-"),
            p.token_kind.unwrap_or("-"),
        ),
    );
}

/// Fails the stream closed with `500 internal`, unless it was already answered.
pub fn internal_error(stream: &mut impl Stream, replied: &mut bool, why: &str) -> Flow {
    log(LogLevel::Error, &format!("failing closed: {why}"));
    if !*replied {
        *replied = true;
        stream.set_metadata(METADATA_NAMESPACE, &[("code", "internal")]);
        stream.send_response(
            500,
            &[
                ("cache-control", "no-store"),
                ("content-type", "text/plain"),
            ],
            b"internal error\n",
            "tokengate_internal_error",
        );
    }
    Flow::Stop
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
