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

/// Append `s` as a JSON string literal.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
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
}
