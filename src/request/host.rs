//! The host (SPEC §5): one well-formed authority, whose first DNS label may name an account.

use super::{Ambiguity, Request};
use crate::policy::Hosts;

/// The request's authority, checked: at most one `:authority` and one `Host`, agreeing, and well
/// formed. `None` when the request names no host at all.
pub(crate) fn authority<'a>(req: &Request<'a>) -> Result<Option<&'a [u8]>, Ambiguity> {
    if req.authority_count > 1 || req.host_count > 1 {
        return Err(Ambiguity::HostRepeated);
    }
    let named = match (req.authority, req.host) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => return Err(Ambiguity::HostRepeated),
        (Some(a), _) => Some(a),
        (None, h) => h,
    };
    match named {
        // A proxy joins repeated header lines with commas: that is two hosts, not a bad one.
        Some(a) if a.contains(&b',') => Err(Ambiguity::HostRepeated),
        Some(a) if !well_formed(a) => Err(Ambiguity::HostMalformed),
        named => Ok(named),
    }
}

/// `name[:port]` where the name is DNS labels (one trailing dot allowed), or `[v6]:port`. No
/// userinfo, no percent-encoding, no empty labels: what a server behind could read otherwise
/// never names an account.
fn well_formed(authority: &[u8]) -> bool {
    let (name, port) = match authority.strip_prefix(b"[") {
        Some(rest) => match rest.iter().position(|&b| b == b']') {
            Some(end) => {
                let literal = rest.get(..end).unwrap_or_default();
                if literal.is_empty()
                    || !literal
                        .iter()
                        .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
                {
                    return false;
                }
                (None, rest.get(end + 1..).unwrap_or_default())
            }
            None => return false,
        },
        None => match authority.iter().position(|&b| b == b':') {
            Some(i) => (authority.get(..i), authority.get(i..).unwrap_or_default()),
            None => (Some(authority), &b""[..]),
        },
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => {
            !digits.is_empty() && digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    port_ok && name.is_none_or(dns_name)
}

fn dns_name(name: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name);
    !name.is_empty()
        && name.split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        })
}

/// The account the host's first DNS label names (port and case ignored).
pub(crate) fn host_account(authority: Option<&[u8]>, hosts: &Hosts) -> Option<u64> {
    let authority = authority?;
    if hosts.is_empty() || authority.first() == Some(&b'[') {
        return None;
    }
    let label = authority
        .split(|&b| b == b':' || b == b'.')
        .next()
        .unwrap_or_default();
    hosts.lookup(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(headers: &[(&'a [u8], &'a [u8])]) -> Request<'a> {
        let mut r = Request::new(b"GET", b"/");
        for (n, v) in headers {
            r.header(n, v);
        }
        r
    }

    #[test]
    fn well_formed_hosts() {
        for ok in [
            &b"ab123.us1.dbt.com"[..],
            b"AB123.us1.dbt.com:443",
            b"ab123.dbt.com.",
            b"127.0.0.1:10000",
            b"[::1]:8080",
            b"localhost",
        ] {
            assert!(well_formed(ok), "{}", ok.escape_ascii());
        }
        for bad in [
            &b".ab123.us1.dbt.com"[..],
            b"ab123..dbt.com",
            b"user@ab123.dbt.com",
            b"ab_123.dbt.com",
            b"ab123.dbt.com:",
            b"ab123.dbt.com:99999x",
            b"ab%31.dbt.com",
            b"",
            b"[::1",
            b"ab123.dbt.com:443:1",
        ] {
            assert!(!well_formed(bad), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn one_host_only() {
        let two = req(&[(b"host", b"a.dbt.com"), (b"host", b"b.dbt.com")]);
        assert_eq!(authority(&two), Err(Ambiguity::HostRepeated));
        let disagree = req(&[(b":authority", b"a.dbt.com"), (b"host", b"b.dbt.com")]);
        assert_eq!(authority(&disagree), Err(Ambiguity::HostRepeated));
        let agree = req(&[(b":authority", b"a.dbt.com"), (b"host", b"A.dbt.com")]);
        assert_eq!(authority(&agree), Ok(Some(&b"a.dbt.com"[..])));
        let joined = req(&[(b":authority", b"a.dbt.com,b.dbt.com")]);
        assert_eq!(authority(&joined), Err(Ambiguity::HostRepeated));
        let empty_label = req(&[(b"host", b".gn456.us1.dbt.com")]);
        assert_eq!(authority(&empty_label), Err(Ambiguity::HostMalformed));
        assert_eq!(authority(&req(&[])), Ok(None));
    }
}
