//! The root context: the policy (from the plugin configuration) and, with `registry.url`, the
//! registry fetched over HTTP and shared across the process (see `sync.rs`).

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use tokengate::{Policy, PolicyErrors, Registry, RegistryUrl};

use crate::filter::{mode_name, Filter};
use crate::host::{self, Buffer, LogLevel, Map, Status};
use crate::metrics::{self, Metrics};
use crate::pairs::Pairs;
use crate::sync::{Outcome, Shared, Sync};

/// Ticks drive the registry: adopt what another worker fetched, or fetch when due.
const TICK_MS: u32 = 500;

/// Registry documents larger than this are refused rather than copied into the VM.
const MAX_REGISTRY_BYTES: usize = 512 << 20;

#[derive(Default)]
pub struct Root {
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

/// Proxy-wasm shared data (per `vm_id`, per process).
struct HostShared;

impl Shared for HostShared {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
        host::shared_get(key)
    }
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        host::shared_set(key, value, cas)
    }
}

fn now() -> i64 {
    host::now_unix_seconds().unwrap_or(0)
}

impl Context for Root {
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
        let now = now();
        let result = read_fetch(num_headers, body_size);
        let m = self.metrics.clone().unwrap_or_default();
        match result {
            Fetched::NotModified => {
                fetcher.sync.finish(now, Outcome::NotModified, &HostShared);
                metrics::bump(m.registry_fetch_not_modified);
            }
            Fetched::Fresh {
                etag,
                json,
                registry,
            } => {
                let generation = fetcher.sync.finish(
                    now,
                    Outcome::Fresh {
                        etag: etag.as_deref(),
                        json: &json,
                    },
                    &HostShared,
                );
                metrics::bump(m.registry_fetch_ok);
                let tokens = registry.len();
                self.install(registry);
                host::log(
                    LogLevel::Info,
                    &format!(
                        "registry loaded from {}: {tokens} tokens (generation {})",
                        fetcher_label(self.fetcher.as_ref()),
                        generation.unwrap_or(0)
                    ),
                );
            }
            Fetched::Failed(why) => {
                fetcher.sync.finish(now, Outcome::Failed, &HostShared);
                metrics::bump(m.registry_fetch_failed);
                let kept = match (fetcher.sync.loaded, self.current.as_ref()) {
                    (0, _) | (_, None) => String::from("no registry has loaded yet"),
                    (generation, Some(p)) => format!(
                        "keeping the last good registry ({} tokens, generation {generation})",
                        p.registry().len()
                    ),
                };
                host::log(
                    LogLevel::Warn,
                    &format!(
                        "registry fetch from {} failed: {why}; {kept}",
                        fetcher_label(self.fetcher.as_ref())
                    ),
                );
            }
        }
    }
}

/// One log line per problem (so each carries its field path and log shippers keep them whole),
/// at most `MAX_ERROR_LINES` of them.
fn log_errors(what: &str, errors: &PolicyErrors) {
    let all = errors.errors();
    host::log(
        LogLevel::Error,
        &format!("{what}: {} problem(s)", all.len()),
    );
    for e in all.iter().take(MAX_ERROR_LINES) {
        host::log(LogLevel::Error, &format!("{what}: {e}"));
    }
    if all.len() > MAX_ERROR_LINES {
        host::log(
            LogLevel::Error,
            &format!("{what}: ... and {} more", all.len() - MAX_ERROR_LINES),
        );
    }
}

const MAX_ERROR_LINES: usize = 50;

fn fetcher_label(f: Option<&Fetcher>) -> String {
    f.map_or_else(String::new, |f| {
        format!("cluster {} path {}", f.url.cluster, f.url.path)
    })
}

enum Fetched {
    NotModified,
    Fresh {
        etag: Option<String>,
        json: Vec<u8>,
        registry: Registry,
    },
    Failed(String),
}

