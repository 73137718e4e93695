//! Verified tokens by SHA-256 digest, until their `exp` (SPEC §11), so that a busy client does
//! not pay for a signature check on every request.
//!
//! The cache lives inside the policy, and the native Envoy front shares one policy across its
//! worker threads, so the cache is `Sync` without a lock: a fixed table of slots, each guarded by
//! a sequence number (a seqlock). A reader copies a slot and keeps the copy only if the sequence
//! number was even and unchanged around the copy; a writer claims a slot by making its number
//! odd and skips the insertion if another writer holds it. Every access is an atomic, so this is
//! safe Rust; a lost insertion only costs one more signature check later. In the single-threaded
//! wasm fronts the atomics are plain loads and stores.
//!
//! Bounded: [`SLOTS`] entries, 80 bytes each, allocated when the policy loads; a slot is chosen
//! by the digest, and a newer token replaces whatever held it. Only verified tokens go in, each
//! until its `exp` plus the leeway; a hit is re-checked against `now`.

use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU64, Ordering};

use subtle::ConstantTimeEq;

use super::Verified;

/// How many tokens the cache holds at most.
pub const SLOTS: usize = 1024;

const NO_ACCOUNT: u64 = 0;
const HAS_ACCOUNT: u64 = 1;

#[derive(Default)]
struct Slot {
    /// Even: stable; odd: being written. Zero: never written.
    seq: AtomicU64,
    digest: [AtomicU64; 4],
    /// The last second the token is still valid at, plus one (`exp + leeway`).
    until: AtomicU64,
    /// The token's `exp`, as the bits of an i64.
    exp: AtomicU64,
    /// The first second the token is valid at (`nbf` less the leeway), as the bits of an i64.
    from: AtomicU64,
    account: AtomicU64,
    flags: AtomicU64,
}

/// A bounded, lock-free cache of verified tokens (see the module documentation).
pub struct Cache {
    slots: Vec<Slot>,
}

impl core::fmt::Debug for Cache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cache")
            .field("slots", &self.slots.len())
            .finish()
    }
}

fn words(digest: &[u8; 32]) -> [u64; 4] {
    let mut w = [0u64; 4];
    for (out, chunk) in w.iter_mut().zip(digest.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *out = u64::from_le_bytes(b);
    }
    w
}

impl Cache {
    /// An empty cache of [`SLOTS`] slots.
    pub fn new() -> Cache {
        Cache::with_slots(SLOTS)
    }

    pub(crate) fn with_slots(n: usize) -> Cache {
        let mut slots = Vec::with_capacity(n.max(1));
        slots.resize_with(n.max(1), Slot::default);
        Cache { slots }
    }

    fn slot(&self, w: &[u64; 4]) -> Option<&Slot> {
        // The digest is uniform: its first word picks the slot.
        let n = u64::try_from(self.slots.len()).ok()?;
        self.slots.get(usize::try_from(w[0] % n).ok()?)
    }

    /// The verdict cached for the token with `digest`, if it is there and still valid at `now`.
    pub fn get(&self, digest: &[u8; 32], now: i64) -> Option<Verified> {
        let w = words(digest);
        let slot = self.slot(&w)?;
        let s1 = slot.seq.load(Ordering::Acquire);
        if s1 == 0 || s1 & 1 == 1 {
            return None;
        }
        let mut seen = [0u64; 4];
        for (out, d) in seen.iter_mut().zip(&slot.digest) {
            *out = d.load(Ordering::Relaxed);
        }
        let until = slot.until.load(Ordering::Relaxed);
        let exp = slot.exp.load(Ordering::Relaxed);
        let from = i64::from_le_bytes(slot.from.load(Ordering::Relaxed).to_le_bytes());
        let account = slot.account.load(Ordering::Relaxed);
        let flags = slot.flags.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) != s1 {
            return None;
        }
        let same: bool = seen
            .iter()
            .zip(&w)
            .fold(subtle::Choice::from(1), |acc, (a, b)| acc & a.ct_eq(b))
            .into();
        let until = i64::try_from(until).ok()?;
        if !same || now >= until || now < from {
            return None;
        }
        Some(Verified {
            expires_at: i64::from_le_bytes(exp.to_le_bytes()),
            account_id: (flags == HAS_ACCOUNT).then_some(account),
        })
    }

    /// Remember that the token with `digest` verified: valid from `from` (its `nbf` less the
    /// leeway, or `i64::MIN`) until before `until` (its `exp` plus the leeway).
    pub fn insert(&self, digest: &[u8; 32], from: i64, until: i64, v: &Verified) {
        let Ok(until) = u64::try_from(until) else {
            return;
        };
        let w = words(digest);
        let Some(slot) = self.slot(&w) else {
            return;
        };
        let s = slot.seq.load(Ordering::Relaxed);
        if s & 1 == 1
            || slot
                .seq
                .compare_exchange(s, s.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return; // another writer holds the slot: skip, it is only a cache
        }
        fence(Ordering::Release);
        for (d, x) in slot.digest.iter().zip(w) {
            d.store(x, Ordering::Relaxed);
        }
        slot.until.store(until, Ordering::Relaxed);
        slot.exp.store(
            u64::from_le_bytes(v.expires_at.to_le_bytes()),
            Ordering::Relaxed,
        );
        slot.from
            .store(u64::from_le_bytes(from.to_le_bytes()), Ordering::Relaxed);
        slot.account
            .store(v.account_id.unwrap_or(0), Ordering::Relaxed);
        let flags = if v.account_id.is_some() {
            HAS_ACCOUNT
        } else {
            NO_ACCOUNT
        };
        slot.flags.store(flags, Ordering::Relaxed);
        // Never back to zero ("never written"), even after 2^63 writes.
        let next = s.wrapping_add(2).max(2);
        slot.seq.store(next, Ordering::Release);
    }
}

