//! The default output: one screen. A line per checklist item with its count and the next action,
//! then the top rows of each list; `--format markdown` or `html` list every row.

use std::fmt::Write;

use super::input::group;
use super::model::{action, who, Report, Row, Section};

/// Cuts to `n` characters, so a row stays on one line of a wide terminal.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The first value and how many others: `curl/8.5 +2`.
fn first_of(v: &[String], more: u64, width: usize) -> String {
    match v.first() {
        None => "-".into(),
        Some(f) => {
            let rest = (v.len() as u64 - 1) + more;
            if rest == 0 {
                cut(f, width)
            } else {
                format!("{} +{rest}", cut(f, width))
            }
        }
    }
}

fn day(s: &Option<String>) -> &str {
    s.as_deref().map_or("-", |s| s.get(..10).unwrap_or(s))
}

fn heading(out: &mut String, n: usize, title: &str, unit: &str, s: &Section, next: &str) {
    if s.rows.is_empty() && s.others == 0 {
        let _ = writeln!(out, "{n}. {title}: none seen.");
        return;
    }
    let _ = writeln!(
        out,
        "{n}. {title}: {} {unit}{}, {} request{}. Next: {next}.",
        group(s.rows.len() as u64),
        if s.rows.len() == 1 { "" } else { "s" },
        group(s.requests),
        if s.requests == 1 { "" } else { "s" }
    );
}

fn tail(out: &mut String, s: &Section, top: usize) {
    let hidden = s.rows.len().saturating_sub(top);
    if hidden > 0 || s.others > 0 {
        let mut t = format!("     … {} more", group(hidden as u64));
        if s.others > 0 {
            let _ = write!(
                t,
                ", and {} calls from entries past the list's limit",
                group(s.others)
            );
        }
        let _ = writeln!(out, "{t} (--format markdown lists them all)");
    }
}

fn rows(s: &Section, top: usize) -> impl Iterator<Item = &Row> {
    s.rows.iter().take(top)
}

pub fn render(r: &Report, top: usize) -> String {
    let mut out = String::new();
    let span = match (&r.from, &r.to) {
        (Some(f), Some(t)) => format!(", {f} to {t}"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "tokengate report: {} requests{span}",
        group(r.requests)
    );
    let mut notes = Vec::new();
    if r.unparseable > 0 {
        notes.push(format!(
            "{} unparseable line{} skipped",
            group(r.unparseable),
            if r.unparseable == 1 { "" } else { "s" }
        ));
    }
    if r.undecided > 0 {
        notes.push(format!(
            "{} requests without a tokengate decision (is the filter in front of this log?)",
            group(r.undecided)
        ));
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "  ({})", notes.join("; "));
    }
    out.push('\n');

    let s = &r.legacy_keys;
    heading(
        &mut out,
        1,
        "Legacy user API keys",
        "key",
        s,
        action::LEGACY_KEYS,
    );
    for row in rows(s, top) {
        let _ = writeln!(
            out,
            "   {:>8}  {}  {} to {}  {}  {}",
            group(row.requests),
            cut(&who(row), 44),
            day(&row.first_seen),
            day(&row.last_seen),
            first_of(&row.user_agents, 0, 32),
            first_of(&row.endpoints, row.more, 40),
        );
    }
    tail(&mut out, s, top);

    for (n, title, s, next) in [
        (
            2,
            "Retired endpoints still called",
            &r.retired_endpoints,
            action::RETIRED,
        ),
        (
            3,
            "Deprecated endpoints still called",
            &r.deprecated_endpoints,
            action::DEPRECATED,
        ),
    ] {
        heading(&mut out, n, title, "endpoint", s, next);
        for row in rows(s, top) {
            let _ = writeln!(
                out,
                "   {:>8}  {}  tokens: {}  clients: {}",
                group(row.requests),
                cut(&row.key, 48),
                first_of(&row.token_ids, 0, 14),
                first_of(&row.user_agents, row.more, 32),
            );
        }
        tail(&mut out, s, top);
    }

    let s = &r.service_token_advised;
    heading(
        &mut out,
        4,
        "Personal access tokens where a service token belongs",
        "token",
        s,
        action::ADVISED,
    );
    for row in rows(s, top) {
        let _ = writeln!(
            out,
            "   {:>8}  {}  client: {}  {}",
            group(row.requests),
            cut(&who(row), 44),
            cut(row.client.as_deref().unwrap_or("-"), 28),
            first_of(&row.user_agents, row.more, 32),
        );
    }
    tail(&mut out, s, top);

    let s = &r.account_mismatches;
    heading(
        &mut out,
        5,
        "Tokens calling an account they are not bound to",
        "token",
        s,
        action::MISMATCHES,
    );
    for row in rows(s, top) {
        let _ = writeln!(
            out,
            "   {:>8}  {}  {}",
            group(row.requests),
            cut(&who(row), 44),
            first_of(&row.endpoints, row.more, 48),
        );
    }
    tail(&mut out, s, top);
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_and_counted() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(first_of(&[], 0, 10), "-");
        assert_eq!(first_of(&["a".into(), "b".into()], 3, 10), "a +4");
    }
}
