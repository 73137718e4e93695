//! The registry as bytes: the packed table in an explicit, versioned, little-endian encoding, so
//! that a front which shares a parsed registry between isolated VMs (the proxy-wasm filter, through
//! Envoy's shared data) copies and checks 54 bytes an entry instead of parsing JSON again.
//!
//! Version 1, every integer little-endian:
//!
//! ```text
//! header   magic "TGREGBIN" (8) | version u32 = 1 | entries u32 | ids u32          20 bytes
//! entry    sha256 [32] | account_id u64 | expires i64 | index u32 | kind u8 | revoked u8
//!                                                                     54 bytes each, by digest
//! id       index u32 | length u8 (1..=64) | the id's bytes            by index
//! ```
//!
//! `kind` is 0 `pat`, 1 `service`, 2 `user_key`; `expires` is Unix seconds, `i64::MAX` for never;
//! `index` is the entry's position in the document it was read from. Nothing follows the last id.
//! [`Registry::from_bytes`] accepts exactly what [`Registry::to_bytes`] can write for a registry
//! read from JSON, so the two are inverses and a registry read back decides as the original did.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{Registry, Slot};
use crate::error::PolicyErrors;
use crate::policy::registry_read::valid_token_id;
use crate::token::Kind;

const MAGIC: [u8; 8] = *b"TGREGBIN";
const VERSION: u32 = 1;
const HEADER: usize = 20;
const ENTRY: usize = 54;
/// The least an id takes: its index, its length and one byte.
const MIN_ID: usize = 6;
const MAX_ID: usize = 64;

/// The range `parse_rfc3339` can produce (years 0000 to 9999, offsets up to ±23:59); anything
/// else in `expires` was not written from a document.
const EARLIEST: i64 = -62_167_305_540;
const LATEST: i64 = 253_402_387_139;

fn kind_byte(kind: Kind) -> u8 {
    match kind {
        Kind::Pat => 0,
        Kind::Service => 1,
        Kind::UserKey => 2,
        // Never in a registry (the reader takes only the three kinds above): written as a byte
        // that reading back refuses rather than one that changes its meaning.
        Kind::OAuth => 3,
    }
}

fn kind_of(byte: u8) -> Option<Kind> {
    match byte {
        0 => Some(Kind::Pat),
        1 => Some(Kind::Service),
        2 => Some(Kind::UserKey),
        _ => None,
    }
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Reads fields off the front of the input; every read is bounds-checked.
struct Cursor<'b> {
    rest: &'b [u8],
}

impl<'b> Cursor<'b> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }
    fn bytes(&mut self, n: usize) -> Option<&'b [u8]> {
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
}

fn refuse(path: &str, message: impl Into<String>) -> PolicyErrors {
    let mut errs = PolicyErrors::default();
    errs.push(path, message);
    errs
}

const TRUNCATED: &str = "packed registry is truncated";

impl Registry {
    /// How many bytes [`Registry::to_bytes`] writes.
    pub fn encoded_len(&self) -> usize {
        let ids: usize = self
            .ids
            .iter()
            .map(|(_, id)| 5 + id.len().min(usize::from(u8::MAX)))
            .sum();
        HEADER + ENTRY * self.slots.len() + ids
    }

