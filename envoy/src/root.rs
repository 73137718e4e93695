//! The root context: the policy (from the plugin configuration) and, with `registry.url` or
//! `jwks.url`, the documents fetched over HTTP and shared across the process (see `sync.rs`).
//!
//! Written against [`Host`], so that configure, registry adoption and ticks are unit-tested with
//! the fake host (`root_tests.rs`); in Envoy the host is [`crate::host::Envoy`].
//!
//! How fast a new registry reaches every worker: the worker whose root fetched it installs it
//! when the answer arrives; every other root looks at the shared generation on each tick
//! (`TICK_MS`) and adopts a newer one at once. So once any root has fetched a document, every
//! worker decides with it within `TICK_MS` plus the time its VM takes to copy and check the packed
//! table (`Registry::from_bytes`; `docs/reliability.md` has the figures for a million entries),
//! and a revocation takes at most `refresh_seconds` + the fetcher's parse + that bound. A per-request check would
//! shorten it by at most `TICK_MS` at the price of a host call on every request. A key set
//! fetched from `jwks.url` travels the same way; a token whose `kid` it does not hold asks, on
//! the next tick, for one fetch ahead of schedule per `refetch_cooldown_seconds`.

use std::cell::Cell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use tokengate::{FetchUrl, Policy};

use tokengate::fetched::{Document, What};

use crate::fetch::{self, Fetched};
use crate::filter::Filter;
use crate::host::{Buffer, Host, LogLevel, Status};
use crate::metrics::{Fetches, Metrics};
use crate::sync::{Outcome, Shared, Sync};

/// How often a root looks at the shared registry generation (and whether a fetch is due): the
/// bound on how long a worker decides with a registry older than the newest fetched one.
pub const TICK_MS: u32 = 100;

pub struct Root<H: Host> {
    host: H,
    /// What new requests see.
    current: Option<Rc<Policy>>,
    metrics: Option<Rc<Metrics>>,
    /// One per fetched document: `registry.url`, `jwks.url`.
    fetchers: Vec<Fetcher>,
    /// Set by a request whose OAuth token named a `kid` the fetched key set does not hold.
    keys_wanted: Rc<Cell<bool>>,
}

struct Fetcher {
    what: What,
    url: FetchUrl,
    /// `jwks.url`: the least time between two fetches asked for by an unknown `kid`.
    cooldown: i64,
    sync: Sync,
    token: Option<u32>,
}

impl Fetcher {
    fn new(what: What, url: FetchUrl, cooldown: u64) -> Fetcher {
        // The shared keys name the document, so plugins that fetch the same URL share it and
        // plugins that fetch different ones (or a registry and a key set) do not collide.
        let kind = match what {
            What::Registry => "",
            What::Jwks => "jwks|",
        };
        Fetcher {
            sync: Sync::new(
                &format!("{kind}{}|{}|{}", url.cluster, url.authority, url.path),
                url.refresh_seconds,
                url.timeout_ms,
            ),
            cooldown: i64::try_from(cooldown).unwrap_or(i64::MAX),
            what,
            url,
            token: None,
        }
    }

    fn label(&self) -> String {
        format!("cluster {} path {}", self.url.cluster, self.url.path)
    }

