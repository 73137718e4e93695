//! Reading policy JSON: a small document tree that refuses duplicate keys, and field readers that
//! report every problem with the path of the field (`routes[2].methods[0]`).

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::PolicyErrors;

/// A JSON value, borrowing strings from the document where it can.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Json<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::U64(_) | Json::I64(_) | Json::F64(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::I64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::F64(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.into())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        while let Some(k) = map.next_key::<Key<'de>>()? {
            if fields.iter().any(|(f, _)| *f == k.0) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{}`",
                    show_key(&k.0)
                )));
            }
            let v = map.next_value()?;
            fields.push((k.0, v));
        }
        Ok(Json::Obj(fields))
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// An object key, borrowed when the document allows.
pub(crate) struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Json::deserialize(d)? {
            Json::Str(s) => Ok(Key(s)),
            _ => Err(de::Error::custom("object keys are strings")),
        }
    }
}

/// A key as it may appear in an error path. Keys come from the document, and a token or digest
/// pasted as a key must not come back in a message: long or unusual keys are described, not shown.
pub(crate) fn show_key(key: &str) -> Cow<'_, str> {
    // Every token and digest is 40 characters or more: anything shorter cannot be one whole.
    let plain = key.len() < 32 && key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if plain {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(format!("<key of {} characters>", key.chars().count()))
    }
}

/// `a.b`, or `b` at the top.
pub(crate) fn field(path: &str, key: &str) -> String {
    let key = show_key(key);
    if path.is_empty() {
        key.into_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// For a visitor that takes only objects: every other JSON type is an error that names the type,
/// never the value (serde's default would quote a string, which may be a token).
macro_rules! only_objects {
    ($what:literal) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(concat!("expected ", $what, ", found a string")))
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom(concat!("expected ", $what, ", found a number")))
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom(concat!("expected ", $what, ", found a number")))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom(concat!("expected ", $what, ", found a number")))
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom(concat!("expected ", $what, ", found a boolean")))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Err(E::custom(concat!("expected ", $what, ", found null")))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(serde::de::Error::custom(concat!(
                "expected ",
                $what,
                ", found an array"
            )))
        }
    };
}
pub(crate) use only_objects;

/// `a[3]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Reads typed fields out of [`Json`], recording each problem with its path.
pub(crate) struct Reader<'e> {
    pub errs: &'e mut PolicyErrors,
}

pub(crate) type Fields<'j, 'a> = &'j [(Cow<'a, str>, Json<'a>)];

impl Reader<'_> {
    pub fn error(&mut self, path: &str, msg: impl Into<String>) {
        self.errs.push(path, msg);
    }

    fn wrong_type(&mut self, path: &str, want: &str, got: &Json<'_>) {
        self.error(path, format!("expected {want}, found {}", got.type_name()));
    }

    /// An object whose keys are all in `known`; unknown keys are errors.
    pub fn object<'j, 'a>(
        &mut self,
        v: &'j Json<'a>,
        path: &str,
        known: &[&str],
    ) -> Option<Fields<'j, 'a>> {
        let Json::Obj(fields) = v else {
            self.wrong_type(path, "an object", v);
            return None;
        };
        for (k, _) in fields {
            if !known.contains(&k.as_ref()) {
                self.error(
                    &field(path, k),
                    format!("unknown field; expected one of: {}", known.join(", ")),
                );
            }
        }
        Some(fields)
    }

    pub fn array<'j, 'a>(&mut self, v: &'j Json<'a>, path: &str) -> Option<&'j [Json<'a>]> {
        match v {
            Json::Arr(items) => Some(items),
            other => {
                self.wrong_type(path, "an array", other);
                None
            }
        }
    }

    pub fn string<'j>(&mut self, v: &'j Json<'_>, path: &str) -> Option<&'j str> {
        match v {
            Json::Str(s) => Some(s),
            other => {
                self.wrong_type(path, "a string", other);
                None
            }
        }
    }

    pub fn boolean(&mut self, v: &Json<'_>, path: &str) -> Option<bool> {
        match v {
            Json::Bool(b) => Some(*b),
            other => {
                self.wrong_type(path, "true or false", other);
                None
            }
        }
    }

    pub fn uint(&mut self, v: &Json<'_>, path: &str) -> Option<u64> {
        match v {
            Json::U64(n) => Some(*n),
            other => {
                self.wrong_type(path, "a non-negative whole number", other);
                None
            }
        }
    }

    /// An account id: a u64 given as a number or a decimal string (ids may exceed 2^53).
    pub fn account_id(&mut self, v: &Json<'_>, path: &str) -> Option<u64> {
        match v {
            Json::U64(n) => Some(*n),
            Json::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok().or_else(|| {
                    self.error(path, "the account id does not fit in 64 bits");
                    None
                })
            }
            Json::F64(_) | Json::I64(_) => {
                self.error(
                    path,
                    "an account id is a whole non-negative number that fits in 64 bits (give large ids as strings)",
                );
                None
            }
            other => {
                self.wrong_type(path, "an account id (a number or a decimal string)", other);
                None
            }
        }
    }

    /// An RFC 3339 date-time, as Unix seconds.
    pub fn date(&mut self, v: &Json<'_>, path: &str) -> Option<i64> {
        let s = self.string(v, path)?;
        crate::time::parse_rfc3339(s).or_else(|| {
            self.error(
                path,
                "expected an RFC 3339 date-time such as 2024-10-22T00:00:00Z",
            );
            None
        })
    }

    /// One of `choices`.
    pub fn choice<T: Copy>(
        &mut self,
        v: &Json<'_>,
        path: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let s = self.string(v, path)?;
        let found = choices.iter().find(|(name, _)| *name == s).map(|(_, t)| *t);
        if found.is_none() {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            self.error(path, format!("expected one of: {}", names.join(", ")));
        }
        found
    }
}

/// The value of `key` in an object's fields.
pub(crate) fn get<'j, 'a>(fields: Fields<'j, 'a>, key: &str) -> Option<&'j Json<'a>> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Read a whole document through `seed`; a document that is not JSON (or has trailing data) gives
/// serde_json's own message, which carries line and column.
pub(crate) fn read_document<'de, S: de::DeserializeSeed<'de>>(
    json: &'de str,
    seed: S,
) -> Result<S::Value, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    seed.deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| format!("not valid JSON: {e}"))
}
