//! The root context: the policy (from the plugin configuration) and, with `registry.url`, the
//! registry fetched over HTTP and shared across the process (see `sync.rs`).
//!
//! Written against [`Host`], so that configure, registry adoption and ticks are unit-tested with
//! the fake host (`root_tests.rs`); in Envoy the host is [`crate::host::Envoy`].
//!
//! How fast a new registry reaches every worker: the worker whose root fetched it installs it
//! when the answer arrives; every other root looks at the shared generation on each tick
//! (`TICK_MS`) and adopts a newer one at once. So once any root has fetched a document, every
//! worker decides with it within `TICK_MS` plus the time its VM takes to copy and check the packed
//! table (`Registry::from_bytes`; `docs/reliability.md` has the figures for a million entries),
//! and a revocation takes at most `refresh_seconds` + that bound. A per-request check would
//! shorten it by at most `TICK_MS` at the price of a host call on every request.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use tokengate::{Policy, Registry, RegistryUrl};

use crate::fetch::{self, Fetched};
use crate::filter::{mode_name, Filter};
use crate::host::{Buffer, Host, LogLevel, Status};
use crate::metrics::Metrics;
use crate::sync::{Outcome, Shared, Sync};

/// How often a root looks at the shared registry generation (and whether a fetch is due): the
/// bound on how long a worker decides with a registry older than the newest fetched one.
pub const TICK_MS: u32 = 100;

pub struct Root<H: Host> {
    host: H,
    /// The policy as configured, before any fetched registry: the base for each new registry.
    base: Option<Policy>,
    /// What new requests see.
    current: Option<Rc<Policy>>,
    metrics: Option<Rc<Metrics>>,
    fetcher: Option<Fetcher>,
}

struct Fetcher {
    url: RegistryUrl,
    sync: Sync,
    token: Option<u32>,
}

impl Fetcher {
    fn label(&self) -> String {
        format!("cluster {} path {}", self.url.cluster, self.url.path)
    }
}

/// The host's shared data, as `sync` sees it.
struct Via<'a, H>(&'a H);

impl<H: Host> Shared for Via<'_, H> {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
        self.0.shared_get(key)
    }
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        self.0.shared_set(key, value, cas)
    }
}

/// Adds one; a counter the host lost is not worth failing over (0: never defined).
fn bump(host: &dyn Host, id: u32) {
    if id != 0 {
        let _ = host.increment_metric(id, 1);
    }
}

impl<H: Host> Context for Root<H> {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(fetcher) = self.fetcher.as_mut() else {
            return;
        };
        if fetcher.token != Some(token_id) {
            return;
        }
        fetcher.token = None;
        let host = &self.host;
        let now = host.now_seconds();
        let m = self.metrics.clone().unwrap_or_default();
        match fetch::read(host, num_headers, body_size) {
            Fetched::NotModified => {
                fetcher.sync.finish(now, Outcome::NotModified, &Via(host));
                bump(host, m.registry_fetch_not_modified);
            }
            Fetched::Fresh { etag, registry } => {
                let fresh = Outcome::Fresh {
                    etag: etag.as_deref(),
                    registry: &registry,
                };
                let generation = fetcher.sync.finish(now, fresh, &Via(host));
                bump(host, m.registry_fetch_ok);
                let line = format!(
                    "registry loaded from {}: {} tokens (generation {})",
                    fetcher.label(),
                    registry.len(),
                    generation.unwrap_or(0)
                );
                self.install(registry);
                self.host.log(LogLevel::Info, &line);
            }
            Fetched::Failed(why) => {
                fetcher.sync.finish(now, Outcome::Failed, &Via(host));
                bump(host, m.registry_fetch_failed);
                let kept = match (fetcher.sync.loaded, self.current.as_ref()) {
                    (0, _) | (_, None) => String::from("no registry has loaded yet"),
                    (generation, Some(p)) => format!(
                        "keeping the last good registry ({} tokens, generation {generation})",
                        p.registry().len()
                    ),
                };
                let line = format!(
                    "registry fetch from {} failed: {why}; {kept}",
                    fetcher.label()
                );
                host.log(LogLevel::Warn, &line);
            }
        }
    }
}

