//! `registry.url` and `jwks.url`: when to fetch, and what an answer means. Pure bookkeeping;
//! `config.rs` makes the calls. Unlike the wasm filter there is one copy of this per filter
//! configuration, not one per worker: every worker reads the same policy, so there is nothing to
//! share or adopt.

use std::time::{Duration, Instant};

use tokengate::fetched::{Document, Head, What};
use tokengate::oauth::JwksUrl;
use tokengate::FetchUrl;

pub struct Refresh {
    pub what: What,
    pub url: FetchUrl,
    /// The callout under way, if any.
    pub in_flight: Option<u64>,
    pub etag: Option<String>,
    /// How many documents have been installed (0: none yet).
    pub generation: u64,
    last_ok: Option<Instant>,
    last_attempt: Option<Instant>,
    failures: u32,
    /// `jwks.url`: the least time between two fetches asked for by an unknown `kid`.
    cooldown: Option<Duration>,
    last_hurried: Option<Instant>,
}

/// How a fetch ended.
pub enum Fetched {
    NotModified,
    Fresh {
        etag: Option<String>,
        document: Document,
    },
    Failed(String),
}

impl Refresh {
    pub fn registry(url: FetchUrl) -> Refresh {
        Refresh::new(What::Registry, url, None)
    }

    pub fn jwks(url: &JwksUrl) -> Refresh {
        let cooldown = Duration::from_secs(url.refetch_cooldown_seconds.max(1));
        Refresh::new(What::Jwks, url.url.clone(), Some(cooldown))
    }

    fn new(what: What, url: FetchUrl, cooldown: Option<Duration>) -> Refresh {
        Refresh {
            what,
            url,
            in_flight: None,
            etag: None,
            generation: 0,
            last_ok: None,
            last_attempt: None,
            failures: 0,
            cooldown,
            last_hurried: None,
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

    /// A token named a `kid` the key set does not hold: whether to fetch now, ahead of the
    /// schedule. Yes at most once per cooldown, and not while a fetch is under way or before the
    /// first load (which is due anyway); a request in the cooldown is dropped, not queued.
    pub fn hurry(&mut self, now: Instant) -> bool {
        let Some(cooldown) = self.cooldown else {
            return false;
        };
        if self.in_flight.is_some() || self.generation == 0 {
            return false;
        }
        if self.last_hurried.is_some_and(|t| now < t + cooldown) {
            return false;
        }
        self.last_hurried = Some(now);
        true
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

    /// Reads a callout's answer: the status, the ETag, and the body parsed as this document.
    pub fn read(&self, success: bool, headers: &[(&[u8], &[u8])], body: &[&[u8]]) -> Fetched {
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
        let size: usize = body.iter().map(|c| c.len()).sum();
        match self.what.head(status, size) {
            Head::NotModified => return Fetched::NotModified,
            Head::Failed(why) => return Fetched::Failed(why),
            Head::Body => {}
        }
        let json: Vec<u8> = match body {
            [one] => one.to_vec(),
            chunks => chunks.concat(),
        };
        match self.what.parse(&json) {
            Ok(document) => Fetched::Fresh { etag, document },
            Err(errors) => {
                let what = format!("{} document refused", self.what.name());
                crate::config::log_errors(&what, &errors);
                Fetched::Failed(format!(
                    "the document was refused ({} problems)",
                    errors.errors().len()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(refresh: u64) -> FetchUrl {
        let p = tokengate::Policy::from_json_fetching(&format!(
            r#"{{"registry": {{"url": {{"cluster": "c", "path": "/r", "refresh_seconds": {refresh}}}}}}}"#
        ))
        .unwrap();
        p.registry_url().unwrap().clone()
    }

    fn jwks_url(cooldown: u64) -> JwksUrl {
        let p = tokengate::Policy::from_json_fetching(&format!(
            r#"{{"registry": {{"tokens": []}}, "oauth": {{"verify": {{"issuer": "i", "audiences": ["a"],
            "algorithms": ["ES256"], "jwks": {{"url": {{"cluster": "idp", "path": "/k",
            "refresh_seconds": 300, "refetch_cooldown_seconds": {cooldown}}}}}}}}}}}"#
        ))
        .unwrap();
        p.jwks_url().unwrap().clone()
    }

    const EC_SET: &[u8] = br#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;

    #[test]
    fn first_fetch_at_once_then_every_interval_and_backoff_after_failures() {
        let t0 = Instant::now();
        let mut r = Refresh::registry(url(60));
        assert!(r.due(t0));
        r.started(1);
        assert!(!r.due(t0), "one at a time");
        let fresh = r.read(
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
        assert!(!r.hurry(t1), "a registry has no kid to hurry for");
    }

    #[test]
    fn answers_that_are_not_a_registry_fail() {
        let r = Refresh::registry(url(60));
        for (ok, status, body) in [
            (false, &b"200"[..], &b"{\"tokens\": []}"[..]),
            (true, b"500", b"{\"tokens\": []}"),
            (true, b"200", b"{not json"),
            (true, b"200", b""),
            (true, b"200", b"\xff\xfe"),
            (true, b"200", EC_SET),
        ] {
            let got = r.read(ok, &[(b":status", status)], &[body]);
            assert!(matches!(got, Fetched::Failed(_)), "{status:?} {body:?}");
        }
        assert!(matches!(
            r.read(true, &[(b":status", b"304")], &[]),
            Fetched::NotModified
        ));
        assert!(matches!(r.read(true, &[], &[]), Fetched::Failed(_)));
    }

    #[test]
    fn a_key_set_is_read_as_one_and_refused_otherwise() {
        let r = Refresh::jwks(&jwks_url(30));
        match r.read(true, &[(b":status", b"200")], &[EC_SET]) {
            Fetched::Fresh {
                document: Document::Keys(k),
                ..
            } => assert_eq!(k.len(), 1),
            _ => panic!("not read as a key set"),
        }
        for body in [&b"{\"tokens\": []}"[..], b"{\"keys\": []}", b"[]"] {
            let got = r.read(true, &[(b":status", b"200")], &[body]);
            assert!(matches!(got, Fetched::Failed(_)), "{body:?}");
        }
        let big = vec![b' '; tokengate::fetched::MAX_JWKS_BYTES + 1];
        let got = r.read(true, &[(b":status", b"200")], &[&big]);
        assert!(matches!(got, Fetched::Failed(w) if w.contains("over the limit")));
    }

    #[test]
    fn an_unknown_kid_hurries_a_fetch_at_most_once_per_cooldown() {
        let t0 = Instant::now();
        let mut r = Refresh::jwks(&jwks_url(30));
        assert!(
            !r.hurry(t0),
            "before the first load, the first fetch is due anyway"
        );
        r.started(1);
        let fresh = r.read(true, &[(b":status", b"200")], &[EC_SET]);
        r.finished(t0, &fresh);
        assert!(!r.due(t0 + Duration::from_secs(10)));
        assert!(r.hurry(t0 + Duration::from_secs(10)));
        r.started(2);
        assert!(!r.hurry(t0 + Duration::from_secs(10)), "one under way");
        r.finished(t0 + Duration::from_secs(11), &Fetched::NotModified);
        assert!(!r.hurry(t0 + Duration::from_secs(11)));
        assert!(!r.hurry(t0 + Duration::from_secs(39)));
        assert!(r.hurry(t0 + Duration::from_secs(40)));
    }
}
