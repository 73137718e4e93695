//! One filter configuration: the policy (from `filter_config`), the metrics, and with
//! `registry.url` the refresh. `Config` is shared by every worker thread, so it is `Send + Sync`:
//! the policy requests read sits behind an [`ArcSwap`], replaced whole when a new registry is
//! installed, so every worker sees the new one from its next request on and requests in flight
//! finish with the one they started with.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokengate::{Mode, Policy, PolicyErrors, Registry};

use crate::fetch::{self, Fetched, Refresh};
use crate::host::{log, ConfigHost, LogLevel};
use crate::metrics::Metrics;

/// How often the module's ticker wakes the main thread to see whether a fetch is due.
pub const TICK: Duration = Duration::from_millis(500);

/// What every stream of this configuration reads.
pub struct Shared {
    pub policy: ArcSwap<Policy>,
    pub metrics: Metrics,
}

pub struct Config {
    pub shared: Arc<Shared>,
    /// The policy as configured: each fetched registry is installed into a copy of it.
    base: Policy,
    refresh: Option<Mutex<Refresh>>,
    /// Kept only for its `Drop`, which stops the ticker thread.
    _ticker: Option<Ticker>,
}

const MAX_ERROR_LINES: usize = 50;

/// One log line per problem, so each carries its field path, at most `MAX_ERROR_LINES` of them.
pub fn log_errors(what: &str, errors: &PolicyErrors) {
    let all = errors.errors();
    log(
        LogLevel::Error,
        &format!("{what}: {} problem(s)", all.len()),
    );
    for e in all.iter().take(MAX_ERROR_LINES) {
        log(LogLevel::Error, &format!("{what}: {e}"));
    }
    if all.len() > MAX_ERROR_LINES {
        log(
            LogLevel::Error,
            &format!("{what}: ... and {} more", all.len() - MAX_ERROR_LINES),
        );
    }
}

fn mode_name(p: &Policy) -> &'static str {
    match p.mode() {
        Mode::Enforce => "enforce",
        Mode::Report => "report",
    }
}

