//! The registry: SHA-256 digests of the tokens the edge accepts (SPEC §3). The edge never holds a
//! token at rest. Entries are packed small (56 bytes) and sorted, so a million of them load fast and
//! a lookup is a binary search on the digest's first 8 bytes followed by a constant-time compare.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::json::{field, index, read_document};
use super::registry_read::DocSeed;
pub(crate) use super::registry_read::TokensSeed;
use crate::error::PolicyErrors;
use crate::token::Kind;

/// How many hex characters of the digest make the default token id.
const TOKEN_ID_HEX: usize = 12;

/// One registered token, packed.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    pub(super) digest: [u8; 32],
    pub(super) account: u64,
    /// Unix seconds; `i64::MAX` when it never expires.
    pub(super) expires: i64,
    /// Position in the source document: ties errors and explicit token ids back to it.
    pub(super) index: u32,
    pub(super) kind: Kind,
    pub(super) revoked: bool,
}

// A million entries must fit in 64 MB with room for the allocator: keep the slot at 56 bytes.
const _: () = assert!(core::mem::size_of::<Slot>() <= 56);

/// A registered token found by its digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit<'r> {
    pub kind: Kind,
    pub account: Option<u64>,
    pub expires: Option<i64>,
    pub revoked: bool,
    pub token_id: TokenId<'r>,
}

/// The only token identity that may be shown (SPEC §3): the registry's `token_id`, or the first
/// 12 hex characters of the digest. Held inline or borrowed: no allocation per request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TokenId<'r> {
    /// The first 12 hex characters of the digest.
    Digest([u8; TOKEN_ID_HEX]),
    /// The registry's own id for the token.
    Named(&'r str),
}

impl<'r> TokenId<'r> {
    /// The id of a token with this digest when the registry names none.
    pub fn of_digest(digest: &[u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'0'; TOKEN_ID_HEX];
        for (pair, byte) in out.chunks_exact_mut(2).zip(digest) {
            if let [hi, lo] = pair {
                *hi = HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
                *lo = HEX.get(usize::from(byte & 0x0f)).copied().unwrap_or(b'0');
            }
        }
        TokenId::Digest(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match self {
            TokenId::Digest(hex) => core::str::from_utf8(hex).unwrap_or(""),
            TokenId::Named(s) => s,
        }
    }
}

impl fmt::Debug for TokenId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of token digests the edge accepts.
#[derive(Clone, Default)]
pub struct Registry {
    pub(super) slots: Vec<Slot>,
    /// Explicit `token_id`s by document index, sorted.
    pub(super) ids: Vec<(u32, String)>,
    /// `buckets[b]` is the first slot whose digest starts with the `bits`-bit value `b`: a lookup
    /// touches one bucket of ~16 slots instead of binary-searching a table that outgrows the cache.
    pub(super) buckets: Vec<u32>,
    pub(super) bits: u32,
}

// Never print digests: `{:?}` of a policy or registry shows only a count.
impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("tokens", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// The SHA-256 of `token`.
pub fn sha256(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The lowercase hex SHA-256 of `token`, as the registry stores it.
pub fn sha256_hex(token: &[u8]) -> String {
    hex::encode(sha256(token))
}

fn prefix(d: &[u8; 32]) -> u64 {
    let mut p = [0u8; 8];
    p.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(p)
}

impl Registry {
    /// A registry document on its own, `{"tokens": [ … ]}`, as a `registry.url` endpoint serves it.
    pub fn from_json(json: &str) -> Result<Registry, PolicyErrors> {
        let mut errs = PolicyErrors::default();
        let registry = match read_document(json, DocSeed { errs: &mut errs }) {
            Ok(r) => r,
            Err(e) => {
                errs.push("", e);
                None
            }
        };
        match registry {
            Some(r) if errs.is_empty() => Ok(r),
            _ => {
                if errs.is_empty() {
                    errs.push("tokens", "missing field");
                }
                Err(errs)
            }
        }
    }

    /// How many tokens it holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes held per entry by the table itself (for capacity planning).
    pub const ENTRY_BYTES: usize = core::mem::size_of::<Slot>();

    /// Find a token by its digest.
    pub(crate) fn lookup(&self, digest: &[u8; 32]) -> Option<Hit<'_>> {
        let key = prefix(digest);
        let bucket = if self.bits == 0 {
            0
        } else {
            (key >> (64 - self.bits)) as usize
        };
        let lo = self.buckets.get(bucket).map_or(0, |&i| i as usize);
        let hi = self
            .buckets
            .get(bucket + 1)
            .map_or(self.slots.len(), |&i| i as usize);
        let candidates = self.slots.get(lo..hi).unwrap_or_default();
        let start = candidates.partition_point(|s| prefix(&s.digest) < key);
        let slot = candidates
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|s| prefix(&s.digest) == key)
            .find(|s| bool::from(s.digest.ct_eq(digest)))?;
        let named = self
            .ids
            .binary_search_by_key(&slot.index, |(i, _)| *i)
            .ok()
            .and_then(|i| self.ids.get(i));
        let token_id = match named {
            Some((_, id)) => TokenId::Named(id),
            None => TokenId::of_digest(&slot.digest),
        };
        Some(Hit {
            kind: slot.kind,
            account: matches!(slot.kind, Kind::Pat | Kind::Service).then_some(slot.account),
            expires: (slot.expires != i64::MAX).then_some(slot.expires),
            revoked: slot.revoked,
            token_id,
        })
    }

    /// Sort for lookup and refuse duplicate digests, naming both places.
    pub(super) fn finish(mut self, path: &str, errs: &mut PolicyErrors) -> Registry {
        self.slots.sort_unstable_by_key(|a| a.digest);
        for pair in self.slots.windows(2) {
            if let [a, b] = pair {
                if a.digest == b.digest {
                    let (first, second) = (a.index.min(b.index), a.index.max(b.index));
                    errs.push(
                        &field(&index(path, second as usize), "sha256"),
                        format!("duplicate digest: the same token is already at {path}[{first}]"),
                    );
                }
            }
        }
        self.slots.shrink_to_fit();
        self.index_buckets();
        self
    }

    /// About 16 slots a bucket, at most 2^16 buckets (256 KiB of index for a million tokens).
    fn index_buckets(&mut self) {
        let n = self.slots.len();
        self.bits = (usize::BITS - (n / 16).leading_zeros()).min(16);
        let count = 1usize << self.bits;
        let mut buckets = Vec::with_capacity(count + 1);
        let mut slot = 0usize;
        for b in 0..count {
            while self.slots.get(slot).is_some_and(|s| {
                self.bits > 0 && ((prefix(&s.digest) >> (64 - self.bits)) as usize) < b
            }) {
                slot += 1;
            }
            buckets.push(u32::try_from(slot).unwrap_or(u32::MAX));
        }
        buckets.push(u32::try_from(n).unwrap_or(u32::MAX));
        self.buckets = buckets;
    }
}

#[path = "registry_bytes.rs"]
mod bytes;

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
