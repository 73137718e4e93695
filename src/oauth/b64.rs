//! Strict base64url (RFC 7515 §2): the URL-safe alphabet, no padding, no whitespace, and only the
//! canonical encoding of each value (unused trailing bits zero), so one token has one spelling and
//! a cache keyed by its digest cannot be fooled by a second spelling of the same signature.

use alloc::vec::Vec;
use base64ct::{Base64UrlUnpadded, Encoding};

/// The bytes `s` encodes, or `None` when `s` is not strict base64url or would decode past `max`.
pub(crate) fn decode(s: &[u8], max: usize) -> Option<Vec<u8>> {
    // Four characters carry three bytes: bound before allocating.
    if s.len() / 4 * 3 > max {
        return None;
    }
    let mut out = alloc::vec![0u8; s.len() / 4 * 3 + 3];
    let n = Base64UrlUnpadded::decode(s, &mut out).ok()?.len();
    if n > max {
        return None;
    }
    out.truncate(n);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn strict() {
        assert_eq!(decode(b"", 10).unwrap(), b"");
        assert_eq!(decode(b"YQ", 10).unwrap(), b"a");
        assert_eq!(decode(b"_-8", 10).unwrap(), [0xff, 0xef]);
        assert!(decode(b"YQ==", 10).is_none(), "padding");
        assert!(decode(b"YR", 10).is_none(), "non-canonical trailing bits");
        assert!(decode(b"Y", 10).is_none(), "one character is no byte");
        assert!(decode(b"Y Q", 10).is_none(), "whitespace");
        assert!(decode(b"/+8", 10).is_none(), "standard alphabet");
        assert!(decode(b"YWJjZGVm", 5).is_none(), "over the bound");
        assert_eq!(decode(b"YWJjZGVm", 6).unwrap(), b"abcdef");
        assert!(
            decode(b"YWJjZGU", 4).is_none(),
            "five bytes over a bound of four"
        );
    }
}