    /// The registry in the packed binary form (see the module's documentation), appended to `out`.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&len_u32(self.slots.len()).to_le_bytes());
        out.extend_from_slice(&len_u32(self.ids.len()).to_le_bytes());
        for s in &self.slots {
            out.extend_from_slice(&s.digest);
            out.extend_from_slice(&s.account.to_le_bytes());
            out.extend_from_slice(&s.expires.to_le_bytes());
            out.extend_from_slice(&s.index.to_le_bytes());
            out.push(kind_byte(s.kind));
            out.push(u8::from(s.revoked));
        }
        for (index, id) in &self.ids {
            let id = id.as_bytes();
            let id = id.get(..usize::from(u8::MAX)).unwrap_or(id);
            out.extend_from_slice(&index.to_le_bytes());
            out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(id);
        }
    }

    /// The registry in the packed binary form: [`Registry::encoded_len`] bytes, for
    /// [`Registry::from_bytes`] to read back.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_bytes(&mut out);
        out
    }

    /// A registry from [`Registry::to_bytes`]'s form, checked as thoroughly as a JSON document:
    /// the version, every length against the input, digests strictly ascending (sorted, no
    /// duplicates, as the lookup needs), kinds and flags, dates in range, document indices each
    /// used once, ids in index order with a safe alphabet, and nothing after the end. Never
    /// panics; the error names the first problem (never a digest).
    pub fn from_bytes(bytes: &[u8]) -> Result<Registry, PolicyErrors> {
        let mut c = Cursor { rest: bytes };
        if c.take::<8>() != Some(MAGIC) {
            return Err(refuse("", "not a packed registry (bad magic)"));
        }
        let version = c.u32().ok_or_else(|| refuse("", TRUNCATED))?;
        if version != VERSION {
            return Err(refuse(
                "",
                format!("packed registry version {version}; this build reads {VERSION}"),
            ));
        }
        let (Some(entries), Some(ids)) = (c.u32(), c.u32()) else {
            return Err(refuse("", TRUNCATED));
        };
        let n = usize::try_from(entries).map_err(|_| refuse("", "too many entries"))?;
        let m = usize::try_from(ids).map_err(|_| refuse("", "too many ids"))?;
        // Both counts against what is there before anything is allocated for them.
        let need = n
            .checked_mul(ENTRY)
            .and_then(|e| m.checked_mul(MIN_ID).and_then(|i| e.checked_add(i)));
        if need.is_none_or(|need| need > c.rest.len()) {
            return Err(refuse("", TRUNCATED));
        }

        let mut slots: Vec<Slot> = Vec::with_capacity(n);
        let mut seen = vec![0u64; n.div_ceil(64)];
        for i in 0..n {
            let path = |f: &str| format!("entries[{i}].{f}");
            let (Some(digest), Some(account), Some(expires), Some(index), Some(kind), Some(flag)) =
                (c.take::<32>(), c.u64(), c.i64(), c.u32(), c.u8(), c.u8())
            else {
                return Err(refuse("", TRUNCATED));
            };
            if slots.last().is_some_and(|prev| prev.digest >= digest) {
                return Err(refuse(
                    &path("sha256"),
                    "digests are not in strictly ascending order",
                ));
            }
            let kind = kind_of(kind)
                .ok_or_else(|| refuse(&path("kind"), format!("unknown kind {kind}")))?;
            if kind == Kind::UserKey && account != 0 {
                return Err(refuse(
                    &path("account_id"),
                    "a legacy user API key is not bound to an account",
                ));
            }
            if expires != i64::MAX && !(EARLIEST..=LATEST).contains(&expires) {
                return Err(refuse(&path("expires_at"), "out of range"));
            }
            let revoked = match flag {
                0 => false,
                1 => true,
                _ => return Err(refuse(&path("revoked"), "expected 0 or 1")),
            };
            let at = usize::try_from(index).ok().filter(|&at| at < n);
            let word = at.and_then(|at| seen.get_mut(at / 64));
            let Some((at, word)) = at.zip(word) else {
                return Err(refuse(
                    &path("index"),
                    format!("{index} is not below the {n} entries"),
                ));
            };
            let bit = 1u64 << (at % 64);
            if *word & bit != 0 {
                return Err(refuse(
                    &path("index"),
                    format!("{index} is used by two entries"),
                ));
            }
            *word |= bit;
            slots.push(Slot {
                digest,
                account,
                expires,
                index,
                kind,
                revoked,
            });
        }
        drop(seen);

        let mut names: Vec<(u32, String)> = Vec::with_capacity(m);
        for i in 0..m {
            let path = format!("ids[{i}]");
            let (Some(index), Some(len)) = (c.u32(), c.u8()) else {
                return Err(refuse("", TRUNCATED));
            };
            let id = c
                .bytes(usize::from(len))
                .ok_or_else(|| refuse("", TRUNCATED))?;
            if names.last().is_some_and(|(prev, _)| *prev >= index) {
                return Err(refuse(&path, "indices are not in strictly ascending order"));
            }
            if !usize::try_from(index).is_ok_and(|at| at < n) {
                return Err(refuse(
                    &path,
                    format!("index {index} is not below the {n} entries"),
                ));
            }
            let id = core::str::from_utf8(id)
                .ok()
                .filter(|s| s.len() <= MAX_ID && valid_token_id(s))
                .ok_or_else(|| {
                    refuse(
                        &path,
                        "expected 1 to 64 characters of letters, digits, '-', '_', '.' or ':'",
                    )
                })?;
            names.push((index, String::from(id)));
        }
        if !c.rest.is_empty() {
            return Err(refuse(
                "",
                format!("{} bytes after the packed registry", c.rest.len()),
            ));
        }
        let mut registry = Registry {
            slots,
            ids: names,
            ..Registry::default()
        };
        registry.index_buckets();
        Ok(registry)
    }

    /// Every entry is found by its own digest and the buckets cover the table (fuzzing only).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn fuzzing_lookups_hold(&self) -> bool {
        self.buckets.len() == (1usize << self.bits) + 1
            && self.buckets.last().map(|&b| b as usize) == Some(self.slots.len())
            && self.buckets.windows(2).all(|w| w.first() <= w.get(1))
            && self
                .slots
                .iter()
                .all(|s| self.lookup(&s.digest).is_some_and(|h| h.kind == s.kind))
    }
}

#[cfg(test)]
#[path = "registry_bytes_tests.rs"]
mod tests;