impl<H: Host> RootContext for Root<H> {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let Some(policy) = self.read_policy() else {
            return false;
        };
        if self.metrics.is_none() {
            self.metrics = Some(Rc::new(Metrics::define(&self.host)));
        }
        let url = policy.registry_url().cloned();
        let source = match &url {
            Some(u) => format!(
                "registry from cluster {} path {} every {} s",
                u.cluster, u.path, u.refresh_seconds
            ),
            None => format!("{} tokens inline", policy.registry().len()),
        };
        self.host.log(
            LogLevel::Info,
            &format!("policy loaded: mode {}, {source}", mode_name(&policy)),
        );
        self.set_gauge(policy.registry().len());
        self.current = Some(Rc::new(policy.clone()));
        self.base = Some(policy);
        self.fetcher = url.map(|url| Fetcher {
            sync: Sync::new(
                &format!("{}|{}|{}", url.cluster, url.authority, url.path),
                url.refresh_seconds,
                url.timeout_ms,
            ),
            url,
            token: None,
        });
        if let Some(f) = &self.fetcher {
            // So the first tick can take the lease with a CAS (one first fetch per process).
            f.sync.prepare(&Via(&self.host));
            // Another worker (or the previous configuration) may already hold the document.
            self.adopt();
            if let Err(e) = self.host.set_tick_period_ms(TICK_MS) {
                self.host.log(
                    LogLevel::Error,
                    &format!(
                        "cannot set a tick period (status {}): the registry will not load",
                        e.0
                    ),
                );
            }
        }
        true
    }

    fn on_tick(&mut self) {
        self.adopt();
        self.maybe_fetch();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if let Some(f) = &self.fetcher {
            f.sync.serving(); // fetches go to a VM that serves no requests (sync::SERVING_GRACE)
        }
        Some(Box::new(Filter {
            policy: self.current.clone(),
            metrics: self.metrics.clone().unwrap_or_default(),
            pending: Vec::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl<H: Host> Root<H> {
    pub fn new(host: H) -> Root<H> {
        Root {
            host,
            base: None,
            current: None,
            metrics: None,
            fetcher: None,
        }
    }

    /// The policy new requests are decided with.
    #[cfg(test)]
    pub fn current(&self) -> Option<&Policy> {
        self.current.as_deref()
    }

    /// The plugin configuration as a policy; every reason it is not one is logged.
    fn read_policy(&self) -> Option<Policy> {
        let host = &self.host;
        let config = match host.buffer(Buffer::PluginConfiguration, usize::MAX) {
            Ok(c) => c,
            Err(e) => {
                let line = format!("cannot read the plugin configuration: status {}", e.0);
                host.log(LogLevel::Error, &line);
                return None;
            }
        };
        let Ok(text) = core::str::from_utf8(&config) else {
            host.log(
                LogLevel::Error,
                "policy refused: the configuration is not UTF-8",
            );
            return None;
        };
        // Refused, Envoy refuses this configuration: at startup Envoy stops, on an update (ECDS,
        // LDS) it keeps serving with the configuration it had.
        Policy::from_json_fetching(text)
            .map_err(|errors| fetch::log_errors(host, "policy refused", &errors))
            .ok()
    }

    fn set_gauge(&self, tokens: usize) {
        if let Some(m) = self.metrics.as_ref().filter(|m| m.registry_tokens != 0) {
            let tokens = u64::try_from(tokens).unwrap_or(u64::MAX);
            let _ = self.host.record_metric(m.registry_tokens, tokens);
        }
    }

    /// New requests see `registry` from now on; requests in flight keep what they started with.
    fn install(&mut self, registry: Registry) {
        let Some(base) = &self.base else {
            return;
        };
        let tokens = registry.len();
        let mut policy = base.clone();
        policy.set_registry(registry);
        self.current = Some(Rc::new(policy));
        self.set_gauge(tokens);
    }

    /// Loads the document another root stored, if it is newer than ours.
    fn adopt(&mut self) {
        let Some(fetcher) = self.fetcher.as_mut() else {
            return;
        };
        let Some(doc) = fetcher.sync.newer(&Via(&self.host)) else {
            return;
        };
        // Marked loaded even if it fails to parse, so a bad document is not re-parsed every tick.
        fetcher.sync.loaded = doc.generation;
        let what = "shared registry document refused";
        match fetch::unpack(&self.host, what, &doc.bytes) {
            Ok(registry) => {
                drop(doc.bytes);
                let line = format!(
                    "registry generation {} adopted from shared data: {} tokens",
                    doc.generation,
                    registry.len()
                );
                self.install(registry);
                self.host.log(LogLevel::Info, &line);
            }
            Err(why) => self.host.log(
                LogLevel::Error,
                &format!(
                    "shared registry generation {} refused: {why}",
                    doc.generation
                ),
            ),
        }
    }

    fn maybe_fetch(&mut self) {
        let Some(fetcher) = self.fetcher.as_mut() else {
            return;
        };
        let host = &self.host;
        let now = host.now_seconds();
        let Some(claim) = fetcher.sync.claim(now, &Via(host)) else {
            return;
        };
        let url = &fetcher.url;
        let headers = fetch::request_headers(url, claim.if_none_match.as_deref());
        match host.http_call(&url.cluster, &headers, url.timeout_ms) {
            Ok(token) => fetcher.token = Some(token),
            Err(status) => {
                let line = format!(
                    "cannot fetch the registry from cluster {} (host status {}): is the cluster defined?",
                    url.cluster, status.0
                );
                fetcher.sync.abandon(now, &Via(host));
                if let Some(m) = &self.metrics {
                    bump(host, m.registry_fetch_failed);
                }
                host.log(LogLevel::Warn, &line);
            }
        }
    }
}
