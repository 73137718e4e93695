//! Counters under one prefix, `tokengate.`, defined once per VM and shared by its requests.
//!
//! Envoy shows them on the admin `/stats` page (and Prometheus) by these names; the per-code
//! ones end in the code exactly as it appears on the wire (`tokengate.denied.account_mismatch`).

use tokengate::Code;

use crate::host::{self, Host, MetricKind};

pub const PREFIX: &str = "tokengate";

/// Metric ids; 0 marks one the host refused to define (then it is simply not counted).
#[derive(Default)]
pub struct Metrics {
    pub allowed: u32,
    pub deprecated_served: u32,
    denied: [u32; Code::ALL.len()],
    would_deny: [u32; Code::ALL.len()],
    /// `registry.url`'s fetches; `size` is the gauge `registry.tokens`.
    pub registry: Fetches,
    /// `jwks.url`'s fetches; `size` is the gauge `jwks.keys`.
    pub jwks: Fetches,
    /// Fetches of the key set that a token with an unknown `kid` asked for.
    pub jwks_refetch_unknown_kid: u32,
}

/// The counters of one fetched document, and the gauge of its size.
#[derive(Default)]
pub struct Fetches {
    pub ok: u32,
    pub not_modified: u32,
    pub failed: u32,
    pub size: u32,
}

impl Fetches {
    fn define(host: &dyn Host, doc: &str, size: &str) -> Fetches {
        let counter =
            |what: &str| define(host, MetricKind::Counter, &format!("{PREFIX}.{doc}.{what}"));
        Fetches {
            ok: counter("fetch_ok"),
            not_modified: counter("fetch_not_modified"),
            failed: counter("fetch_failed"),
            size: define(host, MetricKind::Gauge, &format!("{PREFIX}.{doc}.{size}")),
        }
    }
}

fn define(host: &dyn Host, kind: MetricKind, name: &str) -> u32 {
    match host.define_metric(kind, name) {
        Ok(id) => id,
        Err(e) => {
            host.log(
                host::LogLevel::Warn,
                &format!("could not define metric {name}: host status {}", e.0),
            );
            0
        }
    }
}

fn index(code: Code) -> Option<usize> {
    Code::ALL.iter().position(|c| *c == code)
}

impl Metrics {
    pub fn define(host: &dyn Host) -> Metrics {
        let mut m = Metrics {
            allowed: define(host, MetricKind::Counter, &format!("{PREFIX}.allowed")),
            deprecated_served: define(
                host,
                MetricKind::Counter,
                &format!("{PREFIX}.deprecated_served"),
            ),
            registry: Fetches::define(host, "registry", "tokens"),
            jwks: Fetches::define(host, "jwks", "keys"),
            jwks_refetch_unknown_kid: define(
                host,
                MetricKind::Counter,
                &format!("{PREFIX}.jwks.refetch_unknown_kid"),
            ),
            ..Metrics::default()
        };
        for (i, code) in Code::ALL.iter().enumerate() {
            if *code == Code::Ok {
                continue;
            }
            if let Some(slot) = m.denied.get_mut(i) {
                *slot = define(
                    host,
                    MetricKind::Counter,
                    &format!("{PREFIX}.denied.{}", code.as_str()),
                );
            }
            if let Some(slot) = m.would_deny.get_mut(i) {
                *slot = define(
                    host,
                    MetricKind::Counter,
                    &format!("{PREFIX}.report.would_deny.{}", code.as_str()),
                );
            }
        }
        m
    }

    pub fn denied(&self, code: Code) -> u32 {
        index(code)
            .and_then(|i| self.denied.get(i).copied())
            .unwrap_or(0)
    }

    pub fn would_deny(&self, code: Code) -> u32 {
        index(code)
            .and_then(|i| self.would_deny.get(i).copied())
            .unwrap_or(0)
    }
}

/// Adds one; a counter the host lost is not worth failing a request over.
pub fn bump(id: u32) {
    if id != 0 {
        let _ = host::increment_metric(id, 1);
    }
}
