//! One HTTP stream: read the request headers once, let the core decide, carry the decision out.

use std::sync::Arc;

use tokengate::{Decision, Policy, Request};

use crate::config::Shared;
use crate::host::{log, log_enabled, LogLevel, Map, Stream};

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

/// Bit `i` of the mask of `strip_headers()` the client sent.
fn bit(i: usize) -> u64 {
    u32::try_from(i)
        .ok()
        .and_then(|i| 1u64.checked_shl(i))
        .unwrap_or(0)
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
        let (decision, present) = decide(&policy, &*stream, unix_now());
        self.apply(stream, &policy, &decision, present)
    }

    /// Carries a decision out on the stream: the one place that knows the decision's shape.
    fn apply(
        &mut self,
        stream: &mut impl Stream,
        policy: &Policy,
        d: &Decision,
        present: u64,
    ) -> Flow {
        let metrics = &self.shared.metrics;
        export_metadata(stream, d);
        if !d.allow {
            stream.increment(metrics.denied(d.code));
            log_decision("denied", d);
            let headers: Vec<(&str, &str)> = d
                .response_headers
                .iter()
                .map(|(n, v)| (*n, v.as_str()))
                .collect();
            let details = format!("tokengate_{}", d.code.as_str());
            self.replied = true;
            stream.send_response(
                d.status,
                &headers,
                d.body.as_deref().unwrap_or("").as_bytes(),
                &details,
            );
            return Flow::Stop;
        }
        // SPEC §6 step 1: drop client-sent identity headers, except those about to be set anyway.
        for (i, name) in policy.strip_headers().iter().enumerate() {
            if present & bit(i) != 0
                && !d
                    .upstream_headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                stream.remove_header(Map::Request, name);
            }
        }
        for (name, value) in &d.upstream_headers {
            if !stream.set_header(Map::Request, name, value) {
                return internal_error(
                    stream,
                    &mut self.replied,
                    &format!("setting {name} failed"),
                );
            }
        }
        if d.report_only {
            stream.increment(metrics.would_deny(d.code));
            log_decision("would deny", d);
        } else {
            stream.increment(metrics.allowed);
            if d.deprecated {
                stream.increment(metrics.deprecated_served);
            }
        }
        if !d.response_headers.is_empty() {
            self.pending.clone_from(&d.response_headers);
        }
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

/// The decision for the stream's request headers, and which `strip_headers()` the client sent.
/// The header views end here: nothing below may hold them while the map is edited.
fn decide(policy: &Policy, stream: &impl Stream, now: i64) -> (Decision, u64) {
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
    let strip = policy.strip_headers();
    let mut present = 0u64;
    for (name, value) in &headers {
        request.header(name, value);
        for (i, s) in strip.iter().enumerate() {
            if name.eq_ignore_ascii_case(s.as_bytes()) {
                present |= bit(i);
            }
        }
    }
    (policy.decide(&request, now), present)
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

/// The decision as dynamic metadata, for the access log and the filters after this one.
fn export_metadata(stream: &mut impl Stream, d: &Decision) {
    let account = d.account_id.map(|a| a.to_string());
    let mut entries: Vec<(&str, &str)> = Vec::with_capacity(7);
    entries.push(("code", d.code.as_str()));
    if let Some(t) = d.token_id.as_deref() {
        entries.push(("token_id", t));
    }
    if let Some(k) = d.token_kind {
        entries.push(("token_kind", k.as_str()));
    }
    if let Some(a) = account.as_deref() {
        entries.push(("account_id", a));
    }
    if d.report_only {
        entries.push(("would_deny", d.code.as_str()));
    }
    stream.set_metadata(METADATA_NAMESPACE, &entries);
}

/// One debug line per denial: the code and the token id, never the token or its digest; not
/// even formatted unless Envoy's `dynamic_modules` logger is at debug.
fn log_decision(what: &str, d: &Decision) {
    if !log_enabled(LogLevel::Debug) {
        return;
    }
    log(
        LogLevel::Debug,
        &format!(
            "{what} {} {} token_id={} kind={}",
            d.status,
            d.code.as_str(),
            d.token_id.as_deref().unwrap_or("-"),
            d.token_kind.map_or("-", |k| k.as_str()),
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
