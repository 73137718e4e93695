//! Names for token ids, from a registry document (SPEC §3) or a policy holding one inline.
//!
//! The edge drops `name` and `user_id` once it has checked them: it only needs digests. The
//! report reads them back from the same document, so that a line says "paul-legacy-key (user
//! 1001)" instead of a 12-character id. Entries are read leniently — the policy check is the
//! place that refuses a bad registry; here a malformed entry only goes unnamed.

use std::collections::HashMap;

use serde_json::Value;

/// What the registry says about one token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    pub name: Option<String>,
    pub user_id: Option<String>,
}

/// Token id → name, user id.
#[derive(Clone, Debug, Default)]
pub struct Names(HashMap<String, Name>);

impl Names {
    /// Reads `{"tokens": [...]}`, or a policy with `registry.tokens`.
    pub fn from_json(text: &str) -> Result<Names, String> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("not a JSON document: {e}"))?;
        let tokens = doc
            .get("tokens")
            .or_else(|| doc.get("registry").and_then(|r| r.get("tokens")))
            .and_then(Value::as_array)
            .ok_or("expected a registry ({\"tokens\": [...]}) or a policy with registry.tokens")?;
        let mut names = HashMap::new();
        for t in tokens {
            let text = |k: &str| match t.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            // SPEC §3: the token id defaults to the digest's first 12 hex characters.
            let id = text("token_id").or_else(|| {
                text("sha256")
                    .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(|d| d[..12].to_ascii_lowercase())
            });
            if let Some(id) = id {
                let n = Name {
                    name: text("name"),
                    user_id: text("user_id"),
                };
                if n != Name::default() {
                    names.insert(id, n);
                }
            }
        }
        Ok(Names(names))
    }

    pub fn get(&self, token_id: &str) -> Option<&Name> {
        self.0.get(token_id)
    }

    pub fn name(&self, token_id: &str) -> Option<&str> {
        self.get(token_id).and_then(|n| n.name.as_deref())
    }

    pub fn user_id(&self, token_id: &str) -> Option<&str> {
        self.get(token_id).and_then(|n| n.user_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_default_to_the_digest_prefix_and_policies_are_read_too() {
        let digest = "5afafbda447685f8998581f9d6b560f4736a1b5dcee09d798605d105b9d9f8b4";
        let reg = format!(
            r#"{{"tokens":[{{"sha256":"{digest}","kind":"user_key","user_id":1001,"name":"paul"}},
                {{"sha256":"x","token_id":"ci-bot","kind":"service","account_id":"1","name":"ci"}},
                {{"sha256":"{digest}","kind":"pat","account_id":"1"}}]}}"#
        );
        let n = Names::from_json(&reg).unwrap();
        assert_eq!(n.name("5afafbda4476"), Some("paul"));
        assert_eq!(n.user_id("5afafbda4476"), Some("1001"));
        assert_eq!(n.name("ci-bot"), Some("ci"));
        let policy = format!(r#"{{"mode":"report","registry":{reg}}}"#);
        assert_eq!(
            Names::from_json(&policy).unwrap().name("ci-bot"),
            Some("ci")
        );
    }

    #[test]
    fn documents_without_tokens_are_refused() {
        assert!(Names::from_json("[]").is_err());
        assert!(Names::from_json(r#"{"registry":{"url":{}}}"#).is_err());
        assert!(Names::from_json("{").is_err());
    }
}
