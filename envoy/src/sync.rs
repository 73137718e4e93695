//! One registry per Envoy process: who fetches `registry.url`, and how the others get the result.
//!
//! Every worker thread runs its own copy of the VM, and each has a root context that ticks. Left
//! alone, each would fetch the registry on its own. Instead they coordinate through proxy-wasm
//! shared data (one key-value store per `vm_id` per process, with compare-and-swap):
//!
//! - `meta` (small): the generation of the stored document, its ETag, when it was last fetched
//!   or confirmed, the failure streak, and a lease.
//! - `doc`: what the fetching root stored for the others (`fetch.rs` decides: a registry in the
//!   core's packed form, `Registry::to_bytes`, so that only the fetcher parses its JSON; a key set
//!   as served), followed by its generation (8 bytes, little-endian; at the end so that neither
//!   the writer nor a reader copies the document to add or drop it).
//!
//! On a tick, a root adopts a newer generation if there is one (and reads it into its own
//! `Registry` or key set: VMs share no memory), then, if a fetch is due and no lease is held,
//! takes the
//! lease with a CAS on `meta` and fetches. Only the lease holder fetches; the rest see its result
//! on their next tick. A lease outlives the fetch timeout, so a root that dies mid-fetch only
//! delays the next fetch.
//!
//! Envoy's CAS only guards a key that exists (a write to an absent key always succeeds), so the
//! lease can only be taken on a `meta` that is already there: a root that finds none writes the
//! empty one (every root writes the same bytes) and claims on a later tick. That makes the first
//! fetch one per process too. The one race left: a root whose read-then-create spans another
//! root's create, tick and claim (at least a tick period) would reset that lease, and the cost
//! would be one extra fetch. This module holds the bookkeeping; `root.rs` does the host calls.

use std::cell::Cell;

use crate::host::{Status, CAS_MISMATCH};

/// The shared key-value store, as the host offers it (a trait so the protocol is unit-tested).
pub trait Shared {
    /// The value and its CAS token; `(None, 0)` when absent.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status>;
    /// Store if the CAS token still matches (0: unconditionally).
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status>;
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub generation: u64,
    pub last_ok: i64,
    pub last_attempt: i64,
    pub failures: u32,
    pub lease_until: i64,
    /// When a fetch was last asked for ahead of schedule (a token with an unknown `kid`).
    pub hurried_at: i64,
    /// Such a fetch is asked for and not made yet.
    pub hurry: bool,
    pub etag: String,
}

const META_MAGIC: &str = "tokengate-fetch-meta/2";

impl Meta {
    fn encode(&self) -> Vec<u8> {
        format!(
            "{META_MAGIC}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.generation,
            self.last_ok,
            self.last_attempt,
            self.failures,
            self.lease_until,
            self.hurried_at,
            u8::from(self.hurry),
            self.etag
        )
        .into_bytes()
    }

    /// Anything unreadable is treated as no meta at all: the next root refetches.
    fn decode(bytes: &[u8]) -> Option<Meta> {
        let text = core::str::from_utf8(bytes).ok()?;
        let mut lines = text.splitn(9, '\n');
        if lines.next()? != META_MAGIC {
            return None;
        }
        Some(Meta {
            generation: lines.next()?.parse().ok()?,
            last_ok: lines.next()?.parse().ok()?,
            last_attempt: lines.next()?.parse().ok()?,
            failures: lines.next()?.parse().ok()?,
            lease_until: lines.next()?.parse().ok()?,
            hurried_at: lines.next()?.parse().ok()?,
            hurry: lines.next()? == "1",
            etag: lines.next()?.to_owned(),
        })
    }

    /// Whether a fetch is due at `now`: when one was asked for ahead of schedule, `refresh`
    /// after the last success, or sooner after a failure (1 s, 2 s, 4 s, ... capped at
    /// `refresh`) so that a flaky endpoint is retried without being hammered.
    fn due(&self, now: i64, refresh: i64) -> bool {
        if self.hurry {
            return true;
        }
        if self.failures > 0 {
            let backoff = 1i64
                .checked_shl(self.failures.saturating_sub(1).min(20))
                .unwrap_or(refresh)
                .min(refresh)
                .max(1);
            now >= self.last_attempt.saturating_add(backoff)
        } else if self.generation == 0 && self.last_ok == 0 {
            true
        } else {
            now >= self.last_ok.saturating_add(refresh)
        }
    }
}