/// A clone is an empty cache of the same size: verdicts belong to the policy that made them.
impl Clone for Cache {
    fn clone(&self) -> Cache {
        Cache::with_slots(self.slots.len())
    }
}

impl Default for Cache {
    fn default() -> Cache {
        Cache::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn digest(i: u64) -> [u8; 32] {
        let mut d = [0u8; 32];
        for (n, c) in d.chunks_exact_mut(8).enumerate() {
            c.copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n as u64).to_le_bytes());
        }
        d
    }

    #[test]
    fn hit_until_expiry_then_miss() {
        let c = Cache::new();
        let v = Verified {
            expires_at: 100,
            account_id: Some(u64::MAX),
        };
        assert_eq!(c.get(&digest(1), 0), None);
        c.insert(&digest(1), 50, 160, &v);
        assert_eq!(c.get(&digest(1), 159), Some(v));
        assert_eq!(
            c.get(&digest(1), 49),
            None,
            "before nbf less leeway (a clock stepped back)"
        );
        assert_eq!(c.get(&digest(1), 50), Some(v));
        assert_eq!(
            c.get(&digest(1), 160),
            None,
            "expired with its exp plus leeway"
        );
        assert_eq!(c.get(&digest(2), 0), None, "another token");
        let none = Verified {
            expires_at: 100,
            account_id: None,
        };
        c.insert(&digest(3), i64::MIN, 160, &none);
        assert_eq!(c.get(&digest(3), 0).map(|h| h.account_id), Some(None));
        c.insert(&digest(4), i64::MIN, -5, &none);
        assert_eq!(
            c.get(&digest(4), -10),
            None,
            "a negative expiry is not cached"
        );
    }

    #[test]
    fn bounded_a_newer_token_takes_the_slot() {
        let c = Cache::with_slots(4);
        let v = |a| Verified {
            expires_at: 1_000,
            account_id: Some(a),
        };
        for i in 0..64 {
            c.insert(&digest(i), i64::MIN, 1_000, &v(i));
        }
        let held: Vec<u64> = (0..64)
            .filter(|&i| c.get(&digest(i), 0).is_some())
            .collect();
        assert!(held.len() <= 4 && !held.is_empty(), "{held:?}");
        for i in held {
            assert_eq!(
                c.get(&digest(i), 0).unwrap().account_id,
                Some(i),
                "a slot never mixes two tokens"
            );
        }
    }

    #[test]
    fn threads_never_read_a_torn_entry() {
        // Writers fill two slots with entries whose account equals their digest's index; readers
        // must only ever see a matching pair, or a miss.
        let c = Arc::new(Cache::with_slots(2));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    let mut hits = 0;
                    for n in 0..20_000u64 {
                        let i = (n * 7 + t) % 16;
                        if t % 2 == 0 {
                            c.insert(
                                &digest(i),
                                i64::MIN,
                                10,
                                &Verified {
                                    expires_at: 10,
                                    account_id: Some(i),
                                },
                            );
                        } else if let Some(v) = c.get(&digest(i), 0) {
                            assert_eq!(v.account_id, Some(i));
                            hits += 1;
                        }
                    }
                    hits
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn is_sync_and_send() {
        fn both<T: Sync + Send>() {}
        both::<Cache>();
    }
}
