//! A small JSON writer for the decision and inspection: fixed field order, no serde on the hot path.

use alloc::string::String;
use core::fmt::Write;

pub(crate) struct JsonWriter {
    out: String,
    /// Whether the next value in the current container needs a comma first.
    comma: bool,
}

impl JsonWriter {
    pub(crate) fn new() -> Self {
        JsonWriter {
            out: String::with_capacity(256),
            comma: false,
        }
    }

    fn sep(&mut self) {
        if self.comma {
            self.out.push(',');
        }
        self.comma = true;
    }

    pub(crate) fn begin_object(&mut self) {
        self.sep();
        self.out.push('{');
        self.comma = false;
    }

    pub(crate) fn end_object(&mut self) {
        self.out.push('}');
        self.comma = true;
    }

    pub(crate) fn begin_array(&mut self) {
        self.sep();
        self.out.push('[');
        self.comma = false;
    }

    pub(crate) fn end_array(&mut self) {
        self.out.push(']');
        self.comma = true;
    }

    pub(crate) fn key(&mut self, k: &str) {
        self.sep();
        escape_into(&mut self.out, k);
        self.out.push(':');
        self.comma = false;
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.sep();
        escape_into(&mut self.out, s);
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw("null"),
        }
    }

    pub(crate) fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    pub(crate) fn u64(&mut self, n: u64) {
        self.sep();
        let _ = write!(self.out, "{n}");
    }

    pub(crate) fn raw(&mut self, s: &str) {
        self.sep();
        self.out.push_str(s);
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Append `s` as a JSON string literal. Runs of bytes that need no escaping are copied whole: this
/// renders every message and body, and a char-by-char push was a fifth of a denial's time.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut run_start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on char boundaries.
        out.push_str(s.get(run_start..i).unwrap_or_default());
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        run_start = i + 1;
    }
    out.push_str(s.get(run_start..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested() {
        let mut w = JsonWriter::new();
        w.begin_object();
        w.key("a");
        w.u64(u64::MAX);
        w.key("b");
        w.begin_array();
        w.str("x\"\n\u{1}");
        w.bool(true);
        w.end_array();
        w.key("c");
        w.opt_str(None);
        w.end_object();
        assert_eq!(
            w.finish(),
            "{\"a\":18446744073709551615,\"b\":[\"x\\\"\\n\\u0001\",true],\"c\":null}"
        );
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "\u{0}\u{1f}\t\r\n",
            "caf\u{e9} \u{2192} \u{1f600}",
            "end\\",
            "\"start",
        ] {
            let mut out = String::new();
            escape_into(&mut out, s);
            assert_eq!(
                serde_json::from_str::<std::string::String>(&out).unwrap(),
                s
            );
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }
}