/// A document to adopt, as the fetching root stored it.
pub struct Adopt {
    pub generation: u64,
    pub stored: Vec<u8>,
}

/// The generation a stored document ends with, and the document without it.
fn split_doc(mut doc: Vec<u8>) -> Option<Adopt> {
    let at = doc.len().checked_sub(8)?;
    let tail: [u8; 8] = doc.get(at..)?.try_into().ok()?;
    doc.truncate(at);
    Some(Adopt {
        generation: u64::from_le_bytes(tail),
        stored: doc,
    })
}

/// A fetch to start: the caller dispatches it and reports back with [`Sync::finish`].
#[derive(Debug, PartialEq, Eq)]
pub struct Fetch {
    pub if_none_match: Option<String>,
}

/// How a fetch ended.
pub enum Outcome<'a> {
    /// 200 with a body that parsed: store this for everyone (the vector is handed back as it was).
    Fresh {
        etag: Option<&'a str>,
        stored: &'a mut Vec<u8>,
    },
    /// 304: the stored document is still current.
    NotModified,
    /// Anything else: keep what everyone has.
    Failed,
}

pub struct Sync {
    meta_key: String,
    doc_key: String,
    refresh: i64,
    lease: i64,
    /// The generation this VM's registry was parsed from (0: none yet).
    pub loaded: u64,
    in_flight: bool,
    /// Whether this VM has served a request (see [`SERVING_GRACE`]).
    serving: Cell<bool>,
}

/// How long after a fetch falls due a root that has served requests waits before it claims one.
/// The root that fetches parses the JSON on its own thread, which for a large registry takes
/// seconds (a million entries: 3 to 9 s in V8), and a worker's requests would wait for it. The
/// main thread's VM serves no requests and ticks like the others, so it claims first; a worker
/// claims only if that root has not within this grace (it is gone, stuck, or not ticking). A
/// fetch asked for ahead of schedule (`hurry`) is claimed by whichever root ticks first.
pub const SERVING_GRACE: i64 = 2;

impl Sync {
    /// `scope` names the document (cluster, authority and path), so plugins that fetch the same
    /// URL share it and plugins that fetch different ones do not collide.
    pub fn new(scope: &str, refresh_seconds: u64, timeout_ms: u64) -> Sync {
        let refresh = i64::try_from(refresh_seconds.max(1)).unwrap_or(i64::MAX);
        let lease = i64::try_from(timeout_ms / 1000)
            .unwrap_or(i64::MAX)
            .saturating_add(2);
        Sync {
            // Both keys name the format: a VM of another build (a module update keeps the process
            // and its shared data) keeps to its own pair and never reads these bytes as its own.
            meta_key: format!("tokengate/registry/meta2|{scope}"),
            doc_key: format!("tokengate/registry/doc3|{scope}"),
            refresh,
            lease,
            loaded: 0,
            in_flight: false,
            serving: Cell::new(false),
        }
    }

    fn read_meta(&self, shared: &dyn Shared) -> (Meta, u32) {
        match shared.get(&self.meta_key) {
            Ok((Some(bytes), cas)) => (Meta::decode(&bytes).unwrap_or_default(), cas),
            Ok((None, cas)) => (Meta::default(), cas),
            Err(_) => (Meta::default(), 0),
        }
    }

    /// A document newer than the one loaded here, if another root stored one.
    pub fn newer(&self, shared: &dyn Shared) -> Option<Adopt> {
        let (meta, _) = self.read_meta(shared);
        if meta.generation <= self.loaded {
            return None;
        }
        let (doc, _) = shared.get(&self.doc_key).ok()?;
        split_doc(doc?).filter(|d| d.generation > self.loaded)
    }

