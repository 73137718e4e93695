//! One filter configuration: the policy (from `filter_config`), the metrics, and with
//! `registry.url` or `jwks.url` the refreshes. `Config` is shared by every worker thread, so it is
//! `Send + Sync`: the policy requests read sits behind an [`ArcSwap`], replaced whole when a new
//! registry or key set is installed, so every worker sees it from its next request on and
//! requests in flight finish with the one they started with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokengate::{Policy, PolicyErrors};

use tokengate::fetched::{Document, What};

use crate::fetch::{Fetched, Refresh};
use crate::host::{log, ConfigHost, LogLevel};
use crate::metrics::{Fetches, Metrics};

/// How often the module's ticker wakes the main thread to see whether a fetch is due.
pub const TICK: Duration = Duration::from_millis(500);

/// What every stream of this configuration reads.
pub struct Shared {
    pub policy: ArcSwap<Policy>,
    pub metrics: Metrics,
    /// Set by a stream whose OAuth token named a `kid` the fetched key set does not hold; the
    /// next tick fetches the key set again if the cooldown allows.
    pub keys_wanted: AtomicBool,
}

pub struct Config {
    pub shared: Arc<Shared>,
    registry: Option<Mutex<Refresh>>,
    jwks: Option<Mutex<Refresh>>,
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

/// The lock of a refresh. A panic while holding it left plain bookkeeping behind: still usable.
fn locked(m: &Mutex<Refresh>) -> std::sync::MutexGuard<'_, Refresh> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Config {
    /// Parses the policy; `None` (logged, with every field path) refuses the configuration.
    /// `start_ticker` starts the thread that drives the fetches (given the config's tick).
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
        log(
            LogLevel::Info,
            &tokengate::fetched::policy_loaded_line(&policy),
        );
        host.set_gauge(metrics.registry.size, policy.registry().len() as u64);
        let registry = policy.registry_url().cloned().map(Refresh::registry);
        let jwks = policy.jwks_url().map(Refresh::jwks);
        let fetching = registry.is_some() || jwks.is_some();
        let ticker = if fetching { start_ticker() } else { None };
        Some(Config {
            shared: Arc::new(Shared {
                policy: ArcSwap::from_pointee(policy),
                metrics,
                keys_wanted: AtomicBool::new(false),
            }),
            registry: registry.map(Mutex::new),
            jwks: jwks.map(Mutex::new),
            _ticker: ticker,
        })
    }

    fn refreshes(&self) -> impl Iterator<Item = &Mutex<Refresh>> {
        self.registry.iter().chain(self.jwks.iter())
    }

    fn counters(&self, what: What) -> &Fetches {
        match what {
            What::Registry => &self.shared.metrics.registry,
            What::Jwks => &self.shared.metrics.jwks,
        }
    }

    /// On the main thread, at every tick: starts each fetch that is due, and a fetch of the key
    /// set that a token with an unknown `kid` asked for, if the cooldown allows.
    pub fn on_tick(&self, host: &mut impl ConfigHost) {
        let now = Instant::now();
        let wanted = self.shared.keys_wanted.swap(false, Ordering::Relaxed);
        for lock in self.refreshes() {
            let mut r = locked(lock);
            let hurried = wanted && r.what == What::Jwks && r.hurry(now);
            if hurried {
                host.increment(self.shared.metrics.jwks_refetch_unknown_kid);
            }
            if !hurried && !r.due(now) {
                continue;
            }
            match host.callout(&r.url.cluster, &r.request(), r.url.timeout_ms) {
                Ok(id) => r.started(id),
                Err(code) => {
                    let why = format!(
                        "cannot fetch the {} from cluster {} (callout result {code}): is the cluster defined?",
                        r.what.name(),
                        r.url.cluster
                    );
                    r.finished(now, &Fetched::Failed(why.clone()));
                    host.increment(self.counters(r.what).failed);
                    log(LogLevel::Warn, &why);
                }
            }
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
        let Some(lock) = self.refreshes().find(|l| locked(l).in_flight == Some(id)) else {
            return;
        };
        let (what, outcome, label, generation) = {
            let mut r = locked(lock);
            let outcome = r.read(success, headers, body);
            r.finished(Instant::now(), &outcome);
            let label = format!("cluster {} path {}", r.url.cluster, r.url.path);
            (r.what, outcome, label, r.generation)
        };
        let m = self.counters(what);
        match outcome {
            Fetched::NotModified => host.increment(m.not_modified),
            Fetched::Fresh { document, .. } => {
                host.increment(m.ok);
                let line = what.loaded_line(&label, &document, generation);
                self.install(host, document);
                log(LogLevel::Info, &line);
            }
            Fetched::Failed(why) => {
                host.increment(m.failed);
                let policy = self.shared.policy.load();
                log(
                    LogLevel::Warn,
                    &what.failed_line(&label, &why, &policy, generation),
                );
            }
        }
    }

    /// Every worker's next request sees `document`, beside the other document in force. Only
    /// the main thread installs, so the read and the store do not race.
    fn install(&self, host: &mut impl ConfigHost, document: Document) {
        let mut policy = Policy::clone(&self.shared.policy.load());
        let gauge = self.counters(document.what()).size;
        let size = document.install(&mut policy);
        self.shared.policy.store(Arc::new(policy));
        host.set_gauge(gauge, size as u64);
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
