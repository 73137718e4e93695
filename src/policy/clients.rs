//! Client rules (SPEC §10): which token kinds a client, known by its `User-Agent`, should use.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::json::{field, get, index, Json, Reader};
use super::sections::kinds;
use crate::bytes::glob_match;
use crate::token::{Kind, Kinds};

/// What a client rule does when the kind is not one it expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAction {
    /// Allow, and record the advice (decision, upstream header, metric).
    Report,
    /// Refuse with `403 token_kind_not_allowed` and the advice as the message.
    Deny,
}

/// One client rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRule {
    /// The rule's name, as decisions and logs show it.
    pub name: String,
    /// Case-insensitive globs over the whole `User-Agent`.
    pub user_agent: Vec<String>,
    /// The kinds this client should use.
    pub expect_kinds: Kinds,
    /// What to do otherwise.
    pub action: ClientAction,
    /// The sentence for the operator (and, on deny, the client).
    pub advice: String,
}

impl ClientRule {
    /// Whether the rule is this `User-Agent`'s.
    pub(crate) fn matches(&self, user_agent: &[u8]) -> bool {
        self.user_agent
            .iter()
            .any(|g| glob_match(g.as_bytes(), user_agent))
    }

    /// The advice's code: what the client should switch to.
    pub fn advice_code(&self) -> &'static str {
        let only = |k: Kind| self.expect_kinds == Kinds(k.bit());
        if only(Kind::Service) {
            "service_token_advised"
        } else if only(Kind::Pat) {
            "pat_advised"
        } else {
            "token_kind_advised"
        }
    }
}

const FIELDS: &[&str] = &["name", "user_agent", "expect_kinds", "action", "advice"];

/// `clients`: a list of rules, each with a name, globs and the kinds expected.
pub(super) fn read(v: &Json<'_>, r: &mut Reader<'_>) -> Vec<ClientRule> {
    let mut out: Vec<ClientRule> = Vec::new();
    let Some(items) = r.array(v, "clients") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let path = index("clients", i);
        let Some(f) = r.object(item, &path, FIELDS) else {
            continue;
        };
        let name = text(get(f, "name"), &field(&path, "name"), 64, r);
        if let Some(n) = &name {
            if out.iter().any(|c| c.name == *n) {
                r.error(&field(&path, "name"), "another client rule has this name");
            }
        }
        let user_agent = globs(get(f, "user_agent"), &field(&path, "user_agent"), r);
        let expect = match get(f, "expect_kinds") {
            Some(v) => Some(kinds(v, &field(&path, "expect_kinds"), r)),
            None => {
                r.error(&field(&path, "expect_kinds"), "missing field");
                None
            }
        };
        let action = get(f, "action").map_or(Some(ClientAction::Report), |v| {
            r.choice(
                v,
                &field(&path, "action"),
                &[
                    ("report", ClientAction::Report),
                    ("deny", ClientAction::Deny),
                ],
            )
        });
        let advice = get(f, "advice").map(|v| text(Some(v), &field(&path, "advice"), 400, r));
        if let (Some(name), Some(user_agent), Some(expect_kinds), Some(action)) =
            (name, user_agent, expect, action)
        {
            let advice = match advice {
                Some(a) => a.unwrap_or_default(),
                None => crate::messages::client_advice(&name, expect_kinds),
            };
            out.push(ClientRule {
                name,
                user_agent,
                expect_kinds,
                action,
                advice,
            });
        }
    }
    out
}

/// A required string of printable ASCII (it goes into headers and logs), at most `max` bytes.
fn text(v: Option<&Json<'_>>, path: &str, max: usize, r: &mut Reader<'_>) -> Option<String> {
    let Some(v) = v else {
        r.error(path, "missing field");
        return None;
    };
    let s = r.string(v, path)?;
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        r.error(
            path,
            format!("expected 1 to {max} printable ASCII characters"),
        );
        return None;
    }
    Some(String::from(s))
}

fn globs(v: Option<&Json<'_>>, path: &str, r: &mut Reader<'_>) -> Option<Vec<String>> {
    let Some(v) = v else {
        r.error(path, "missing field");
        return None;
    };
    let items = r.array(v, path)?;
    if items.is_empty() {
        r.error(
            path,
            "an empty list matches no client; give at least one pattern",
        );
    }
    let mut out = Vec::new();
    for (i, g) in items.iter().enumerate() {
        out.push(text(Some(g), &index(path, i), 200, r)?);
    }
    Some(out)
}
