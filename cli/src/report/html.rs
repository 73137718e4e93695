//! `--format html`: one self-contained page — inline CSS and SVG, no script, no external asset —
//! with the per-day chart and every row of every list. Everything from the log is escaped: a
//! user agent is whatever the client sent.

use std::fmt::Write;

use super::chart;
use super::input::group;
use super::model::{action, who, Report, Row, Section};

/// Text for an HTML element or a quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1040px;padding:0 1rem;color:#111827}\
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:2rem 0 .4rem}\
.muted{color:#6b7280;fill:#6b7280}.next{margin:.2rem 0 .6rem}.ok{color:#047857}\
.cards{display:flex;gap:.75rem;margin:1rem 0}.card{flex:1 1 0;border:1px solid #e5e7eb;border-radius:8px;padding:.5rem .9rem}\
.card b{display:block;font-size:1.4rem}.chart{width:100%;height:auto;border:1px solid #e5e7eb;border-radius:8px}\
.tick{font-size:12px;fill:#4b5563}.legend{font-size:13px;fill:#111827}\
table{border-collapse:collapse;width:100%;font-size:13.5px}th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid #e5e7eb}\
th{background:#f9fafb}td.n{text-align:right;font-variant-numeric:tabular-nums}td.t{white-space:nowrap}code{font-size:12.5px;word-break:break-all}";

fn list(v: &[String]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.iter()
        .map(|x| format!("<code>{}</code>", esc(x)))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "-".into(), esc)
}

type Cols = &'static [&'static str];

fn table(
    out: &mut String,
    title: &str,
    s: &Section,
    next: &str,
    cols: Cols,
    row: fn(&Row) -> Vec<String>,
) {
    let _ = write!(out, "<h2>{}</h2>", esc(title));
    if s.rows.is_empty() && s.others == 0 {
        out.push_str(r#"<p class="ok">None seen.</p>"#);
        return;
    }
    let _ = write!(
        out,
        r#"<p class="next">{} request{}. <b>Next:</b> {}.</p><table><thead><tr>"#,
        group(s.requests),
        if s.requests == 1 { "" } else { "s" },
        esc(next)
    );
    for c in cols {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>");
    for r in &s.rows {
        out.push_str("<tr>");
        for cell in row(r) {
            out.push_str(&cell);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if s.others > 0 {
        let _ = write!(
            out,
            r#"<p class="muted">{} more calls came from entries past the report's limit.</p>"#,
            group(s.others)
        );
    }
}

fn n(v: u64) -> String {
    format!(r#"<td class="n">{}</td>"#, group(v))
}

fn td(s: String) -> String {
    format!("<td>{s}</td>")
}

/// A moment, kept on one line.
fn when(s: &Option<String>) -> String {
    format!(r#"<td class="t">{}</td>"#, opt(s))
}

pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str(r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>tokengate migration report</title><style>"#);
    out.push_str(STYLE);
    out.push_str("</style></head><body><h1>tokengate migration report</h1>");
    let _ = write!(
        out,
        r#"<p class="muted">{} requests, from {} to {}{}.</p>"#,
        group(r.requests),
        opt(&r.from),
        opt(&r.to),
        if r.unparseable > 0 {
            format!(
                "; {} unparseable line{} skipped",
                group(r.unparseable),
                if r.unparseable == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    );
    out.push_str(r#"<div class="cards">"#);
    for (label, v) in [
        ("legacy keys", r.legacy_keys.rows.len() as u64),
        ("legacy-key calls", r.legacy_keys.requests),
        ("retired-endpoint calls", r.retired_endpoints.requests),
        (
            "PATs where a service token belongs",
            r.service_token_advised.rows.len() as u64,
        ),
        ("account mismatches", r.account_mismatches.requests),
    ] {
        let _ = write!(
            out,
            r#"<div class="card"><b>{}</b>{}</div>"#,
            group(v),
            esc(label)
        );
    }
    out.push_str("</div>");
    out.push_str(&chart::svg(&r.days));

    table(
        &mut out,
        "1. Legacy user API keys",
        &r.legacy_keys,
        action::LEGACY_KEYS,
        &[
            "token",
            "requests",
            "first seen",
            "last seen",
            "user agents",
            "endpoints",
        ],
        |x| {
            vec![
                td(esc(&who(x))),
                n(x.requests),
                when(&x.first_seen),
                when(&x.last_seen),
                td(list(&x.user_agents)),
                td(list(&x.endpoints)),
            ]
        },
    );
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
        table(
            &mut out,
            t,
            s,
            next,
            &["endpoint", "requests", "token ids", "user agents"],
            |x| {
                vec![
                    td(format!("<code>{}</code>", esc(&x.key))),
                    n(x.requests),
                    td(list(&x.token_ids)),
                    td(list(&x.user_agents)),
                ]
            },
        );
    }
    table(
        &mut out,
        "4. Personal access tokens where a service token belongs",
        &r.service_token_advised,
        action::ADVISED,
        &["token", "client rule", "requests", "user agents"],
        |x| {
            vec![
                td(esc(&who(x))),
                td(opt(&x.client)),
                n(x.requests),
                td(list(&x.user_agents)),
            ]
        },
    );
    table(
        &mut out,
        "5. Tokens calling an account they are not bound to",
        &r.account_mismatches,
        action::MISMATCHES,
        &["token", "requests", "endpoints"],
        |x| vec![td(esc(&who(x))), n(x.requests), td(list(&x.endpoints))],
    );
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_reads() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
