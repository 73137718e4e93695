//! The proxy-wasm serialised header map, read in place and written for local replies.
//!
//! Layout (little-endian): `u32 count`, then `count` pairs of `u32 name_len, u32 value_len`,
//! then for each pair the name bytes, a NUL, the value bytes, a NUL. Reading borrows from the
//! host's buffer, so a request is decided without copying a single header; a buffer that does
//! not follow the layout ends the iteration early and sets [`Pairs::malformed`].

/// Iterator over `(name, value)` of a serialised map.
pub struct Pairs<'a> {
    buf: &'a [u8],
    remaining: usize,
    size_at: usize,
    data_at: usize,
    malformed: bool,
}

fn read_u32(buf: &[u8], at: usize) -> Option<usize> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    let arr: [u8; 4] = bytes.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(arr)).ok()
}

impl<'a> Pairs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        let count = if buf.is_empty() {
            Some(0)
        } else {
            read_u32(buf, 0)
        };
        let data_at = count.and_then(|n| n.checked_mul(8)?.checked_add(4));
        match (count, data_at) {
            (Some(n), Some(d)) if d <= buf.len() || n == 0 => Pairs {
                buf,
                remaining: n,
                size_at: 4,
                data_at: d,
                malformed: false,
            },
            _ => Pairs {
                buf,
                remaining: 0,
                size_at: 0,
                data_at: 0,
                malformed: true,
            },
        }
    }

    /// Whether the buffer broke the layout (the pairs before the break were still yielded).
    pub fn malformed(&self) -> bool {
        self.malformed
    }

    fn next_pair(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let name_len = read_u32(self.buf, self.size_at)?;
        let value_len = read_u32(self.buf, self.size_at.checked_add(4)?)?;
        let name_end = self.data_at.checked_add(name_len)?;
        let name = self.buf.get(self.data_at..name_end)?;
        let value_at = name_end.checked_add(1)?;
        let value_end = value_at.checked_add(value_len)?;
        let value = self.buf.get(value_at..value_end)?;
        // Each name and value ends in a NUL; a missing one means the layout is not what we read.
        if self.buf.get(name_end) != Some(&0) || self.buf.get(value_end) != Some(&0) {
            return None;
        }
        self.size_at = self.size_at.checked_add(8)?;
        self.data_at = value_end.checked_add(1)?;
        Some((name, value))
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let pair = self.next_pair();
        if pair.is_none() {
            self.remaining = 0;
            self.malformed = true;
        }
        pair
    }
}

/// Serialises `pairs` in the layout above.
pub fn serialize<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Vec<u8> {
    let mut size = 4;
    for (n, v) in pairs {
        size += 8 + n.as_ref().len() + v.as_ref().len() + 2;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&len32(pairs.len()));
    for (n, v) in pairs {
        out.extend_from_slice(&len32(n.as_ref().len()));
        out.extend_from_slice(&len32(v.as_ref().len()));
    }
    for (n, v) in pairs {
        out.extend_from_slice(n.as_ref().as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_ref().as_bytes());
        out.push(0);
    }
    out
}

fn len32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let pairs = [
            (":method", "GET"),
            (":path", "/a?b"),
            ("authorization", ""),
            ("x", "é"),
        ];
        let buf = serialize(&pairs);
        let mut it = Pairs::new(&buf);
        let got: Vec<_> = it.by_ref().collect();
        assert!(!it.malformed());
        assert_eq!(got.len(), 4);
        for ((n, v), (en, ev)) in got.iter().zip(pairs.iter()) {
            assert_eq!(*n, en.as_bytes());
            assert_eq!(*v, ev.as_bytes());
        }
    }

    #[test]
    fn empty_buffer_is_an_empty_map() {
        let mut it = Pairs::new(&[]);
        assert!(it.next().is_none());
        assert!(!it.malformed());
        let zero = serialize::<&str, &str>(&[]);
        assert_eq!(Pairs::new(&zero).count(), 0);
    }

    #[test]
    fn every_truncation_and_corruption_stops_without_panicking() {
        let buf = serialize(&[("a", "1"), ("bb", "22"), ("ccc", "333")]);
        for cut in 0..buf.len() {
            let mut it = Pairs::new(&buf[..cut]);
            let n = it.by_ref().count();
            assert!(n <= 3);
            assert!(cut == 0 || it.malformed() || n == 3, "cut {cut}");
        }
        for i in 0..buf.len() {
            for b in [0u8, 0x7f, 0xff] {
                let mut bad = buf.clone();
                bad[i] = b;
                let _ = Pairs::new(&bad).count();
            }
        }
        let huge = [0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0];
        let mut it = Pairs::new(&huge);
        assert!(it.next().is_none());
        assert!(it.malformed());
    }
}
