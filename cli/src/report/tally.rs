//! The checklist, counted line by line. Everything kept is bounded — entries per list, user
//! agents and endpoints per entry, days — so a hostile or enormous log costs counts, never
//! memory: what does not fit is counted as `others`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::line::{endpoint, tidy, value, LogLine};

/// Entries kept per list; calls from further tokens or endpoints are counted in `others`.
pub const MAX_ENTRIES: usize = 5_000;
/// Distinct user agents or endpoints kept per entry.
pub const MAX_VALUES: usize = 16;
/// Days kept for the chart (ten years).
pub const MAX_DAYS: usize = 3_660;

/// A small set that stops growing at [`MAX_VALUES`]; `others` counts the calls whose value it
/// could not keep.
#[derive(Clone, Debug, Default)]
pub struct Capped {
    pub values: BTreeSet<String>,
    pub others: u64,
}

impl Capped {
    fn add(&mut self, v: Option<&str>, clean: fn(&str) -> String) {
        let Some(v) = v else { return };
        let v = clean(v);
        if self.values.contains(&v) {
            return;
        }
        if self.values.len() < MAX_VALUES {
            self.values.insert(v);
        } else {
            self.others += 1;
        }
    }
}

/// Who called: a token (legacy key, advised PAT, mismatched account) or an endpoint.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    pub requests: u64,
    /// Unix seconds of the first and last call.
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub user_agents: Capped,
    pub endpoints: Capped,
    pub token_ids: Capped,
}

impl Entry {
    fn count(&mut self, seen: &Seen<'_>) {
        self.requests += 1;
        if let Some(t) = seen.stamp {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        self.user_agents.add(seen.user_agent, tidy);
        self.endpoints.add(seen.path, endpoint);
        self.token_ids.add(seen.token_id, tidy);
    }
}

/// A list of entries by key, bounded.
#[derive(Clone, Debug, Default)]
pub struct List {
    pub entries: HashMap<String, Entry>,
    /// Calls from keys past [`MAX_ENTRIES`].
    pub others: u64,
}

impl List {
    fn count(&mut self, key: &str, seen: &Seen<'_>) {
        if let Some(e) = self.entries.get_mut(key) {
            e.count(seen);
        } else if self.entries.len() < MAX_ENTRIES {
            let mut e = Entry::default();
            e.count(seen);
            self.entries.insert(key.to_owned(), e);
        } else {
            self.others += 1;
        }
    }

    /// Entries sorted by requests, most first (SPEC §12), then by key for a stable order.
    pub fn sorted(&self) -> Vec<(&String, &Entry)> {
        let mut v: Vec<_> = self.entries.iter().collect();
        v.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then_with(|| a.0.cmp(b.0)));
        v
    }

    pub fn requests(&self) -> u64 {
        self.entries.values().map(|e| e.requests).sum::<u64>() + self.others
    }
}

/// Calls per day (the HTML chart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Day {
    pub requests: u64,
    pub legacy_keys: u64,
    pub retired_endpoints: u64,
}

/// The whole report's counts.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub requests: u64,
    pub unparseable: u64,
    /// Requests whose line carries no tokengate decision (no `code`).
    pub undecided: u64,
    /// Unix seconds of the earliest and latest line.
    pub first: Option<i64>,
    pub last: Option<i64>,
    /// By token id.
    pub legacy_keys: List,
    /// By endpoint.
    pub retired_endpoints: List,
    /// By endpoint: allowed inside a deprecation window.
    pub deprecated_endpoints: List,
    /// By token id and client rule (`<token id>\u{0}<client>`).
    pub service_token_advised: List,
    /// By token id.
    pub account_mismatches: List,
    /// By day number since 1970-01-01.
    pub days: BTreeMap<i64, Day>,
}

/// The fields of one line the tally reads.
struct Seen<'s> {
    stamp: Option<i64>,
    path: Option<&'s str>,
    user_agent: Option<&'s str>,
    token_id: Option<&'s str>,
}

/// The decision codes and advice codes the report sorts by (SPEC §8, §9, §10).
const ENDPOINT_SUNSET: &str = "endpoint_sunset";
const ACCOUNT_MISMATCH: &str = "account_mismatch";
const KIND_NOT_ALLOWED: &str = "token_kind_not_allowed";
/// Allowed inside an endpoint's deprecation window.
const ENDPOINT_DEPRECATED: &str = "endpoint_deprecated";
/// A client rule that expects service tokens met another kind.
const SERVICE_TOKEN_ADVISED: &str = "service_token_advised";