    fn counters<'m>(&self, m: &'m Metrics) -> &'m Fetches {
        match self.what {
            What::Registry => &m.registry,
            What::Jwks => &m.jwks,
        }
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
        let Some(at) = self.fetchers.iter().position(|f| f.token == Some(token_id)) else {
            return;
        };
        let host = &self.host;
        let now = host.now_seconds();
        let m = self.metrics.clone().unwrap_or_default();
        let Some(fetcher) = self.fetchers.get_mut(at) else {
            return;
        };
        fetcher.token = None;
        let counters = fetcher.counters(&m);
        let name = fetcher.what.name();
        match fetch::read(host, fetcher.what, num_headers, body_size) {
            Fetched::NotModified => {
                fetcher.sync.finish(now, Outcome::NotModified, &Via(host));
                bump(host, counters.not_modified);
            }
            Fetched::Fresh {
                etag,
                mut stored,
                document,
            } => {
                let fresh = Outcome::Fresh {
                    etag: etag.as_deref(),
                    stored: &mut stored,
                };
                let generation = fetcher.sync.finish(now, fresh, &Via(host));
                drop(stored);
                bump(host, counters.ok);
                let line =
                    fetcher
                        .what
                        .loaded_line(&fetcher.label(), &document, generation.unwrap_or(0));
                self.install(document);
                self.host.log(LogLevel::Info, &line);
            }
            Fetched::Failed(why) => {
                fetcher.sync.finish(now, Outcome::Failed, &Via(host));
                bump(host, counters.failed);
                let line = match self.current.as_deref() {
                    Some(p) => {
                        let loaded = fetcher.sync.loaded;
                        fetcher.what.failed_line(&fetcher.label(), &why, p, loaded)
                    }
                    None => format!("{name} fetch from {} failed: {why}", fetcher.label()),
                };
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
        self.host.log(
            LogLevel::Info,
            &tokengate::fetched::policy_loaded_line(&policy),
        );
        self.set_gauge(What::Registry, policy.registry().len());
        self.fetchers = policy
            .registry_url()
            .map(|u| Fetcher::new(What::Registry, u.clone(), 0))
            .into_iter()
            .chain(
                policy
                    .jwks_url()
                    .map(|j| Fetcher::new(What::Jwks, j.url.clone(), j.refetch_cooldown_seconds)),
            )
            .collect();
        self.current = Some(Rc::new(policy));
        if self.fetchers.is_empty() {
            return true;
        }
        for f in &self.fetchers {
            // So the first tick can take the lease with a CAS (one first fetch per process).
            f.sync.prepare(&Via(&self.host));
        }
        // Another worker (or the previous configuration) may already hold the documents.
        self.adopt();
        if let Err(e) = self.host.set_tick_period_ms(TICK_MS) {
            self.host.log(
                LogLevel::Error,
                &format!(
                    "cannot set a tick period (status {}): fetched documents will not load",
                    e.0
                ),
            );
        }
        true
    }

    fn on_tick(&mut self) {
        self.adopt();
        self.hurry();
        self.maybe_fetch();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        for f in &self.fetchers {
            f.sync.serving(); // fetches go to a VM that serves no requests (sync::SERVING_GRACE)
        }
        Some(Box::new(Filter {
            policy: self.current.clone(),
            metrics: self.metrics.clone().unwrap_or_default(),
            pending: Vec::new(),
            keys_wanted: Rc::clone(&self.keys_wanted),
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
            current: None,
            metrics: None,
            fetchers: Vec::new(),
            keys_wanted: Rc::new(Cell::new(false)),
        }
    }

    /// The policy new requests are decided with.
    #[cfg(test)]
    pub fn current(&self) -> Option<&Policy> {
        self.current.as_deref()
    }

    /// What a request sets when it wants the key set fetched again.
    #[cfg(test)]
    pub fn keys_wanted(&self) -> &Cell<bool> {
        &self.keys_wanted
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

    fn set_gauge(&self, what: What, size: usize) {
        let Some(m) = self.metrics.as_ref() else {
            return;
        };
        let id = match what {
            What::Registry => m.registry.size,
            What::Jwks => m.jwks.size,
        };
        if id != 0 {
            let _ = self
                .host
                .record_metric(id, u64::try_from(size).unwrap_or(u64::MAX));
        }
    }

    /// New requests see `document` from now on, beside the other document in force; requests
    /// in flight keep what they started with. The registry is shared, so this copies no table.
    fn install(&mut self, document: Document) {
        let Some(current) = &self.current else {
            return;
        };
        let mut policy = Policy::clone(current);
        let what = document.what();
        let size = document.install(&mut policy);
        self.current = Some(Rc::new(policy));
        self.set_gauge(what, size);
    }

    /// Loads each document another root stored, if it is newer than ours.
    fn adopt(&mut self) {
        for at in 0..self.fetchers.len() {
            let Some(fetcher) = self.fetchers.get_mut(at) else {
                continue;
            };
            let Some(doc) = fetcher.sync.newer(&Via(&self.host)) else {
                continue;
            };
            // Marked loaded even if it fails to parse, so a bad document is not re-parsed every
            // tick.
            fetcher.sync.loaded = doc.generation;
            let (what, name) = (fetcher.what, fetcher.what.name());
            let generation = format!("generation {}", doc.generation);
            let label = format!("shared {name} document refused");
            match fetch::unpack(&self.host, what, &label, &doc.stored) {
                Ok(document) => {
                    drop(doc.stored);
                    let line = format!(
                        "{name} {generation} adopted from shared data: {}",
                        document.size()
                    );
                    self.install(document);
                    self.host.log(LogLevel::Info, &line);
                }
                Err(why) => self.host.log(
                    LogLevel::Error,
                    &format!("shared {name} {generation} refused: {why}"),
                ),
            }
        }
    }

    /// A request named a `kid` the key set does not hold: ask for a fetch of the key set ahead
    /// of schedule, which the shared cooldown allows at most once per `refetch_cooldown_seconds`
    /// across the process.
    fn hurry(&mut self) {
        if !self.keys_wanted.replace(false) {
            return;
        }
        let host = &self.host;
        let now = host.now_seconds();
        for f in self.fetchers.iter().filter(|f| f.what == What::Jwks) {
            if f.sync.hurry(now, f.cooldown, &Via(host)) {
                if let Some(m) = &self.metrics {
                    bump(host, m.jwks_refetch_unknown_kid);
                }
                host.log(
                    LogLevel::Info,
                    &format!(
                        "a token named a key id the key set does not hold: fetching the key set from {} again",
                        f.label()
                    ),
                );
            }
        }
    }

    fn maybe_fetch(&mut self) {
        let host = &self.host;
        let now = host.now_seconds();
        for fetcher in &mut self.fetchers {
            let Some(claim) = fetcher.sync.claim(now, &Via(host)) else {
                continue;
            };
            let url = &fetcher.url;
            let headers = fetch::request_headers(url, claim.if_none_match.as_deref());
            match host.http_call(&url.cluster, &headers, url.timeout_ms) {
                Ok(token) => fetcher.token = Some(token),
                Err(status) => {
                    let line = format!(
                        "cannot fetch the {} from cluster {} (host status {}): is the cluster defined?",
                        fetcher.what.name(),
                        url.cluster,
                        status.0
                    );
                    fetcher.sync.abandon(now, &Via(host));
                    if let Some(m) = &self.metrics {
                        bump(host, fetcher.counters(m).failed);
                    }
                    host.log(LogLevel::Warn, &line);
                }
            }
        }
    }
}