    /// Creates the shared `meta` if no root has yet, so that the lease can be taken with a CAS.
    /// Returns whether it was there already.
    pub fn prepare(&self, shared: &dyn Shared) -> bool {
        match shared.get(&self.meta_key) {
            Ok((Some(_), _)) => true,
            Ok((None, _)) => {
                let _ = shared.set(&self.meta_key, &Meta::default().encode(), 0);
                false
            }
            Err(_) => false,
        }
    }

    /// This VM serves requests: from now on it leaves fetches to one that does not, for
    /// [`SERVING_GRACE`].
    pub fn serving(&self) {
        self.serving.set(true);
    }

    /// Whether this root should fetch now; if so the lease is taken.
    pub fn claim(&mut self, now: i64, shared: &dyn Shared) -> Option<Fetch> {
        if self.in_flight {
            return None;
        }
        if !self.prepare(shared) {
            return None; // claimed on a later tick, with a CAS
        }
        let (meta, cas) = self.read_meta(shared);
        let due_at = if self.serving.get() {
            now.saturating_sub(SERVING_GRACE)
        } else {
            now
        };
        if !meta.due(due_at, self.refresh) || meta.lease_until > now {
            return None;
        }
        let mut leased = meta.clone();
        leased.lease_until = now.saturating_add(self.lease);
        match shared.set(&self.meta_key, &leased.encode(), cas) {
            Ok(()) => {
                self.in_flight = true;
                // Revalidate the stored document, even one this root has not adopted yet: on a
                // 304 it adopts the stored copy on its next tick rather than fetching a second
                // copy of the same document under a new generation.
                let if_none_match =
                    (meta.generation > 0 && !meta.etag.is_empty()).then_some(meta.etag);
                Some(Fetch { if_none_match })
            }
            Err(_) => None,
        }
    }

    /// Asks every root for a fetch ahead of schedule (a token named a `kid` the key set does not
    /// hold), at most once per `cooldown` seconds across the process: not before the first
    /// load (due anyway), nor while a fetch is under way. Whether it was asked; the root whose
    /// tick next finds it due claims it as any other fetch.
    pub fn hurry(&self, now: i64, cooldown: i64, shared: &dyn Shared) -> bool {
        for _ in 0..8 {
            let (mut meta, cas) = self.read_meta(shared);
            if meta.generation == 0 || meta.lease_until > now || meta.hurry {
                return false;
            }
            if meta.hurried_at != 0 && now < meta.hurried_at.saturating_add(cooldown) {
                return false;
            }
            meta.hurried_at = now;
            meta.hurry = true;
            match shared.set(&self.meta_key, &meta.encode(), cas) {
                Ok(()) => return true,
                Err(CAS_MISMATCH) => continue,
                Err(_) => return false,
            }
        }
        false
    }

    /// The dispatch never started: give the lease back as a failure.
    pub fn abandon(&mut self, now: i64, shared: &dyn Shared) {
        self.finish(now, Outcome::Failed, shared);
    }

    /// Records how the fetch ended. On `Fresh`, returns the generation it was stored under.
    pub fn finish(&mut self, now: i64, outcome: Outcome<'_>, shared: &dyn Shared) -> Option<u64> {
        self.in_flight = false;
        let fresh = matches!(outcome, Outcome::Fresh { .. });
        let failed = matches!(outcome, Outcome::Failed);
        let (stored, etag) = match outcome {
            Outcome::Fresh { etag, stored } => (self.store(stored, shared), etag),
            Outcome::NotModified | Outcome::Failed => (None, None),
        };
        // A document that could not be shared counts as a failed fetch: retried with back-off.
        let failed = failed || (fresh && stored.is_none());
        for _ in 0..8 {
            let (mut meta, cas) = self.read_meta(shared);
            if let Some(generation) = stored {
                if meta.generation > generation {
                    break; // a later fetch already landed
                }
                meta.generation = generation;
                meta.etag = etag.unwrap_or("").to_owned();
            }
            if failed {
                meta.failures = meta.failures.saturating_add(1);
                meta.last_attempt = now;
            } else {
                meta.last_ok = now;
                meta.failures = 0;
            }
            meta.lease_until = 0;
            meta.hurry = false;
            match shared.set(&self.meta_key, &meta.encode(), cas) {
                Err(CAS_MISMATCH) => continue,
                _ => break,
            }
        }
        if let Some(g) = stored {
            self.loaded = g;
        }
        stored
    }

