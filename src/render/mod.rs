//! What a decision looks like on the wire (SPEC §7, §9): the one place that turns an outcome into
//! status, headers and body, used by every front.

pub(crate) mod json;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::code::Code;
use crate::decide::Decision;
use crate::policy::Deprecation;
use json::{escape_into, JsonWriter};

/// A denial's local reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(&'static str, String)>,
    /// dbt's error envelope, or RFC 9457 problem details.
    pub body: String,
}

/// The reply to a denial (SPEC §7).
pub(crate) fn reply(d: &Decision<'_>) -> Reply {
    let message = d.message();
    Reply {
        status: d.status(),
        headers: denial_headers(
            d.code,
            &message,
            &d.policy.realm,
            d.problem_json,
            d.deprecation,
        ),
        body: denial_body(d.code, &message, d.problem_json),
    }
}

/// Where RFC 9457 `type` URIs point; a URN, since tokengate publishes no error pages.
const PROBLEM_TYPE_PREFIX: &str = "urn:tokengate:error:";

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
        h.extend(d.headers().map(|(n, v)| (n, String::from(v))));
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

fn header_object<'k, 'v>(w: &mut JsonWriter, headers: impl Iterator<Item = (&'k str, &'v str)>) {
    w.begin_object();
    for (k, v) in headers {
        w.key(k);
        w.str(v);
    }
    w.end_object();
}

/// SPEC §9: the decision as JSON, the same from the CLI and from JS.
pub(crate) fn decision_json(d: &Decision<'_>) -> String {
    let mut w = JsonWriter::new();
    w.begin_object();
    w.key("allow");
    w.bool(d.allow());
    w.key("status");
    w.u64(u64::from(d.status()));
    w.key("code");
    w.str(d.code.as_str());
    w.key("message");
    w.str(&d.message());
    w.key("token_kind");
    w.opt_str(d.token_kind.map(crate::Kind::as_str));
    w.key("token_id");
    w.opt_str(d.token_id());
    w.key("account_id");
    match d.account_id {
        // A string: account ids exceed 2^53, past what a JS number holds exactly.
        Some(a) => w.str(crate::bytes::Decimal::new(a).as_str()),
        None => w.raw("null"),
    }
    if d.report_only() {
        w.key("report_only");
        w.bool(true);
    }
    let reply = d.reply();
    w.key("response_headers");
    match &reply {
        Some(r) => header_object(&mut w, r.headers.iter().map(|(k, v)| (*k, v.as_str()))),
        None => header_object(&mut w, d.response_headers()),
    }
    w.key("upstream_headers");
    w.begin_object();
    for (k, v) in d.set_headers() {
        w.key(k);
        w.str(v.as_str());
    }
    w.end_object();
    w.key("body");
    match &reply {
        Some(r) => {
            let mut s = String::with_capacity(r.body.len() + 8);
            escape_into(&mut s, &r.body);
            w.raw(&s);
        }
        None => w.raw("null"),
    }
    w.key("client");
    w.opt_str(d.client());
    w.key("advice");
    match d.advice() {
        Some(a) => {
            w.begin_object();
            w.key("code");
            w.str(a.code);
            w.key("message");
            w.str(&a.message);
            w.end_object();
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
