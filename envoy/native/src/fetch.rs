//! `registry.url`: when to fetch, and what an answer means. Pure bookkeeping; `config.rs` makes
//! the calls. Unlike the wasm filter there is one copy of this per filter configuration, not one
//! per worker: every worker reads the same policy, so there is nothing to share or adopt.

use std::time::{Duration, Instant};

use tokengate::{Registry, RegistryUrl};

/// Registry documents larger than this are refused (the wasm filter's limit).
pub const MAX_REGISTRY_BYTES: usize = 512 << 20;

pub struct Refresh {
    pub url: RegistryUrl,
    /// The callout under way, if any.
    pub in_flight: Option<u64>,
    pub etag: Option<String>,
    /// How many documents have been installed (0: none yet).
    pub generation: u64,
    last_ok: Option<Instant>,
    last_attempt: Option<Instant>,
    failures: u32,
}

/// How a fetch ended.
pub enum Fetched {
    NotModified,
    Fresh {
        etag: Option<String>,
        registry: Registry,
    },
    Failed(String),
}

impl Refresh {
    pub fn new(url: RegistryUrl) -> Refresh {
        Refresh {
            url,
            in_flight: None,
            etag: None,
            generation: 0,
            last_ok: None,
            last_attempt: None,
            failures: 0,
        }
    }

    fn refresh(&self) -> Duration {
        Duration::from_secs(self.url.refresh_seconds.max(1))
    }

    /// Whether a fetch should start at `now`: at once before the first success, `refresh_seconds`
    /// after the last one, and after a failure in 1 s, 2 s, 4 s, ... capped at `refresh_seconds`.
    pub fn due(&self, now: Instant) -> bool {
        if self.in_flight.is_some() {
            return false;
        }
        if self.failures > 0 {
            let backoff = Duration::from_secs(1u64 << self.failures.saturating_sub(1).min(20))
                .min(self.refresh());
            return self.last_attempt.is_none_or(|t| now >= t + backoff);
        }
        self.last_ok.is_none_or(|t| now >= t + self.refresh())
    }

    /// The request headers of the next fetch (revalidating what is loaded, if anything is).
    pub fn request(&self) -> Vec<(&str, &str)> {
        let mut h = vec![
            (":method", "GET"),
            (":path", self.url.path.as_str()),
            (":authority", self.url.authority.as_str()),
            ("host", self.url.authority.as_str()),
            ("accept", "application/json"),
        ];
        if let (Some(etag), true) = (self.etag.as_deref(), self.generation > 0) {
            h.push(("if-none-match", etag));
        }
        h
    }

    pub fn started(&mut self, id: u64) {
        self.in_flight = Some(id);
    }

    /// Records how a fetch ended (or that it could not start).
    pub fn finished(&mut self, now: Instant, outcome: &Fetched) {
        self.in_flight = None;
        match outcome {
            Fetched::Failed(_) => {
                self.failures = self.failures.saturating_add(1);
                self.last_attempt = Some(now);
            }
            Fetched::NotModified => {
                self.failures = 0;
                self.last_ok = Some(now);
            }
            Fetched::Fresh { etag, .. } => {
                self.failures = 0;
                self.last_ok = Some(now);
                self.etag.clone_from(etag);
                self.generation = self.generation.saturating_add(1);
            }
        }
    }
}

/// Reads a callout's answer: the status, the ETag, and the body parsed as a registry.
pub fn read(success: bool, headers: &[(&[u8], &[u8])], body: &[&[u8]]) -> Fetched {
    if !success || headers.is_empty() {
        return Fetched::Failed("no response (timeout, reset or no healthy host)".into());
    }
    let mut status: &[u8] = b"";
    let mut etag = None;
    for (name, value) in headers {
        if *name == b":status" {
            status = value;
        } else if name.eq_ignore_ascii_case(b"etag") {
            etag = core::str::from_utf8(value).ok().map(str::to_owned);
        }
    }
    match status {
        b"304" => return Fetched::NotModified,
        b"200" => {}
        other => {
            let shown = other.get(..other.len().min(3)).unwrap_or_default();
            return Fetched::Failed(format!("HTTP status {}", String::from_utf8_lossy(shown)));
        }
    }
    let size: usize = body.iter().map(|c| c.len()).sum();
    if size > MAX_REGISTRY_BYTES {
        return Fetched::Failed(format!("document of {size} bytes is over the limit"));
    }
    let mut json = Vec::with_capacity(size);
    for chunk in body {
        json.extend_from_slice(chunk);
    }
    let Ok(text) = core::str::from_utf8(&json) else {
        return Fetched::Failed("the document is not UTF-8".into());
    };
    match Registry::from_json(text) {
        Ok(registry) => Fetched::Fresh { etag, registry },
        Err(errors) => {
            crate::config::log_errors("registry document refused", &errors);
            Fetched::Failed(format!(
                "the document was refused ({} problems)",
                errors.errors().len()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(refresh: u64) -> RegistryUrl {
        let p = tokengate::Policy::from_json_fetching(&format!(
            r#"{{"registry": {{"url": {{"cluster": "c", "path": "/r", "refresh_seconds": {refresh}}}}}}}"#
        ))
        .unwrap();
        p.registry_url().unwrap().clone()
    }

    #[test]
    fn first_fetch_at_once_then_every_interval_and_backoff_after_failures() {
        let t0 = Instant::now();
        let mut r = Refresh::new(url(60));
        assert!(r.due(t0));
        r.started(1);
        assert!(!r.due(t0), "one at a time");
        let fresh = read(
            true,
            &[(b":status", b"200"), (b"ETag", b"\"v1\"")],
            &[b"{\"tokens\"", b": []}"],
        );
        assert!(matches!(fresh, Fetched::Fresh { .. }));
        r.finished(t0, &fresh);
        assert_eq!((r.generation, r.etag.as_deref()), (1, Some("\"v1\"")));
        assert!(r.request().contains(&("if-none-match", "\"v1\"")));
        assert!(!r.due(t0 + Duration::from_secs(59)));
        assert!(r.due(t0 + Duration::from_secs(60)));
        let t1 = t0 + Duration::from_secs(60);
        r.finished(t1, &Fetched::Failed("x".into()));
        assert!(!r.due(t1));
        assert!(r.due(t1 + Duration::from_secs(1)));
        r.finished(t1 + Duration::from_secs(1), &Fetched::Failed("x".into()));
        assert!(!r.due(t1 + Duration::from_secs(2)));
        assert!(r.due(t1 + Duration::from_secs(3)));
    }

    #[test]
    fn answers_that_are_not_a_registry_fail() {
        for (ok, status, body) in [
            (false, &b"200"[..], &b"{\"tokens\": []}"[..]),
            (true, b"500", b"{\"tokens\": []}"),
            (true, b"200", b"{not json"),
            (true, b"200", b""),
            (true, b"200", b"\xff\xfe"),
        ] {
            let got = read(ok, &[(b":status", status)], &[body]);
            assert!(matches!(got, Fetched::Failed(_)), "{status:?} {body:?}");
        }
        assert!(matches!(
            read(true, &[(b":status", b"304")], &[]),
            Fetched::NotModified
        ));
        assert!(matches!(read(true, &[], &[]), Fetched::Failed(_)));
    }
}