    /// Stores `doc` under the next generation, before `meta` names it (so a root that reads
    /// the new `meta` finds the document).
    fn store(&self, doc: &mut Vec<u8>, shared: &dyn Shared) -> Option<u64> {
        let (meta, _) = self.read_meta(shared);
        let generation = meta.generation.max(self.loaded).saturating_add(1);
        let len = doc.len();
        // Exactly 8 more bytes: a plain push would double the capacity of a document that may
        // be hundreds of MiB, and a VM's memory never shrinks.
        doc.reserve_exact(8);
        doc.extend_from_slice(&generation.to_le_bytes());
        let stored = shared.set(&self.doc_key, doc, 0);
        doc.truncate(len);
        stored.ok().map(|()| generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Mem(RefCell<HashMap<String, (Vec<u8>, u32)>>);

    impl Shared for Mem {
        fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
            Ok(match self.0.borrow().get(key) {
                Some((v, cas)) => (Some(v.clone()), *cas),
                None => (None, 0),
            })
        }
        fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
            let mut m = self.0.borrow_mut();
            let cur = m.get(key).map(|(_, c)| *c).unwrap_or(0);
            if cas != 0 && cas != cur {
                return Err(CAS_MISMATCH);
            }
            m.insert(key.to_owned(), (value.to_vec(), cur + 1));
            Ok(())
        }
    }

    #[test]
    fn meta_round_trips_and_rejects_garbage() {
        let m = Meta {
            generation: 3,
            last_ok: 10,
            last_attempt: 9,
            failures: 2,
            lease_until: 0,
            hurried_at: 7,
            hurry: true,
            etag: "\"a b\nc\"".into(),
        };
        assert_eq!(Meta::decode(&m.encode()), Some(m));
        assert_eq!(Meta::decode(b"nope"), None);
        assert_eq!(Meta::decode(b""), None);
    }

    #[test]
    fn only_one_root_fetches_and_the_others_adopt() {
        let shared = Mem::default();
        let mut a = Sync::new("c|h|/r", 60, 5000);
        assert!(!a.prepare(&shared));
        let mut b = Sync::new("c|h|/r", 60, 5000);
        let fa = a.claim(100, &shared).unwrap();
        assert_eq!(fa.if_none_match, None);
        assert!(b.claim(100, &shared).is_none(), "lease held");
        let g = a.finish(
            101,
            Outcome::Fresh {
                etag: Some("\"v1\""),
                stored: &mut b"{}".to_vec(),
            },
            &shared,
        );
        assert_eq!(g, Some(1));
        assert_eq!(a.loaded, 1);
        assert!(a.newer(&shared).is_none());
        let adopt = b.newer(&shared).unwrap();
        assert_eq!((adopt.generation, adopt.stored.as_slice()), (1, &b"{}"[..]));
        b.loaded = 1;
        // Nobody fetches again before the refresh interval.
        assert!(a.claim(120, &shared).is_none());
        assert!(b.claim(120, &shared).is_none());
        // Then one revalidates with the ETag.
        let fb = b.claim(161, &shared).unwrap();
        assert_eq!(fb.if_none_match.as_deref(), Some("\"v1\""));
        assert!(a.claim(161, &shared).is_none());
        assert_eq!(b.finish(162, Outcome::NotModified, &shared), None);
        assert!(a.claim(170, &shared).is_none());
    }

