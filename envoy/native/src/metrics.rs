//! The counters, with the wasm filter's names: `tokengate.allowed`, `tokengate.denied.<code>`, ...
//! Envoy files a dynamic module's metrics under `dynamicmodulescustom.`, so the admin page shows
//! `dynamicmodulescustom.tokengate.allowed` where the wasm filter shows `wasmcustom.tokengate.allowed`.

use tokengate::Code;

use crate::host::{ConfigHost, MetricId};

pub const PREFIX: &str = "tokengate";

/// Metric ids, defined once per filter configuration and read by every worker.
#[derive(Debug, Default)]
pub struct Metrics {
    pub allowed: MetricId,
    pub deprecated_served: MetricId,
    denied: [MetricId; Code::ALL.len()],
    would_deny: [MetricId; Code::ALL.len()],
    /// `registry.url`'s fetches; `size` is the gauge `registry.tokens`.
    pub registry: Fetches,
    /// `jwks.url`'s fetches; `size` is the gauge `jwks.keys`.
    pub jwks: Fetches,
    /// Fetches of the key set that a token with an unknown `kid` caused.
    pub jwks_refetch_unknown_kid: MetricId,
}

/// The counters of one fetched document, and the gauge of its size.
#[derive(Debug, Default)]
pub struct Fetches {
    pub ok: MetricId,
    pub not_modified: MetricId,
    pub failed: MetricId,
    pub size: MetricId,
}

impl Fetches {
    fn define(host: &mut impl ConfigHost, doc: &str, size: &str) -> Fetches {
        Fetches {
            ok: host.define_counter(&format!("{PREFIX}.{doc}.fetch_ok")),
            not_modified: host.define_counter(&format!("{PREFIX}.{doc}.fetch_not_modified")),
            failed: host.define_counter(&format!("{PREFIX}.{doc}.fetch_failed")),
            size: host.define_gauge(&format!("{PREFIX}.{doc}.{size}")),
        }
    }
}

fn index(code: Code) -> Option<usize> {
    Code::ALL.iter().position(|c| *c == code)
}

impl Metrics {
    /// Defines every metric; Envoy allows it only while the configuration is being created.
    pub fn define(host: &mut impl ConfigHost) -> Metrics {
        let mut m = Metrics {
            allowed: host.define_counter(&format!("{PREFIX}.allowed")),
            deprecated_served: host.define_counter(&format!("{PREFIX}.deprecated_served")),
            registry: Fetches::define(host, "registry", "tokens"),
            jwks: Fetches::define(host, "jwks", "keys"),
            jwks_refetch_unknown_kid: host
                .define_counter(&format!("{PREFIX}.jwks.refetch_unknown_kid")),
            ..Metrics::default()
        };
        for (i, code) in Code::ALL.iter().enumerate() {
            if *code == Code::Ok {
                continue;
            }
            if let Some(slot) = m.denied.get_mut(i) {
                *slot = host.define_counter(&format!("{PREFIX}.denied.{}", code.as_str()));
            }
            if let Some(slot) = m.would_deny.get_mut(i) {
                *slot =
                    host.define_counter(&format!("{PREFIX}.report.would_deny.{}", code.as_str()));
            }
        }
        m
    }

    pub fn denied(&self, code: Code) -> MetricId {
        index(code)
            .and_then(|i| self.denied.get(i).copied())
            .unwrap_or_default()
    }

    pub fn would_deny(&self, code: Code) -> MetricId {
        index(code)
            .and_then(|i| self.would_deny.get(i).copied())
            .unwrap_or_default()
    }
}
