//! Small byte helpers the readers share, so each rule about characters is written once.

/// RFC 9110 `tchar`: what a header name, a method or an auth-scheme is made of.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Printable ASCII without space (`!` to `~`).
pub(crate) fn is_visible(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// Optional white space of HTTP (space and tab).
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing space and tab.
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ows(b)).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// Whether `s` starts with `prefix`, ASCII case ignored.
pub(crate) fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The value of one hex digit.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Header names a server behind may read as the same name: ASCII case ignored, and `_` read as
/// `-` (WSGI servers turn both into `HTTP_X_DBT_ACCOUNT_ID`).
pub(crate) fn same_header_name(a: &[u8], b: &[u8]) -> bool {
    let fold = |c: u8| match c {
        b'_' => b'-',
        c => c.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| fold(x) == fold(y))
}

/// Case-insensitive glob match of the whole of `text`: `*` is any run of bytes.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // Greedy with one backtrack point: linear in practice, no recursion, no allocation.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if text.get(t).is_some_and(|x| x.eq_ignore_ascii_case(&c)) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == b'*')
}

/// A u64 in decimal, on the stack: identity header values are built on every allowed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    buf: [u8; 20],
    start: u8,
}

impl Decimal {
    /// The decimal digits of `n`.
    pub fn new(mut n: u64) -> Self {
        let mut buf = [b'0'; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            if let Some(slot) = buf.get_mut(i) {
                *slot = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        Decimal {
            buf,
            start: i as u8,
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        self.buf
            .get(usize::from(self.start)..)
            .and_then(|d| core::str::from_utf8(d).ok())
            .unwrap_or("0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(
            b"terraform-provider-dbtcloud/*",
            b"Terraform-Provider-DBTCloud/1.2"
        ));
        assert!(glob_match(b"*datafold*", b"python datafold/3"));
        assert!(!glob_match(b"dbt-cli/*", b"xdbt-cli/1"));
        assert!(glob_match(b"*", b""));
        assert!(!glob_match(b"a*b", b"acbx"));
        assert!(glob_match(b"a*b*c", b"aXbYbZc"));
    }

    #[test]
    fn header_spellings() {
        assert!(same_header_name(b"x_dbt_account_id", b"x-dbt-account-id"));
        assert!(same_header_name(b"X-Dbt_Account-ID", b"x-dbt-account-id"));
        assert!(!same_header_name(b"x-dbt-account-idx", b"x-dbt-account-id"));
    }

    #[test]
    fn decimals() {
        assert_eq!(Decimal::new(0).as_str(), "0");
        assert_eq!(Decimal::new(u64::MAX).as_str(), "18446744073709551615");
        assert_eq!(
            Decimal::new(9_007_199_254_740_993).as_str(),
            "9007199254740993"
        );
    }
}