    #[test]
    fn failures_back_off_and_keep_the_document() {
        let shared = Mem::default();
        let mut a = Sync::new("s", 60, 1000);
        assert!(!a.prepare(&shared));
        a.claim(0, &shared).unwrap();
        a.finish(
            1,
            Outcome::Fresh {
                etag: None,
                stored: &mut b"[1]".to_vec(),
            },
            &shared,
        );
        a.claim(61, &shared).unwrap();
        a.finish(61, Outcome::Failed, &shared);
        assert!(a.claim(61, &shared).is_none());
        a.claim(62, &shared).unwrap(); // 1 s after the first failure
        a.finish(62, Outcome::Failed, &shared);
        assert!(a.claim(63, &shared).is_none());
        a.claim(64, &shared).unwrap(); // 2 s after the second
        a.finish(64, Outcome::Failed, &shared);
        let fresh = Sync::new("s", 60, 1000);
        assert_eq!(fresh.newer(&shared).unwrap().stored, b"[1]");
    }

    #[test]
    fn the_first_fetch_is_one_per_process() {
        // Four roots start together and all find no meta, so each creates it (as `on_configure`
        // does); then exactly one claims.
        let shared = Mem::default();
        let mut roots: Vec<Sync> = (0..4).map(|_| Sync::new("s", 60, 1000)).collect();
        let found: Vec<bool> = roots.iter().map(|r| r.prepare(&shared)).collect();
        assert_eq!(found, [false, true, true, true]);
        // A root that read "absent" before the first create writes the same empty meta again.
        shared
            .set(&roots[3].meta_key, &Meta::default().encode(), 0)
            .unwrap();
        let won = roots.iter_mut().filter_map(|r| r.claim(0, &shared)).count();
        assert_eq!(won, 1);
        // Creating the meta again (a root configured later) does not reset the lease.
        assert!(Sync::new("s", 60, 1000).prepare(&shared));
        assert!(roots.iter_mut().all(|r| r.claim(1, &shared).is_none()));
    }

    #[test]
    fn a_root_that_finds_no_meta_creates_it_and_does_not_claim_on_that_tick() {
        let shared = Mem::default();
        let mut a = Sync::new("s", 60, 1000);
        assert!(a.claim(0, &shared).is_none());
        assert!(a.claim(0, &shared).is_some());
    }

    #[test]
    fn a_document_keeps_its_bytes_and_its_generation() {
        let shared = Mem::default();
        let mut a = Sync::new("s", 60, 1000);
        a.prepare(&shared);
        a.claim(0, &shared).unwrap();
        let mut json = b"{\"tokens\": []}".to_vec();
        let g = a.finish(
            0,
            Outcome::Fresh {
                etag: None,
                stored: &mut json,
            },
            &shared,
        );
        assert_eq!(json, b"{\"tokens\": []}", "handed back as it was");
        assert_eq!(json.capacity(), json.len() + 8, "grown by the trailer only");
        let doc = Sync::new("s", 60, 1000).newer(&shared).unwrap();
        assert_eq!((Some(doc.generation), doc.stored), (g, json));
        assert!(split_doc(b"short".to_vec()).is_none());
    }

    #[test]
    fn a_root_that_has_not_adopted_yet_still_revalidates() {
        let shared = Mem::default();
        let mut a = Sync::new("s", 60, 1000);
        a.prepare(&shared);
        a.claim(0, &shared).unwrap();
        let json = &mut b"{}".to_vec();
        a.finish(
            0,
            Outcome::Fresh {
                etag: Some("\"e\""),
                stored: json,
            },
            &shared,
        );
        let mut b = Sync::new("s", 60, 1000);
        let fetch = b.claim(60, &shared).unwrap();
        assert_eq!(fetch.if_none_match.as_deref(), Some("\"e\""));
        b.finish(60, Outcome::NotModified, &shared);
        // The 304 left the stored document for b to adopt, under the same generation.
        assert_eq!(b.newer(&shared).unwrap().generation, 1);
    }

