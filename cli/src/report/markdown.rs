//! `--format markdown`: every row of every list, as tables for a ticket or a wiki page.

use std::fmt::Write;

use super::input::group;
use super::model::{action, who, Report, Section};

/// A table cell: pipes and backticks escaped, so a user agent cannot break the table or open
/// code spans.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '`' | '\\' | '*' | '_' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn list(v: &[String], more: u64) -> String {
    let mut s = v.iter().map(|x| cell(x)).collect::<Vec<_>>().join("<br>");
    if more > 0 {
        let _ = write!(s, "<br>(+{more} calls with others)");
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "-".into(), cell)
}

fn title(out: &mut String, t: &str, s: &Section, next: &str) -> bool {
    let _ = writeln!(out, "## {t}\n");
    if s.rows.is_empty() && s.others == 0 {
        let _ = writeln!(out, "None seen.\n");
        return false;
    }
    let _ = writeln!(
        out,
        "{} request{}. **Next:** {next}.\n",
        group(s.requests),
        if s.requests == 1 { "" } else { "s" }
    );
    true
}

fn others(out: &mut String, s: &Section) {
    if s.others > 0 {
        let _ = writeln!(
            out,
            "\n{} more calls came from entries past the report's limit.",
            group(s.others)
        );
    }
    out.push('\n');
}

pub fn render(r: &Report) -> String {
    let mut out = String::from("# tokengate migration report\n\n");
    let _ = writeln!(
        out,
        "{} requests, from {} to {}.",
        group(r.requests),
        opt(&r.from),
        opt(&r.to)
    );
    if r.unparseable > 0 {
        let _ = writeln!(
            out,
            "{} unparseable line{} skipped.",
            group(r.unparseable),
            if r.unparseable == 1 { " was" } else { "s were" }
        );
    }
    if r.undecided > 0 {
        let _ = writeln!(
            out,
            "{} requests carry no tokengate decision.",
            group(r.undecided)
        );
    }
    out.push('\n');

    let s = &r.legacy_keys;
    if title(&mut out, "1. Legacy user API keys", s, action::LEGACY_KEYS) {
        out.push_str("| token | requests | first seen | last seen | user agents | endpoints |\n|---|---:|---|---|---|---|\n");
        for x in &s.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&who(x)),
                group(x.requests),
                opt(&x.first_seen),
                opt(&x.last_seen),
                list(&x.user_agents, 0),
                list(&x.endpoints, x.more)
            );
        }
        others(&mut out, s);
    }
    for (t, s, next) in [
        (
            "2. Retired endpoints still called",
            &r.retired_endpoints,
            action::RETIRED,
        ),
        (
            "3. Deprecated endpoints still called",
            &r.deprecated_endpoints,
            action::DEPRECATED,
        ),
    ] {
        if title(&mut out, t, s, next) {
            out.push_str("| endpoint | requests | token ids | user agents |\n|---|---:|---|---|\n");
            for x in &s.rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    cell(&x.key),
                    group(x.requests),
                    list(&x.token_ids, 0),
                    list(&x.user_agents, x.more)
                );
            }
            others(&mut out, s);
        }
    }
    let s = &r.service_token_advised;
    if title(
        &mut out,
        "4. Personal access tokens where a service token belongs",
        s,
        action::ADVISED,
    ) {
        out.push_str("| token | client rule | requests | user agents |\n|---|---|---:|---|\n");
        for x in &s.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&who(x)),
                opt(&x.client),
                group(x.requests),
                list(&x.user_agents, x.more)
            );
        }
        others(&mut out, s);
    }
    let s = &r.account_mismatches;
    if title(
        &mut out,
        "5. Tokens calling an account they are not bound to",
        s,
        action::MISMATCHES,
    ) {
        out.push_str("| token | requests | endpoints |\n|---|---:|---|\n");
        for x in &s.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(&who(x)),
                group(x.requests),
                list(&x.endpoints, x.more)
            );
        }
        others(&mut out, s);
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b`c"), "a\\|b\\`c");
        assert_eq!(cell("x\ny"), "x y");
        assert_eq!(cell("<script>"), "\\<script\\>");
    }
}
