#!/usr/bin/env python3
"""The fixes docs/benchmarks.md proposes for src/ and js/ (owned by others), as text edits applied
to a scratch copy of the repository by bench/whatif/run.sh, so their effect can be measured before
anyone adopts them. Usage: edits.py SCRATCH_ROOT [escape] [camel]"""
import sys

root = sys.argv[1]
which = set(sys.argv[2:])


def edit(path, old, new):
    p = f"{root}/{path}"
    text = open(p).read()
    if text.count(old) != 1:
        sys.exit(f"whatif: the text to replace is not in {path} exactly once; update bench/whatif/edits.py")
    open(p, "w").write(text.replace(old, new))


if "escape" in which:
    # src/jsonout.rs: copy runs of bytes that need no escaping at once, instead of char by char.
    edit("src/jsonout.rs", """pub(crate) fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\\\\""),
            '\\\\' => out.push_str("\\\\\\\\"),
            '\\n' => out.push_str("\\\\n"),
            '\\r' => out.push_str("\\\\r"),
            '\\t' => out.push_str("\\\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}""", """pub(crate) fn escape_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\\\\"",
            b'\\\\' => "\\\\\\\\",
            b'\\n' => "\\\\n",
            b'\\r' => "\\\\r",
            b'\\t' => "\\\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a char boundary.
        out.push_str(s.get(start..i).unwrap_or(""));
        if esc.is_empty() {
            let _ = write!(out, "\\\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}""")

if "camel" in which:
    # js/lib/api.js: the decision's keys are known; look them up instead of a regex per key per call.
    edit("js/lib/api.js", """  const camel = (key) => key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());""",
         """  const KNOWN = { token_kind: 'tokenKind', token_id: 'tokenId', account_id: 'accountId',
    report_only: 'reportOnly', response_headers: 'responseHeaders', upstream_headers: 'upstreamHeaders',
    well_formed: 'wellFormed', allow: 'allow', status: 'status', code: 'code', message: 'message',
    body: 'body', kind: 'kind', problems: 'problems' };
  const camel = (key) => KNOWN[key] ?? key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());""")