    #[test]
    fn a_hurried_fetch_is_one_per_cooldown_across_roots() {
        let shared = Mem::default();
        let mut a = Sync::new("s", 300, 1000);
        let mut b = Sync::new("s", 300, 1000);
        assert!(!a.prepare(&shared));
        assert!(
            !a.hurry(0, 30, &shared),
            "nothing loaded yet: the first fetch is due anyway"
        );
        a.claim(0, &shared).unwrap();
        a.finish(
            0,
            Outcome::Fresh {
                etag: Some("\"k1\""),
                stored: &mut b"{}".to_vec(),
            },
            &shared,
        );
        assert!(
            b.claim(10, &shared).is_none(),
            "not due before refresh_seconds"
        );
        assert!(b.hurry(10, 30, &shared));
        assert!(!a.hurry(10, 30, &shared), "asked already");
        // Whichever root ticks first fetches, revalidating what is stored.
        let f = a.claim(10, &shared).unwrap();
        assert_eq!(f.if_none_match.as_deref(), Some("\"k1\""));
        assert!(!b.hurry(10, 30, &shared), "under way");
        a.finish(11, Outcome::NotModified, &shared);
        assert!(b.claim(11, &shared).is_none(), "done: not due again");
        assert!(!b.hurry(39, 30, &shared), "in the cooldown");
        assert!(b.hurry(40, 30, &shared));
        assert!(b.claim(40, &shared).is_some());
    }

    #[test]
    fn a_root_that_serves_requests_leaves_the_fetch_to_one_that_does_not() {
        let shared = Mem::default();
        let mut main = Sync::new("s", 60, 1000);
        let mut worker = Sync::new("s", 60, 1000);
        main.prepare(&shared);
        worker.serving();
        // The first fetch: nothing is loaded anywhere, so any root takes it.
        worker.claim(0, &shared).unwrap();
        let stored = &mut b"{}".to_vec();
        worker.finish(0, Outcome::Fresh { etag: None, stored }, &shared);
        // Due at 60: the worker waits SERVING_GRACE; the main thread's root claims at once.
        assert!(worker.claim(60, &shared).is_none());
        main.claim(60, &shared).unwrap();
        main.finish(60, Outcome::NotModified, &shared);
        // If the main thread's root does not claim, the worker does, SERVING_GRACE late.
        assert!(worker.claim(120, &shared).is_none());
        assert!(worker.claim(120 + SERVING_GRACE - 1, &shared).is_none());
        worker.claim(120 + SERVING_GRACE, &shared).unwrap();
        // The same after a failure: the back-off, then the grace.
        worker.finish(122, Outcome::Failed, &shared);
        assert!(worker.claim(123, &shared).is_none());
        worker.claim(123 + SERVING_GRACE, &shared).unwrap();
        // A fetch asked for ahead of schedule is anyone's at once.
        worker.finish(125, Outcome::NotModified, &shared);
        assert!(worker.hurry(126, 30, &shared));
        assert!(worker.claim(126, &shared).is_some());
    }

    #[test]
    fn the_keys_name_the_stored_format() {
        // An older build stored JSON under `meta|`/`doc2|` in the same process: never read here.
        let s = Sync::new("c|h|/r", 60, 1000);
        assert_eq!(s.meta_key, "tokengate/registry/meta2|c|h|/r");
        assert_eq!(s.doc_key, "tokengate/registry/doc3|c|h|/r");
    }

    #[test]
    fn an_expired_lease_is_taken_over() {
        let shared = Mem::default();
        let mut a = Sync::new("s", 60, 1000);
        assert!(!a.prepare(&shared));
        let mut b = Sync::new("s", 60, 1000);
        a.claim(0, &shared).unwrap();
        assert!(b.claim(2, &shared).is_none());
        assert!(b.claim(3, &shared).is_some());
    }

    #[test]
    fn a_lost_race_does_not_fetch() {
        let shared = Mem::default();
        let mut a = Sync::new("s", 60, 1000);
        assert!(!a.prepare(&shared));
        a.claim(0, &shared).unwrap();
        a.finish(
            0,
            Outcome::Fresh {
                etag: None,
                stored: &mut b"x".to_vec(),
            },
            &shared,
        );
        // b read the meta, then a took the lease before b wrote: b's CAS fails.
        let mut b = Sync::new("s", 60, 1000);
        let (_, cas) = b.read_meta(&shared);
        a.claim(100, &shared).unwrap();
        assert!(shared.set(&b.meta_key, b"x", cas).is_err());
        assert!(b.claim(100, &shared).is_none());
    }
}
