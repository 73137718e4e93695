//! Reading the request (SPEC §2, §5): the borrowed pieces of one HTTP request the decision reads,
//! the unambiguous path, the account the path or the host names, and the credential.

pub(crate) mod credential;
mod host;
mod target;

pub(crate) use host::{authority, host_account};
pub(crate) use target::{read_path, Ambiguity, PathView};

use crate::bytes::{same_header_name, starts_with_ignore_case, trim_ows};

/// How many distinct header names a request may carry for the edge to vouch for what it strips:
/// above Envoy's own default limit of 100 headers, so through Envoy it is never the one that bites.
pub const MAX_HEADER_NAMES: usize = 128;

/// The parts of one HTTP request that the decision reads. Borrowed: nothing is copied, nothing
/// is allocated.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub(crate) method: &'a [u8],
    pub(crate) target: &'a [u8],
    pub(crate) authority: Option<&'a [u8]>,
    pub(crate) authority_count: u32,
    pub(crate) host: Option<&'a [u8]>,
    pub(crate) host_count: u32,
    pub(crate) authorization: Option<&'a [u8]>,
    pub(crate) authorization_count: u32,
    pub(crate) accept: Option<&'a [u8]>,
    pub(crate) user_agent: Option<&'a [u8]>,
    /// A `Forwarded` value that names a host (`host=`): removed before the request goes on.
    pub(crate) forwarded_host: bool,
    /// Every distinct header name the client sent (ASCII case ignored), for step 1.
    names: [&'a [u8]; MAX_HEADER_NAMES],
    name_count: usize,
    /// More distinct names than `names` holds: the edge cannot vouch for what it strips.
    pub(crate) too_many_names: bool,
}

impl<'a> Request<'a> {
    /// A request for `target`, the request-target as sent: path plus optional query (Envoy's `:path`).
    pub fn new(method: &'a [u8], target: &'a [u8]) -> Self {
        Request {
            method,
            target,
            authority: None,
            authority_count: 0,
            host: None,
            host_count: 0,
            authorization: None,
            authorization_count: 0,
            accept: None,
            user_agent: None,
            forwarded_host: false,
            names: [&[]; MAX_HEADER_NAMES],
            name_count: 0,
            too_many_names: false,
        }
    }

    /// From an absolute URL (`https://ab123.us1.dbt.com/api/...`) or a bare path.
    pub fn from_url(method: &'a [u8], url: &'a str) -> Self {
        let bytes = url.as_bytes();
        let rest = if starts_with_ignore_case(bytes, b"https://") {
            url.get(8..)
        } else if starts_with_ignore_case(bytes, b"http://") {
            url.get(7..)
        } else {
            None
        };
        match rest {
            Some(rest) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let (authority, target) = rest.split_at(end);
                // Userinfo is not an authority we name accounts by.
                let authority = authority.rsplit('@').next().unwrap_or(authority);
                let target = if target.is_empty() { "/" } else { target };
                let mut r = Request::new(method, target.as_bytes());
                r.authority = Some(authority.as_bytes());
                r.authority_count = 1;
                r
            }
            None => Request::new(method, url.as_bytes()),
        }
    }

    /// Offer one request header, every one the client sent (names are case-insensitive). Keeps
    /// what the decision reads, counts what must not repeat, and remembers each name for step 1.
    pub fn header(&mut self, name: &'a [u8], value: &'a [u8]) {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        if is(b"authorization") {
            self.authorization_count = self.authorization_count.saturating_add(1);
            self.authorization.get_or_insert(value);
        } else if is(b":authority") {
            self.authority_count = self.authority_count.saturating_add(1);
            self.authority.get_or_insert(value);
        } else if is(b"host") {
            self.host_count = self.host_count.saturating_add(1);
            self.host.get_or_insert(value);
        } else if is(b"accept") {
            self.accept = Some(value);
        } else if is(b"user-agent") {
            self.user_agent.get_or_insert(value);
        } else if name.starts_with(b":") {
            return;
        }
        if same_header_name(name, b"forwarded") && names_host(value) {
            self.forwarded_host = true;
        }
        self.remember(name);
    }

    fn remember(&mut self, name: &'a [u8]) {
        let seen = self.names.get(..self.name_count).unwrap_or_default();
        if seen.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return;
        }
        match self.names.get_mut(self.name_count) {
            Some(slot) => {
                *slot = name;
                self.name_count += 1;
            }
            None => self.too_many_names = true,
        }
    }

    /// The distinct header names the client sent.
    pub(crate) fn names(&self) -> &[&'a [u8]] {
        self.names.get(..self.name_count).unwrap_or_default()
    }

    /// Whether the client asked for RFC 9457 problem details.
    pub(crate) fn wants_problem_json(&self) -> bool {
        let Some(accept) = self.accept else {
            return false;
        };
        accept.split(|&b| b == b',').any(|range| {
            let mut params = range.split(|&b| b == b';');
            let media = params.next().unwrap_or_default().trim_ascii();
            media.eq_ignore_ascii_case(b"application/problem+json")
                && !params.any(|p| {
                    let p = p.trim_ascii();
                    starts_with_ignore_case(p, b"q=")
                        && p.iter().skip(2).all(|&b| b == b'0' || b == b'.')
                })
        })
    }
}