impl Config {
    /// Parses the policy; `None` (logged, with every field path) refuses the configuration.
    /// `start_ticker` starts the thread that drives `registry.url` (given the config's tick).
    pub fn new(
        host: &mut impl ConfigHost,
        bytes: &[u8],
        start_ticker: impl FnOnce() -> Option<Ticker>,
    ) -> Option<Config> {
        let Ok(text) = core::str::from_utf8(bytes) else {
            log(
                LogLevel::Error,
                "policy refused: the configuration is not UTF-8",
            );
            return None;
        };
        let policy = match Policy::from_json_fetching(text) {
            Ok(p) => p,
            Err(errors) => {
                log_errors("policy refused", &errors);
                return None;
            }
        };
        let metrics = Metrics::define(host);
        let url = policy.registry_url().cloned();
        log(
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
        host.set_gauge(metrics.registry_tokens, policy.registry().len() as u64);
        let ticker = if url.is_some() { start_ticker() } else { None };
        Some(Config {
            shared: Arc::new(Shared {
                policy: ArcSwap::from_pointee(policy.clone()),
                metrics,
            }),
            base: policy,
            refresh: url.map(|u| Mutex::new(Refresh::new(u))),
            _ticker: ticker,
        })
    }

    fn with_refresh<T>(&self, f: impl FnOnce(&mut Refresh) -> T) -> Option<T> {
        let lock = self.refresh.as_ref()?;
        // A panic while holding the lock left plain bookkeeping behind: still usable.
        let mut r = lock.lock().unwrap_or_else(PoisonError::into_inner);
        Some(f(&mut r))
    }

    /// On the main thread, at every tick: starts a fetch when one is due.
    pub fn on_tick(&self, host: &mut impl ConfigHost) {
        let now = Instant::now();
        let failed = self.with_refresh(|r| {
            if !r.due(now) {
                return None;
            }
            match host.callout(&r.url.cluster, &r.request(), r.url.timeout_ms) {
                Ok(id) => {
                    r.started(id);
                    None
                }
                Err(code) => {
                    let why = format!(
                        "cannot fetch the registry from cluster {} (callout result {code}): is the cluster defined?",
                        r.url.cluster
                    );
                    r.finished(now, &Fetched::Failed(why.clone()));
                    Some(why)
                }
            }
        });
        if let Some(Some(why)) = failed {
            host.increment(self.shared.metrics.registry_fetch_failed);
            log(LogLevel::Warn, &why);
        }
    }

    /// On the main thread, when a fetch answered (or timed out).
    pub fn on_fetched(
        &self,
        host: &mut impl ConfigHost,
        id: u64,
        success: bool,
        headers: &[(&[u8], &[u8])],
        body: &[&[u8]],
    ) {
        let ours = self
            .with_refresh(|r| r.in_flight == Some(id))
            .unwrap_or(false);
        if !ours {
            return;
        }
        let outcome = fetch::read(success, headers, body);
        let now = Instant::now();
        let m = &self.shared.metrics;
        let Some((label, generation)) = self.with_refresh(|r| {
            r.finished(now, &outcome);
            (
                format!("cluster {} path {}", r.url.cluster, r.url.path),
                r.generation,
            )
        }) else {
            return;
        };
        match outcome {
            Fetched::NotModified => host.increment(m.registry_fetch_not_modified),
            Fetched::Fresh { registry, .. } => {
                host.increment(m.registry_fetch_ok);
                let tokens = registry.len();
                self.install(host, registry);
                log(
                    LogLevel::Info,
                    &format!(
                        "registry loaded from {label}: {tokens} tokens (generation {generation})"
                    ),
                );
            }
            Fetched::Failed(why) => {
                host.increment(m.registry_fetch_failed);
                let current = self.shared.policy.load();
                let kept = if generation == 0 {
                    String::from("no registry has loaded yet")
                } else {
                    format!(
                        "keeping the last good registry ({} tokens, generation {generation})",
                        current.registry().len()
                    )
                };
                log(
                    LogLevel::Warn,
                    &format!("registry fetch from {label} failed: {why}; {kept}"),
                );
            }
        }
    }

    /// Every worker's next request sees `registry`.
    fn install(&self, host: &mut impl ConfigHost, registry: Registry) {
        let tokens = registry.len();
        let mut policy = self.base.clone();
        policy.set_registry(registry);
        self.shared.policy.store(Arc::new(policy));
        host.set_gauge(self.shared.metrics.registry_tokens, tokens as u64);
    }
}

/// A module thread that wakes the main thread every [`TICK`]: Envoy 1.40 gives an HTTP filter
/// configuration no timer, only a scheduler that posts events to the main thread from any thread.
pub struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    /// Dropped after the thread is joined, so what `tick` uses is released here, not there.
    _owner: Arc<dyn core::any::Any + Send + Sync>,
}

impl Ticker {
    /// Calls `tick` now and then every `period` on a new thread, until dropped. `tick` and what it
    /// owns are dropped on the thread that drops the ticker, after the thread has ended.
    pub fn start<T: Send + Sync + 'static>(
        owner: Arc<T>,
        period: Duration,
        tick: fn(&T),
    ) -> Option<Ticker> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = Arc::clone(&stop);
        let keep: Arc<dyn core::any::Any + Send + Sync> = owner.clone();
        let thread = std::thread::Builder::new()
            .name("tokengate-tick".into())
            .spawn(move || {
                let (lock, cv) = &*stop2;
                let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while !*stopped {
                    tick(&owner);
                    stopped = cv
                        .wait_timeout(stopped, period)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            });
        match thread {
            Ok(t) => Some(Ticker {
                stop,
                thread: Some(t),
                _owner: keep,
            }),
            Err(e) => {
                log(
                    LogLevel::Error,
                    &format!("cannot start the registry ticker ({e}): the registry will not load"),
                );
                None
            }
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
