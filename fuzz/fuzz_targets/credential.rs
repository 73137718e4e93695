//! Credential extraction (SPEC §2): several Authorization headers among others, a query, and the
//! policy's `query_token` on or off. The core's answer must match a model written from the spec,
//! ignore what it should ignore, and agree with what a decoding server reads from the query.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tokengate::Request;
use tokengate_fuzz::{fixture_tokens, near_miss, open_finding, TextRequest};

#[derive(Arbitrary, Debug)]
enum Name<'a> {
    Authorization,
    Upper,
    Mixed,
    Accept,
    Host,
    Cookie,
    Other(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
enum Scheme<'a> {
    Token,
    Bearer,
    Lower,
    Shout,
    Basic,
    None,
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
enum Cred<'a> {
    Fixture(u8),
    NearMiss(u8, u8, u8),
    Raw(&'a [u8]),
}

impl Cred<'_> {
    fn bytes(&self) -> Vec<u8> {
        let t = fixture_tokens();
        match self {
            Cred::Fixture(i) => t[usize::from(*i) % t.len()].1.as_bytes().to_vec(),
            Cred::NearMiss(i, p, c) => near_miss(&t[usize::from(*i) % t.len()].1, (*p).into(), *c),
            Cred::Raw(b) => b.to_vec(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Value<'a> {
    /// Leading space, scheme, spaces, credential, trailing bytes.
    Shaped {
        lead: u8,
        scheme: Scheme<'a>,
        gap: u8,
        cred: Cred<'a>,
        tail: &'a [u8],
    },
    Raw(&'a [u8]),
}

impl Value<'_> {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Raw(b) => b.to_vec(),
            Value::Shaped {
                lead,
                scheme,
                gap,
                cred,
                tail,
            } => {
                let mut v = vec![b' '; usize::from(lead % 3)];
                v.extend_from_slice(match scheme {
                    Scheme::Token => b"Token",
                    Scheme::Bearer => b"Bearer",
                    Scheme::Lower => b"token",
                    Scheme::Shout => b"BEARER",
                    Scheme::Basic => b"Basic",
                    Scheme::None => b"",
                    Scheme::Raw(r) => r,
                });
                v.extend(std::iter::repeat_n(
                    if gap & 0x80 != 0 { b'\t' } else { b' ' },
                    usize::from(gap % 4),
                ));
                v.extend(cred.bytes());
                v.extend_from_slice(tail);
                v
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Param<'a> {
    Token(Cred<'a>),
    /// `token` spelled so that a server that percent-decodes keys reads `token`.
    EncodedToken(u8, Cred<'a>),
    Other(&'a str, &'a str),
    Raw(&'a str),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    headers: Vec<(Name<'a>, Value<'a>)>,
    query: Vec<Param<'a>>,
    query_token: bool,
}

/// What SPEC §2 says a request carries, written from the spec rather than from the core.
#[derive(Debug, PartialEq)]
enum Model {
    Missing,
    Ambiguous,
    UnsupportedScheme,
    Empty,
    Token(Vec<u8>),
}

fn ows(b: &u8) -> bool {
    *b == b' ' || *b == b'\t'
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [f, r @ ..] = s {
        if !ows(f) {
            break;
        }
        s = r;
    }
    while let [r @ .., l] = s {
        if !ows(l) {
            break;
        }
        s = r;
    }
    s
}

fn model_authorization(v: &[u8]) -> Model {
    let v = trim(v);
    let (scheme, rest) = match v.iter().position(|&b| b == b' ') {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"token") && !scheme.eq_ignore_ascii_case(b"bearer") {
        // Two credentials (Envoy joins repeated lines with commas) are ambiguous before the
        // scheme is judged; a comma-separated `name=value` is an auth-param of the first.
        return if second_credential(v) {
            Model::Ambiguous
        } else {
            Model::UnsupportedScheme
        };
    }
    let t = trim(rest);
    if t.is_empty() {
        Model::Empty
    } else if t.iter().any(|b| ows(b) || *b == b',') {
        Model::Ambiguous
    } else {
        Model::Token(t.to_vec())
    }
}

/// The comma-separated elements of a value, outside quoted strings, past the first: is one of
/// them neither empty nor an auth-param (`token68`-free `name = value`)?
fn second_credential(v: &[u8]) -> bool {
    let mut elements = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in v.iter().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            elements.push(&v[start..i]);
            start = i + 1;
        }
    }
    elements.push(&v[start..]);
    elements.iter().skip(1).any(|e| {
        let e = trim(e);
        let name = e
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(c))
            .count();
        !e.is_empty() && !(name > 0 && trim(&e[name..]).first() == Some(&b'='))
    })
}

fn model(auth: &[&[u8]], query: Option<&str>) -> Model {
    let qs: Vec<&str> = query
        .map(|q| {
            q.split('&')
                // A server that percent-decodes keys reads `%74oken` as `token`: so does SPEC §2.
                .filter(|p| decode(p.split('=').next().unwrap_or("")) == b"token")
                .map(|p| p.split_once('=').map_or("", |(_, v)| v))
                .collect()
        })
        .unwrap_or_default();
    match (auth, qs.as_slice()) {
        ([], []) => Model::Missing,
        ([one], []) => model_authorization(one),
        ([], [""]) => Model::Empty,
        ([], [t]) => Model::Token(t.as_bytes().to_vec()),
        _ => Model::Ambiguous,
    }
}

/// The model's answer in the shape the core's fuzzing hook prints.
fn render(m: &Model) -> String {
    match m {
        Model::Token(t) => format!("Token({:?})", t.as_slice()),
        other => format!("{other:?}"),
    }
}

/// A query key as a server that percent-decodes keys reads it.
fn decode(key: &str) -> Vec<u8> {
    let b = key.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Some(t) = TextRequest::parse(data) {
        let names: Vec<&[u8]> = t.headers.iter().map(|(n, _)| *n).collect();
        let values: Vec<Vec<u8>> = t.headers.iter().map(|(_, v)| v.to_vec()).collect();
        let query = t
            .target
            .iter()
            .position(|&b| b == b'?')
            .map(|i| &t.target[i + 1..]);
        let Ok(query) = query.map(std::str::from_utf8).transpose() else {
            return;
        };
        let query_token = t.setting("query_token") == Some(b"true");
        return check(&names, &values, query, query_token);
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let values: Vec<Vec<u8>> = input.headers.iter().map(|(_, v)| v.bytes()).collect();
    let names: Vec<&[u8]> = input
        .headers
        .iter()
        .map(|(n, _)| match n {
            Name::Authorization => &b"authorization"[..],
            Name::Upper => b"Authorization",
            Name::Mixed => b"AuThOrIzAtIoN",
            Name::Accept => b"accept",
            Name::Host => b"host",
            Name::Cookie => b"cookie",
            Name::Other(o) => o,
        })
        .collect();
    let encoded = [
        "%74oken",
        "t%6Fken",
        "%54oken",
        "tok%65n",
        "%74%6f%6b%65%6e",
    ];
    let query: String = input
        .query
        .iter()
        .map(|p| match p {
            Param::Token(c) => format!("token={}", String::from_utf8_lossy(&c.bytes())),
            Param::EncodedToken(k, c) => format!(
                "{}={}",
                encoded[usize::from(*k) % encoded.len()],
                String::from_utf8_lossy(&c.bytes())
            ),
            Param::Other(k, v) => format!("{k}={v}"),
            Param::Raw(r) => String::from(*r),
        })
        .collect::<Vec<_>>()
        .join("&");
    let query = (!input.query.is_empty()).then_some(query.as_str());
    check(&names, &values, query, input.query_token);
});

/// SPEC §2 over one request's headers and query.
fn check(names: &[&[u8]], values: &[Vec<u8>], query: Option<&str>, query_token: bool) {
    // The decision passes the query only when the policy takes `?token=`.
    let offered = if query_token { query } else { None };

    let mut req = Request::new(b"GET", b"/");
    for (n, v) in names.iter().zip(values) {
        req.header(n, v);
    }
    let got = tokengate::fuzzing::credential(&req, offered);
    assert_eq!(got, tokengate::fuzzing::credential(&req, offered));

    let auth: Vec<&[u8]> = names
        .iter()
        .zip(values)
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"authorization"))
        .map(|(_, v)| v.as_slice())
        .collect();
    let want = model(&auth, offered);
    assert_eq!(got, render(&want), "the core and SPEC §2 disagree");

    // A token the core takes from a header is non-empty, without the separators that would
    // make it two credentials.
    if let (Model::Token(t), [_]) = (&want, auth.as_slice()) {
        assert!(!t.is_empty() && !t.iter().any(|b| ows(b) || *b == b','));
    }

    // Other headers and the order of the headers change nothing.
    let mut only = Request::new(b"GET", b"/");
    for (n, v) in names.iter().zip(values).rev() {
        if n.eq_ignore_ascii_case(b"authorization") {
            only.header(n, v);
        }
    }
    assert_eq!(got, tokengate::fuzzing::credential(&only, offered));

    // A `?token=` is only heard when the policy asks for it.
    if !query_token {
        assert_eq!(got, tokengate::fuzzing::credential(&req, None));
    }

    // A server that percent-decodes query keys must not find a token the edge did not see: with
    // `query_token` on, a key that decodes to `token` is a credential the edge has to count.
    if let (Some(q), true, false) = (
        offered,
        got.starts_with("Token("),
        open_finding("query-key-alias"),
    ) {
        let decoded = q
            .split('&')
            .filter(|p| decode(p.split('=').next().unwrap_or("")) == b"token");
        assert!(
            decoded.count() <= 1,
            "the edge took one credential, a server that decodes query keys reads more"
        );
    }
}