/// Whether a `Forwarded` value (RFC 7239) carries a `host=` parameter in any element.
fn names_host(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',' || b == b';')
        .any(|pair| starts_with_ignore_case(trim_ows(pair), b"host="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_accept() {
        let mut r = Request::new(b"GET", b"/");
        assert!(!r.wants_problem_json());
        r.header(b"Accept", b"text/html, Application/Problem+JSON;q=0.9");
        assert!(r.wants_problem_json());
        r.header(b"accept", b"application/problem+json;q=0");
        assert!(!r.wants_problem_json());
        r.header(b"accept", b"application/json");
        assert!(!r.wants_problem_json());
    }

    #[test]
    fn from_url_forms() {
        let r = Request::from_url(
            b"GET",
            "https://AB123.us1.dbt.com:443/api/v2/accounts/1/?x=1",
        );
        assert_eq!(
            (r.authority, r.authority_count),
            (Some(&b"AB123.us1.dbt.com:443"[..]), 1)
        );
        assert_eq!(r.target, b"/api/v2/accounts/1/?x=1");
        let r = Request::from_url(b"GET", "http://u:p@ab123.dbt.com");
        assert_eq!(
            (r.authority, r.target),
            (Some(&b"ab123.dbt.com"[..]), &b"/"[..])
        );
        let r = Request::from_url(b"GET", "/health");
        assert_eq!((r.authority, r.target), (None, &b"/health"[..]));
    }

    #[test]
    fn names_remembered_once_and_bounded() {
        let mut r = Request::new(b"GET", b"/");
        r.header(b"X-Dbt-Account-Id", b"1");
        r.header(b"x-dbt-account-id", b"2");
        r.header(b"x_dbt_account_id", b"3");
        r.header(b":path", b"/");
        assert_eq!(r.names().len(), 2);
        let names: alloc::vec::Vec<alloc::string::String> = (0..MAX_HEADER_NAMES)
            .map(|i| alloc::format!("x-h{i}"))
            .collect();
        for n in &names {
            r.header(n.as_bytes(), b"v");
        }
        assert!(r.too_many_names);
    }

    #[test]
    fn forwarded_host_is_noticed() {
        let mut r = Request::new(b"GET", b"/");
        r.header(b"forwarded", b"for=1.2.3.4;proto=https");
        assert!(!r.forwarded_host);
        r.header(b"Forwarded", b"for=1.2.3.4, Host=evil.example");
        assert!(r.forwarded_host);
    }
}