/// The answer to a registry fetch, from the host's buffers.
fn read_fetch(num_headers: usize, body_size: usize) -> Fetched {
    if num_headers == 0 {
        return Fetched::Failed("no response (timeout, reset or no healthy host)".into());
    }
    let headers = match host::header_map(Map::CallResponse) {
        Ok(h) => h,
        Err(e) => return Fetched::Failed(format!("reading response headers: status {}", e.0)),
    };
    let mut status: &[u8] = b"";
    let mut etag = None;
    for (name, value) in Pairs::new(&headers) {
        if name == b":status" {
            status = value;
        } else if name.eq_ignore_ascii_case(b"etag") {
            etag = core::str::from_utf8(value).ok().map(str::to_owned);
        }
    }
    match status {
        b"304" => return Fetched::NotModified,
        b"200" => {}
        other => {
            return Fetched::Failed(format!(
                "HTTP status {}",
                String::from_utf8_lossy(other.get(..3.min(other.len())).unwrap_or(b""))
            ))
        }
    }
    if body_size > MAX_REGISTRY_BYTES {
        return Fetched::Failed(format!("document of {body_size} bytes is over the limit"));
    }
    let json = match host::buffer(Buffer::CallResponseBody, body_size) {
        Ok(b) => b,
        Err(e) => return Fetched::Failed(format!("reading the body: status {}", e.0)),
    };
    let Ok(text) = core::str::from_utf8(&json) else {
        return Fetched::Failed("the document is not UTF-8".into());
    };
    match Registry::from_json(text) {
        Ok(registry) => Fetched::Fresh {
            etag,
            json,
            registry,
        },
        Err(errors) => {
            log_errors("registry document refused", &errors);
            Fetched::Failed(format!(
                "the document was refused ({} problems)",
                errors.errors().len()
            ))
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let config = match host::buffer(Buffer::PluginConfiguration, usize::MAX) {
            Ok(c) => c,
            Err(e) => {
                host::log(
                    LogLevel::Error,
                    &format!("cannot read the plugin configuration: status {}", e.0),
                );
                return false;
            }
        };
        let Ok(text) = core::str::from_utf8(&config) else {
            host::log(
                LogLevel::Error,
                "policy refused: the configuration is not UTF-8",
            );
            return false;
        };
        let policy = match Policy::from_json_fetching(text) {
            Ok(p) => p,
            Err(errors) => {
                // Returning false makes Envoy refuse this configuration: at startup Envoy stops,
                // on an update (ECDS, LDS) it keeps serving with the configuration it had.
                log_errors("policy refused", &errors);
                return false;
            }
        };
        if self.metrics.is_none() {
            self.metrics = Some(Rc::new(Metrics::define()));
        }
        let url = policy.registry_url().cloned();
        host::log(
            LogLevel::Info,
            &format!(
                "policy loaded: mode {}, {}",
                mode_name(&policy),
                match &url {
                    Some(u) => format!(
                        "registry from cluster {} path {} every {} s",
                        u.cluster, u.path, u.refresh_seconds
                    ),
                    None => format!("{} tokens inline", policy.registry().len()),
                }
            ),
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
        if self.fetcher.is_some() {
            // Another worker (or the previous configuration) may already hold the document.
            self.adopt();
            if let Err(e) = host::set_tick_period_ms(TICK_MS) {
                host::log(
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

impl Root {
    fn set_gauge(&self, tokens: usize) {
        if let Some(m) = &self.metrics {
            metrics::set_gauge(m.registry_tokens, u64::try_from(tokens).unwrap_or(u64::MAX));
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
        let Some(doc) = fetcher.sync.newer(&HostShared) else {
            return;
        };
        // Marked loaded even if it fails to parse, so a bad document is not re-parsed every tick.
        fetcher.sync.loaded = doc.generation;
        let parsed = core::str::from_utf8(&doc.json)
            .map_err(|_| String::from("not UTF-8"))
            .and_then(|t| {
                Registry::from_json(t).map_err(|e| {
                    log_errors("shared registry document refused", &e);
                    format!("{} problems", e.errors().len())
                })
            });
        match parsed {
            Ok(registry) => {
                host::log(
                    LogLevel::Info,
                    &format!(
                        "registry generation {} adopted from shared data: {} tokens",
                        doc.generation,
                        registry.len()
                    ),
                );
                self.install(registry);
            }
            Err(why) => host::log(
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
        let now = now();
        let Some(fetch) = fetcher.sync.claim(now, &HostShared) else {
            return;
        };
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", "GET"),
            (":path", &fetcher.url.path),
            (":authority", &fetcher.url.authority),
            ("accept", "application/json"),
        ];
        if let Some(etag) = fetch.if_none_match.as_deref() {
            headers.push(("if-none-match", etag));
        }
        // The SDK's call, not ours: it must register the token to route the answer back here.
        // It panics only on statuses Envoy's http_call does not return (it returns Ok,
        // BadArgument or InternalFailure).
        let timeout = Duration::from_millis(fetcher.url.timeout_ms);
        match proxy_wasm::hostcalls::dispatch_http_call(
            &fetcher.url.cluster,
            headers,
            None,
            vec![],
            timeout,
        ) {
            Ok(token) => fetcher.token = Some(token),
            Err(status) => {
                fetcher.sync.abandon(now, &HostShared);
                if let Some(m) = &self.metrics {
                    metrics::bump(m.registry_fetch_failed);
                }
                host::log(
                    LogLevel::Warn,
                    &format!(
                        "cannot fetch the registry from cluster {} (host status {}): is the cluster defined?",
                        fetcher.url.cluster, status as u32
                    ),
                );
            }
        }
    }
}
