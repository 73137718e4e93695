//! Reading registry entries (SPEC §3): each entry validated into a packed slot, the `tokens`
//! array streamed one entry at a time, and the stand-alone registry document.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::json::{field, get, index, only_objects, Fields, Json, Key, Reader};
use super::registry::{Registry, Slot};
use crate::error::PolicyErrors;
use crate::token::Kind;

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
pub(super) fn valid_token_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// An entry's `sha256`: 64 lowercase hex.
fn entry_digest(fields: Fields<'_, '_>, path: &str, r: &mut Reader<'_>) -> Option<[u8; 32]> {
    let p = field(path, "sha256");
    let Some(v) = get(fields, "sha256") else {
        r.error(&p, "missing field");
        return None;
    };
    let s = r.string(v, &p)?;
    parse_digest(s).or_else(|| {
        r.error(&p, "expected 64 lowercase hex characters");
        None
    })
}

/// An entry's `kind` and `account_id`, which go together: scoped kinds need one, legacy keys none.
fn entry_kind(
    fields: Fields<'_, '_>,
    path: &str,
    r: &mut Reader<'_>,
) -> (Option<Kind>, Option<u64>) {
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
    (kind, account)
}

/// Validate one entry into a slot (and its explicit token id).
fn entry(v: &Json<'_>, path: &str, idx: u32, r: &mut Reader<'_>) -> Option<(Slot, Option<String>)> {
    let fields = r.object(v, path, ENTRY_FIELDS)?;
    let before = r.errs.errors().len();
    let digest = entry_digest(fields, path, r);
    let (kind, account) = entry_kind(fields, path, r);
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
pub(super) struct DocSeed<'e> {
    pub(super) errs: &'e mut PolicyErrors,
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