impl Tally {
    pub fn unparseable(&mut self) {
        self.unparseable += 1;
    }

    pub fn add(&mut self, l: &LogLine<'_>) {
        self.requests += 1;
        let stamp = value(&l.time).and_then(tokengate::parse_rfc3339);
        if let Some(t) = stamp {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        let day = stamp.map(|s| s.div_euclid(86_400));
        let token_id = value(&l.token_id);
        let seen = Seen {
            stamp,
            path: value(&l.path),
            user_agent: value(&l.user_agent),
            token_id,
        };
        let Some(code) = value(&l.code) else {
            self.undecided += 1;
            self.bump_day(day, |_| {});
            return;
        };
        let kind = value(&l.token_kind);
        let advice = value(&l.advice);
        let client = value(&l.client);
        let token = token_id.unwrap_or("(no token id)");

        let legacy = kind == Some("user_key");
        if legacy {
            self.legacy_keys.count(token, &seen);
        }
        let retired = code == ENDPOINT_SUNSET;
        if retired {
            let ep = endpoint(seen.path.unwrap_or("-"));
            self.retired_endpoints.count(&ep, &seen);
        } else if advice == Some(ENDPOINT_DEPRECATED) {
            let ep = endpoint(seen.path.unwrap_or("-"));
            self.deprecated_endpoints.count(&ep, &seen);
        }
        if let (Some("pat"), Some(client)) = (kind, client) {
            // Reported (the advice), or refused by a `deny` rule.
            let client_said = advice == Some(SERVICE_TOKEN_ADVISED) || code == KIND_NOT_ALLOWED;
            if client_said {
                let key = format!("{token}\u{0}{}", tidy(client));
                self.service_token_advised.count(&key, &seen);
            }
        }
        if code == ACCOUNT_MISMATCH {
            self.account_mismatches.count(token, &seen);
        }
        self.bump_day(day, |d| {
            d.legacy_keys += u64::from(legacy);
            d.retired_endpoints += u64::from(retired);
        });
    }

    fn bump_day(&mut self, day: Option<i64>, f: impl FnOnce(&mut Day)) {
        let Some(day) = day else { return };
        if !self.days.contains_key(&day) && self.days.len() >= MAX_DAYS {
            return;
        }
        let d = self.days.entry(day).or_default();
        d.requests += 1;
        f(d);
    }

    /// Whether anything is left to migrate.
    pub fn open_items(&self) -> bool {
        !(self.legacy_keys.entries.is_empty()
            && self.retired_endpoints.entries.is_empty()
            && self.deprecated_endpoints.entries.is_empty()
            && self.service_token_advised.entries.is_empty()
            && self.account_mismatches.entries.is_empty())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tally(lines: &[&str]) -> Tally {
        let mut t = Tally::default();
        for l in lines {
            match LogLine::parse(l.as_bytes()) {
                Some(p) => t.add(&p),
                None => t.unparseable(),
            }
        }
        t
    }

    #[test]
    fn each_line_lands_in_its_lists() {
        let t = tally(&[
            r#"{"time":"2026-11-02T10:00:00.000Z","path":"/api/v2/accounts/1/jobs/","code":"ok","token_kind":"user_key","token_id":"k1","user_agent":"curl/8"}"#,
            r#"{"time":"2026-11-01T09:00:00.000Z","path":"/api/v2/accounts/","code":"endpoint_sunset","token_kind":"user_key","token_id":"k1","would_deny":"endpoint_sunset"}"#,
            r#"{"time":"2026-11-03T00:00:00.000Z","path":"/api/v2/accounts/7/","code":"ok","token_kind":"pat","token_id":"p1","client":"production Terraform","advice":"service_token_advised"}"#,
            r#"{"time":"2026-11-03T00:00:01.000Z","path":"/api/v2/accounts/8/","code":"account_mismatch","token_kind":"pat","token_id":"p1"}"#,
            r#"{"time":"2026-11-03T00:00:02.000Z","path":"/api/v2/accounts/7/runs/1/artifacts/x","code":"ok","token_kind":"service","token_id":"s1","advice":"endpoint_deprecated"}"#,
            r#"{"time":"2026-11-03T00:00:03.000Z","path":"/health"}"#,
            "garbage",
        ]);
        assert_eq!((t.requests, t.unparseable, t.undecided), (6, 1, 1));
        let k1 = &t.legacy_keys.entries["k1"];
        assert_eq!(k1.requests, 2);
        assert_eq!(k1.first, tokengate::parse_rfc3339("2026-11-01T09:00:00Z"));
        assert_eq!(k1.last, tokengate::parse_rfc3339("2026-11-02T10:00:00Z"));
        assert_eq!(
            k1.endpoints.values.iter().collect::<Vec<_>>(),
            ["/api/v2/accounts/", "/api/v2/accounts/{id}/jobs/"]
        );
        assert_eq!(t.retired_endpoints.entries["/api/v2/accounts/"].requests, 1);
        assert_eq!(
            t.service_token_advised.entries["p1\u{0}production Terraform"].requests,
            1
        );
        assert_eq!(t.account_mismatches.entries["p1"].requests, 1);
        assert_eq!(
            t.deprecated_endpoints.entries.keys().collect::<Vec<_>>(),
            ["/api/v2/accounts/{id}/runs/{id}/artifacts/x"]
        );
        assert_eq!(t.first, tokengate::parse_rfc3339("2026-11-01T09:00:00Z"));
        let days: Vec<_> = t
            .days
            .values()
            .map(|d| (d.requests, d.legacy_keys, d.retired_endpoints))
            .collect();
        assert_eq!(days, [(1, 1, 1), (1, 1, 0), (4, 0, 0)]);
    }

    #[test]
    fn a_service_token_or_a_client_without_advice_is_not_advised() {
        let t = tally(&[
            r#"{"code":"ok","token_kind":"service","token_id":"s1","client":"production Terraform"}"#,
            r#"{"code":"ok","token_kind":"pat","token_id":"p2","client":"dbt Cloud CLI"}"#,
            r#"{"code":"token_kind_not_allowed","token_kind":"pat","token_id":"p3","client":"production Terraform"}"#,
        ]);
        assert_eq!(
            t.service_token_advised.entries.keys().collect::<Vec<_>>(),
            ["p3\u{0}production Terraform"]
        );
        assert!(t.open_items());
        assert!(!tally(&[r#"{"code":"ok","token_kind":"pat"}"#]).open_items());
    }

    #[test]
    fn lists_and_sets_stop_growing() {
        let mut t = Tally::default();
        for i in 0..(MAX_ENTRIES + 7) {
            let l = format!(
                r#"{{"code":"ok","token_kind":"user_key","token_id":"k{i}","user_agent":"ua{}"}}"#,
                i % 3
            );
            t.add(&LogLine::parse(l.as_bytes()).unwrap());
        }
        for i in 0..(MAX_VALUES + 4) {
            let l = format!(
                r#"{{"code":"ok","token_kind":"user_key","token_id":"k0","user_agent":"agent {i}"}}"#
            );
            t.add(&LogLine::parse(l.as_bytes()).unwrap());
        }
        assert_eq!(t.legacy_keys.entries.len(), MAX_ENTRIES);
        assert_eq!(t.legacy_keys.others, 7);
        assert_eq!(
            t.legacy_keys.requests(),
            (MAX_ENTRIES + 7 + MAX_VALUES + 4) as u64
        );
        let k0 = &t.legacy_keys.entries["k0"];
        assert_eq!(k0.user_agents.values.len(), MAX_VALUES);
        assert_eq!(k0.user_agents.others, 5);
    }

    #[test]
    fn sorted_by_requests_then_key() {
        let t = tally(&[
            r#"{"code":"ok","token_kind":"user_key","token_id":"b"}"#,
            r#"{"code":"ok","token_kind":"user_key","token_id":"a"}"#,
            r#"{"code":"ok","token_kind":"user_key","token_id":"c"}"#,
            r#"{"code":"ok","token_kind":"user_key","token_id":"c"}"#,
        ]);
        let keys: Vec<_> = t
            .legacy_keys
            .sorted()
            .into_iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["c", "a", "b"]);
    }
}
