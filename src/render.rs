//! What a decision looks like on the wire (SPEC §7, §9): the one place that turns an outcome into
//! status, headers and body, used by every front.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::code::Code;
use crate::decision::Decision;
use crate::jsonout::{escape_into, JsonWriter};
use crate::policy::Deprecation;
use crate::time::imf_fixdate;

/// Where RFC 9457 `type` URIs point; a URN, since tokengate publishes no error pages.
const PROBLEM_TYPE_PREFIX: &str = "urn:tokengate:error:";

/// `Deprecation`, `Sunset` and `Link` for one deprecation (RFC 9745, RFC 8594).
pub(crate) fn deprecation_headers(d: &Deprecation, out: &mut Vec<(&'static str, String)>) {
    out.push(("deprecation", format!("@{}", d.deprecated_at)));
    out.push(("sunset", imf_fixdate(d.sunset_at)));
    if let Some(link) = &d.link {
        out.push(("link", format!("<{link}>; rel=\"deprecation\"")));
    }
}

/// Append `message` as RFC 6750 allows inside `error_description`: no `"` or `\`, printable
/// ASCII only. Messages already are (copied whole); anything else is replaced, char by char.
fn push_header_safe(out: &mut String, message: &str) {
    let safe = |b: u8| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\';
    if message.bytes().all(safe) {
        out.push_str(message);
        return;
    }
    out.extend(message.chars().map(|c| match c {
        '"' | '\\' => '\'',
        c if (' '..='~').contains(&c) => c,
        _ => ' ',
    }));
}

/// The headers of a denial.
pub(crate) fn denial_headers(
    code: Code,
    message: &str,
    realm: &str,
    problem_json: bool,
    deprecation: Option<&Deprecation>,
) -> Vec<(&'static str, String)> {
    let mut h = Vec::with_capacity(6);
    h.push(("cache-control", String::from("no-store")));
    let ct = if problem_json {
        "application/problem+json"
    } else {
        "application/json"
    };
    h.push(("content-type", String::from(ct)));
    let status = code.status();
    if status == 401 || status == 400 {
        // Built with push_str, not format!: this runs on every denial.
        let mut www = String::with_capacity(realm.len() + message.len() + 64);
        www.push_str("Bearer realm=\"");
        www.push_str(realm);
        www.push('"');
        if code != Code::MissingToken {
            www.push_str(if status == 400 {
                ", error=\"invalid_request\", error_description=\""
            } else {
                ", error=\"invalid_token\", error_description=\""
            });
            push_header_safe(&mut www, message);
            www.push('"');
        }
        h.push(("www-authenticate", www));
    }
    if let Some(d) = deprecation {
        deprecation_headers(d, &mut h);
    }
    h
}

/// The body of a denial: dbt's own envelope, or RFC 9457 problem details when asked for.
pub(crate) fn denial_body(code: Code, message: &str, problem_json: bool) -> String {
    let mut w = JsonWriter::new();
    w.begin_object();
    if problem_json {
        w.key("type");
        w.str(&format!("{PROBLEM_TYPE_PREFIX}{}", code.as_str()));
        w.key("title");
        w.str(code.title());
        w.key("status");
        w.u64(u64::from(code.status()));
        w.key("detail");
        w.str(message);
        w.key("code");
        w.str(code.as_str());
    } else {
        w.key("status");
        w.begin_object();
        w.key("code");
        w.u64(u64::from(code.status()));
        w.key("is_success");
        w.bool(false);
        w.key("user_message");
        w.str(message);
        w.key("developer_message");
        w.str(code.as_str());
        w.end_object();
        w.key("data");
        w.raw("null");
    }
    w.end_object();
    w.finish()
}

fn header_object(
    w: &mut JsonWriter,
    headers: impl Iterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
) {
    w.begin_object();
    for (k, v) in headers {
        w.key(k.as_ref());
        w.str(v.as_ref());
    }
    w.end_object();
}

/// SPEC §9: the decision as JSON, the same from the CLI and from JS.
pub(crate) fn decision_json(d: &Decision) -> String {
    let mut w = JsonWriter::new();
    w.begin_object();
    w.key("allow");
    w.bool(d.allow);
    w.key("status");
    w.u64(u64::from(d.status));
    w.key("code");
    w.str(d.code.as_str());
    w.key("message");
    w.str(&d.message);
    w.key("token_kind");
    w.opt_str(d.token_kind.map(crate::Kind::as_str));
    w.key("token_id");
    w.opt_str(d.token_id.as_deref());
    w.key("account_id");
    match d.account_id {
        // A string: account ids exceed 2^53, past what a JS number holds exactly.
        Some(a) => w.str(&format!("{a}")),
        None => w.raw("null"),
    }
    if d.report_only {
        w.key("report_only");
        w.bool(true);
    }
    w.key("response_headers");
    header_object(&mut w, d.response_headers.iter().map(|(k, v)| (*k, v)));
    w.key("upstream_headers");
    header_object(&mut w, d.upstream_headers.iter().map(|(k, v)| (k, v)));
    w.key("body");
    match &d.body {
        Some(b) => {
            let mut s = String::with_capacity(b.len() + 8);
            escape_into(&mut s, b);
            w.raw(&s);
        }
        None => w.raw("null"),
    }
    w.end_object();
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_description_is_always_a_valid_quoted_string() {
        let mut out = String::new();
        push_header_safe(&mut out, "plain text, kept whole.");
        assert_eq!(out, "plain text, kept whole.");
        let mut out = String::new();
        push_header_safe(&mut out, "say \"hi\" \\ caf\u{e9}\n");
        assert_eq!(out, "say 'hi' ' caf  ");
    }
}
