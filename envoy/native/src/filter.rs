//! One HTTP stream: read the request headers once, let the core decide, carry the decision out.

use std::sync::Arc;

use tokengate::{Decision, Policy, Request, Verdict};

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
        let plan = plan(&policy, &*stream, unix_now());
        if plan.wants_new_keys {
            self.shared
                .keys_wanted
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.apply(stream, plan)
    }

    /// Carries a decision out on the stream: the one place that knows the decision's shape.
    fn apply(&mut self, stream: &mut impl Stream, plan: Plan) -> Flow {
        let metrics = &self.shared.metrics;
        let meta: Vec<(&str, &str)> = plan
            .metadata
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        stream.set_metadata(METADATA_NAMESPACE, &meta);
        if let Some(reply) = &plan.reply {
            stream.increment(metrics.denied(plan.code));
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
        // The request edits, as the core lists them: step 1's removals, then the headers to set.
        for name in &plan.remove {
            if let Ok(name) = core::str::from_utf8(name) {
                stream.remove_header(Map::Request, name);
            }
        }
        for (name, value) in &plan.set {
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
        } else {
            stream.increment(metrics.allowed);
            if !plan.pending.is_empty() {
                stream.increment(metrics.deprecated_served);
            }
        }
        self.pending = plan.pending;
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

/// What the decision asks of the stream, owned: Envoy's header views are valid only until the
/// map is edited, and the decision borrows them, so it ends before the first edit.
struct Plan {
    verdict: Verdict,
    code: tokengate::Code,
    remove: Vec<Vec<u8>>,
    set: Vec<(String, String)>,
    reply: Option<tokengate::Reply>,
    pending: Vec<(&'static str, String)>,
    metadata: Vec<(&'static str, String)>,
    wants_new_keys: bool,
}

/// The decision for the stream's request headers, as a plan. The header views end here.
fn plan(policy: &Policy, stream: &impl Stream, now: i64) -> Plan {
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
    let d = policy.decide(&request, now);
    log_decision(&d);
    Plan {
        verdict: d.verdict,
        code: d.code,
        remove: d.remove_headers().map(<[u8]>::to_vec).collect(),
        set: d
            .set_headers()
            .map(|(n, v)| (String::from(n), String::from(v.as_str())))
            .collect(),
        reply: d.reply(),
        pending: d
            .response_headers()
            .map(|(n, v)| (n, String::from(v)))
            .collect(),
        metadata: metadata(&d),
        wants_new_keys: d.wants_new_keys(),
    }
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

/// The decision as dynamic metadata (SPEC §12), for the access log and the filters after this one.
fn metadata(d: &Decision<'_>) -> Vec<(&'static str, String)> {
    let mut entries: Vec<(&'static str, String)> = Vec::with_capacity(7);
    entries.push(("code", String::from(d.code.as_str())));
    if let Some(t) = d.token_id() {
        entries.push(("token_id", String::from(t)));
    }
    if let Some(k) = d.token_kind {
        entries.push(("token_kind", String::from(k.as_str())));
    }
    if let Some(a) = d.account_id {
        entries.push(("account_id", a.to_string()));
    }
    if let Some(c) = d.client() {
        entries.push(("client", String::from(c)));
    }
    if d.report_only() {
        entries.push(("would_deny", String::from(d.code.as_str())));
    }
    if let Some(a) = d.advice() {
        entries.push(("advice", String::from(a.code)));
    }
    entries
}

/// One debug line per denial: the code and the token id, never the token or its digest; not
/// even formatted unless Envoy's `dynamic_modules` logger is at debug.
fn log_decision(d: &Decision<'_>) {
    if d.verdict == Verdict::Allow || !log_enabled(LogLevel::Debug) {
        return;
    }
    if let Some(line) = d.log_line() {
        log(LogLevel::Debug, &line);
    }
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
