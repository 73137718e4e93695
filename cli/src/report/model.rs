//! The checklist as every format shows it: the tally's lists sorted (most requests first),
//! tokens named from the registry, moments as RFC 3339. One place builds it; the formats only
//! lay it out.

use serde_json::{json, Value};

use super::names::Names;
use super::tally::{Capped, Entry, List, Tally};

/// One token's or one endpoint's calls.
#[derive(Clone, Debug)]
pub struct Row {
    /// The token id, or the endpoint.
    pub key: String,
    pub name: Option<String>,
    pub user_id: Option<String>,
    /// The client rule, for `service_token_advised`.
    pub client: Option<String>,
    pub requests: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub user_agents: Vec<String>,
    pub endpoints: Vec<String>,
    pub token_ids: Vec<String>,
    /// Calls whose user agent, endpoint or token id did not fit the kept values.
    pub more: u64,
}

/// One list of the checklist.
#[derive(Clone, Debug)]
pub struct Section {
    pub rows: Vec<Row>,
    /// Calls from keys the list could not hold.
    pub others: u64,
    pub requests: u64,
}

/// Calls on one day (the chart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayRow {
    pub date: String,
    pub requests: u64,
    pub legacy_keys: u64,
    pub retired_endpoints: u64,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub requests: u64,
    pub unparseable: u64,
    pub undecided: u64,
    pub from: Option<String>,
    pub to: Option<String>,
    pub legacy_keys: Section,
    pub retired_endpoints: Section,
    pub deprecated_endpoints: Section,
    pub service_token_advised: Section,
    pub account_mismatches: Section,
    pub days: Vec<DayRow>,
}

/// `2026-11-30T23:59:59Z`.
pub fn rfc3339(secs: i64) -> Option<String> {
    jiff::Timestamp::from_second(secs)
        .ok()
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn values(c: &Capped) -> Vec<String> {
    c.values.iter().cloned().collect()
}

fn row(key: &str, e: &Entry, names: &Names) -> Row {
    let (token, client) = match key.split_once('\u{0}') {
        Some((t, c)) => (t, Some(c.to_owned())),
        None => (key, None),
    };
    Row {
        key: token.to_owned(),
        name: names.name(token).map(str::to_owned),
        user_id: names.user_id(token).map(str::to_owned),
        client,
        requests: e.requests,
        first_seen: e.first.and_then(rfc3339),
        last_seen: e.last.and_then(rfc3339),
        user_agents: values(&e.user_agents),
        endpoints: values(&e.endpoints),
        token_ids: values(&e.token_ids),
        more: e.user_agents.others + e.endpoints.others + e.token_ids.others,
    }
}

fn section(l: &List, names: &Names) -> Section {
    Section {
        rows: l
            .sorted()
            .into_iter()
            .map(|(k, e)| row(k, e, names))
            .collect(),
        others: l.others,
        requests: l.requests(),
    }
}

impl Report {
    pub fn new(t: &Tally, names: &Names) -> Report {
        let date = |day: i64| {
            rfc3339(day * 86_400)
                .map(|s| s[..10].to_owned())
                .unwrap_or_default()
        };
        Report {
            requests: t.requests,
            unparseable: t.unparseable,
            undecided: t.undecided,
            from: t.first.and_then(rfc3339),
            to: t.last.and_then(rfc3339),
            legacy_keys: section(&t.legacy_keys, names),
            retired_endpoints: section(&t.retired_endpoints, names),
            deprecated_endpoints: section(&t.deprecated_endpoints, names),
            service_token_advised: section(&t.service_token_advised, names),
            account_mismatches: section(&t.account_mismatches, names),
            days: t
                .days
                .iter()
                .map(|(&d, v)| DayRow {
                    date: date(d),
                    requests: v.requests,
                    legacy_keys: v.legacy_keys,
                    retired_endpoints: v.retired_endpoints,
                })
                .collect(),
        }
    }

    /// SPEC §12's JSON, plus `deprecated_endpoints` (same shape as `retired_endpoints`) and
    /// `unparseable_lines` (docs/decisions.md).
    pub fn to_json(&self) -> Value {
        let endpoints = |s: &Section| -> Vec<Value> {
            s.rows
                .iter()
                .map(|r| {
                    json!({"endpoint": r.key, "requests": r.requests, "token_ids": r.token_ids,
                           "user_agents": r.user_agents})
                })
                .collect()
        };
        json!({
            "requests": self.requests,
            "from": self.from,
            "to": self.to,
            "legacy_keys": self.legacy_keys.rows.iter().map(|r| json!({
                "token_id": r.key, "name": r.name, "user_id": r.user_id, "requests": r.requests,
                "first_seen": r.first_seen, "last_seen": r.last_seen,
                "user_agents": r.user_agents, "endpoints": r.endpoints,
            })).collect::<Vec<_>>(),
            "retired_endpoints": endpoints(&self.retired_endpoints),
            "service_token_advised": self.service_token_advised.rows.iter().map(|r| json!({
                "token_id": r.key, "name": r.name, "client": r.client, "requests": r.requests,
                "user_agents": r.user_agents,
            })).collect::<Vec<_>>(),
            "account_mismatches": self.account_mismatches.rows.iter().map(|r| json!({
                "token_id": r.key, "requests": r.requests, "endpoints": r.endpoints,
            })).collect::<Vec<_>>(),
            "deprecated_endpoints": endpoints(&self.deprecated_endpoints),
            "unparseable_lines": self.unparseable,
        })
    }
}

/// A token as people know it: `paul-legacy-key (user 1001, 5afafbda4476)`.
pub fn who(r: &Row) -> String {
    match (&r.name, &r.user_id) {
        (Some(n), Some(u)) => format!("{n} (user {u}, {})", r.key),
        (Some(n), None) => format!("{n} ({})", r.key),
        (None, Some(u)) => format!("{} (user {u})", r.key),
        (None, None) => r.key.clone(),
    }
}

/// The next action for each list, in the operator's words.
pub mod action {
    pub const LEGACY_KEYS: &str = "give each user a personal access token (Settings > Access Token), and production jobs and partner integrations a service token";
    pub const RETIRED: &str = "move each caller to the account's own endpoint (/api/v2/accounts/<id>/...): the edge refuses these calls once it enforces";
    pub const DEPRECATED: &str = "move each caller off the endpoint before its sunset date";
    pub const ADVISED: &str =
        "issue a service token for each client, then revoke the personal access token it uses";
    pub const MISMATCHES: &str = "create the token in the account it calls, or fix the account id the client is configured with";
}
