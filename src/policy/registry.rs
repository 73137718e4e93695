//! The registry: SHA-256 digests of the tokens the edge accepts (SPEC §3). The edge never holds a
//! token at rest. Entries are packed small (56 bytes) and sorted, so a million of them load fast and
//! a lookup is a binary search on the digest's first 8 bytes followed by a constant-time compare.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::json::{field, get, index, only_objects, read_document, Json, Key, Reader};
use crate::error::PolicyErrors;
use crate::token::Kind;

/// How many hex characters of the digest make the default token id.
const TOKEN_ID_HEX: usize = 12;

/// One registered token, packed.
#[derive(Clone, Copy)]
struct Slot {
    digest: [u8; 32],
    account: u64,
    /// Unix seconds; `i64::MAX` when it never expires.
    expires: i64,
    /// Position in the source document: ties errors and explicit token ids back to it.
    index: u32,
    kind: Kind,
    revoked: bool,
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
    slots: Vec<Slot>,
    /// Explicit `token_id`s by document index, sorted.
    ids: Vec<(u32, String)>,
    /// `buckets[b]` is the first slot whose digest starts with the `bits`-bit value `b`: a lookup
    /// touches one bucket of ~16 slots instead of binary-searching a table that outgrows the cache.
    buckets: Vec<u32>,
    bits: u32,
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
    fn finish(mut self, path: &str, errs: &mut PolicyErrors) -> Registry {
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

const ENTRY_FIELDS: &[&str] = &[
    "sha256",
    "kind",
    "account_id",
    "token_id",
    "user_id",
    "name",
    "expires_at",
    "revoked",
];

fn parse_digest(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut d = [0u8; 32];
    hex::decode_to_slice(s, &mut d).ok()?;
    Some(d)
}

/// Token ids go into headers and logs: keep them to a safe alphabet.
fn valid_token_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Validate one entry into a slot (and its explicit token id).
fn entry(v: &Json<'_>, path: &str, idx: u32, r: &mut Reader<'_>) -> Option<(Slot, Option<String>)> {
    let fields = r.object(v, path, ENTRY_FIELDS)?;
    let before = r.errs.errors().len();
    let digest = match get(fields, "sha256") {
        None => {
            r.error(&field(path, "sha256"), "missing field");
            None
        }
        Some(v) => r.string(v, &field(path, "sha256")).and_then(|s| {
            parse_digest(s).or_else(|| {
                r.error(
                    &field(path, "sha256"),
                    "expected 64 lowercase hex characters",
                );
                None
            })
        }),
    };
    let kind = match get(fields, "kind") {
        None => {
            r.error(&field(path, "kind"), "missing field");
            None
        }
        Some(v) => r.choice(
            v,
            &field(path, "kind"),
            &[
                ("pat", Kind::Pat),
                ("service", Kind::Service),
                ("user_key", Kind::UserKey),
            ],
        ),
    };
    let account =
        get(fields, "account_id").and_then(|v| r.account_id(v, &field(path, "account_id")));
    match (kind, get(fields, "account_id")) {
        (Some(Kind::Pat | Kind::Service), None) => r.error(
            &field(path, "account_id"),
            "missing field: personal access tokens and service tokens are bound to one account",
        ),
        (Some(Kind::UserKey), Some(_)) => r.error(
            &field(path, "account_id"),
            "a legacy user API key is not bound to an account; remove account_id",
        ),
        _ => {}
    }
    let token_id = get(fields, "token_id").and_then(|v| {
        let p = field(path, "token_id");
        let s = r.string(v, &p)?;
        if valid_token_id(s) {
            Some(String::from(s))
        } else {
            r.error(
                &p,
                "expected 1 to 64 characters of letters, digits, '-', '_', '.' or ':'",
            );
            None
        }
    });
    if let Some(v) = get(fields, "user_id") {
        if !matches!(v, Json::Str(_) | Json::U64(_)) {
            r.error(&field(path, "user_id"), "expected a string or a number");
        }
    }
    if let Some(v) = get(fields, "name") {
        r.string(v, &field(path, "name"));
    }
    let expires = match get(fields, "expires_at") {
        None | Some(Json::Null) => Some(i64::MAX),
        Some(v) => r.date(v, &field(path, "expires_at")),
    };
    let revoked =
        get(fields, "revoked").map_or(Some(false), |v| r.boolean(v, &field(path, "revoked")));
    if r.errs.errors().len() != before {
        return None;
    }
    Some((
        Slot {
            digest: digest?,
            account: account.unwrap_or(0),
            expires: expires?,
            index: idx,
            kind: kind?,
            revoked: revoked?,
        },
        token_id,
    ))
}

/// The `tokens` array, read one entry at a time so a million entries never sit in a tree at once.
pub(crate) struct TokensSeed<'e> {
    pub errs: &'e mut PolicyErrors,
    pub path: String,
}

impl<'de> DeserializeSeed<'de> for TokensSeed<'_> {
    type Value = Registry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Registry, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TokensSeed<'_> {
    type Value = Registry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of registry entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Registry, A::Error> {
        let mut reg = Registry {
            slots: Vec::with_capacity(seq.size_hint().unwrap_or(0)),
            ..Registry::default()
        };
        let mut r = Reader { errs: self.errs };
        let mut i: usize = 0;
        while let Some(v) = seq.next_element::<Json<'de>>()? {
            let Ok(idx) = u32::try_from(i) else {
                r.error(&self.path, "too many entries");
                return Ok(reg);
            };
            if let Some((slot, id)) = entry(&v, &index(&self.path, i), idx, &mut r) {
                reg.slots.push(slot);
                if let Some(id) = id {
                    reg.ids.push((idx, id));
                }
            }
            i += 1;
        }
        Ok(reg.finish(&self.path, r.errs))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Registry, A::Error> {
        while map.next_entry::<Key<'de>, Json<'de>>()?.is_some() {}
        Ok(self.not_an_array("an object"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Registry, E> {
        Ok(self.not_an_array("a string"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Registry, E> {
        Ok(self.not_an_array("a number"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Registry, E> {
        Ok(self.not_an_array("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Registry, E> {
        Ok(self.not_an_array("a number"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Registry, E> {
        Ok(self.not_an_array("a boolean"))
    }
    fn visit_unit<E>(self) -> Result<Registry, E> {
        Ok(self.not_an_array("null"))
    }
}

impl TokensSeed<'_> {
    /// `tokens` is not an array: say so and carry on with an empty registry, so that the rest of
    /// the document is still checked.
    fn not_an_array(self, found: &str) -> Registry {
        self.errs
            .push(&self.path, format!("expected an array, found {found}"));
        Registry::default()
    }
}

/// A whole registry document: `{"tokens": [...]}` and nothing else.
struct DocSeed<'e> {
    errs: &'e mut PolicyErrors,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = Option<Registry>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = Option<Registry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a registry document {\"tokens\": [...]}")
    }

    only_objects!("a registry document {\"tokens\": [...]}");

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = None;
        while let Some(Key(k)) = map.next_key()? {
            if k == "tokens" && out.is_none() {
                out = Some(map.next_value_seed(TokensSeed {
                    errs: self.errs,
                    path: "tokens".into(),
                })?);
            } else {
                map.next_value::<Json<'de>>()?;
                let msg = if k == "tokens" {
                    "duplicate key"
                } else {
                    "unknown field; expected: tokens"
                };
                self.errs.push(&field("", &k), msg);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn digest_of(t: &str) -> String {
        sha256_hex(t.as_bytes())
    }

    #[test]
    fn finds_and_misses() {
        let doc = format!(
            r#"{{"tokens":[
              {{"sha256":"{}","kind":"pat","account_id":"18446744073709551615"}},
              {{"sha256":"{}","kind":"user_key","token_id":"legacy-1","revoked":true}},
              {{"sha256":"{}","kind":"service","account_id":9007199254740993,"expires_at":"2027-01-01T00:00:00Z"}}
            ]}}"#,
            digest_of("a"),
            digest_of("b"),
            digest_of("c")
        );
        let reg = Registry::from_json(&doc).unwrap();
        assert_eq!(reg.len(), 3);
        let a = reg.lookup(&sha256(b"a")).unwrap();
        assert_eq!((a.kind, a.account), (Kind::Pat, Some(u64::MAX)));
        assert_eq!(a.token_id.as_str(), &digest_of("a")[..12]);
        let b = reg.lookup(&sha256(b"b")).unwrap();
        assert_eq!(
            (b.kind, b.account, b.revoked, b.token_id.as_str()),
            (Kind::UserKey, None, true, "legacy-1")
        );
        let c = reg.lookup(&sha256(b"c")).unwrap();
        assert_eq!(
            (c.account, c.expires),
            (Some(9_007_199_254_740_993), Some(1_798_761_600))
        );
        assert!(reg.lookup(&sha256(b"d")).is_none());
    }

    #[test]
    fn bucketed_lookup_finds_every_entry() {
        for n in [0usize, 1, 15, 16, 17, 100, 5000] {
            let entries: Vec<String> = (0..n)
                .map(|i| {
                    format!(
                        r#"{{"sha256":"{}","kind":"user_key"}}"#,
                        digest_of(&format!("k{i}"))
                    )
                })
                .collect();
            let reg =
                Registry::from_json(&format!(r#"{{"tokens":[{}]}}"#, entries.join(","))).unwrap();
            assert_eq!(reg.len(), n);
            for i in 0..n {
                assert!(
                    reg.lookup(&sha256(format!("k{i}").as_bytes())).is_some(),
                    "n={n} i={i}"
                );
            }
            assert!(reg.lookup(&sha256(b"absent")).is_none());
            assert!(reg.lookup(&[0u8; 32]).is_none() && reg.lookup(&[0xff; 32]).is_none());
        }
    }

    #[test]
    fn entry_errors_have_paths() {
        let d = digest_of("a");
        let doc = format!(
            r#"{{"tokens":[
              {{"sha256":"{d}","kind":"pat","account_id":"1"}},
              {{"sha256":"{d}","kind":"pat","account_id":"1"}},
              {{"sha256":"ABC","kind":"robot"}},
              {{"sha256":"{}","kind":"user_key","account_id":1,"colour":"red"}},
              {{"sha256":"{}","kind":"pat"}},
              {{"sha256":"{}","kind":"pat","account_id":1.5,"expires_at":"soon","revoked":"no"}}
            ]}}"#,
            digest_of("b"),
            digest_of("c"),
            digest_of("e")
        );
        let errs = Registry::from_json(&doc).unwrap_err();
        let paths: Vec<&str> = errs.errors().iter().map(|e| e.path.as_str()).collect();
        for want in [
            "tokens[2].sha256",
            "tokens[2].kind",
            "tokens[3].colour",
            "tokens[3].account_id",
            "tokens[4].account_id",
            "tokens[5].account_id",
            "tokens[5].expires_at",
            "tokens[5].revoked",
            "tokens[1].sha256",
        ] {
            assert!(paths.contains(&want), "{want} not in {paths:?}");
        }
        // The duplicate's message names the other place, never the digest itself.
        let dup = errs
            .errors()
            .iter()
            .find(|e| e.path == "tokens[1].sha256")
            .unwrap();
        assert!(dup.message.contains("tokens[0]"));
        assert!(!errs.to_string().contains(&d[..16]));
    }

    #[test]
    fn not_json_or_wrong_shape() {
        assert!(Registry::from_json("{").is_err());
        assert!(Registry::from_json("[]").is_err());
        assert!(Registry::from_json("{}").is_err());
        assert!(Registry::from_json(r#"{"tokens":{}}"#).is_err());
        assert!(Registry::from_json(r#"{"tokens":[],"x":1}"#).is_err());
        assert!(Registry::from_json(r#"{"tokens":[]} trailing"#).is_err());
        assert_eq!(Registry::from_json(r#"{"tokens":[]}"#).unwrap().len(), 0);
    }

    #[test]
    fn debug_shows_no_digest() {
        let doc = format!(
            r#"{{"tokens":[{{"sha256":"{}","kind":"user_key"}}]}}"#,
            digest_of("a")
        );
        let reg = Registry::from_json(&doc).unwrap();
        let dbg = format!("{reg:?}");
        assert!(!dbg.contains(&digest_of("a")[..8]), "{dbg}");
    }
}
