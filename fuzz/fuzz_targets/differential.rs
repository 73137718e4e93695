//! The path and host readers (SPEC §5) against a model of the server behind: a Django / Django
//! REST framework application, which percent-decodes the path, routes `[^/.]+` lookups with a
//! format suffix, reads ids with Python's `int()` and reads the account of a host from its first
//! label. Whatever account that server would read from a path or host the core accepts, the core
//! reads the same one (or refuses the request). The seeds are the differential suite's corpus
//! (tests/e2e/differential/corpus.py), which the e2e suite checks against the real Django.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tokengate_fuzz::{open_finding, policies, TextRequest};

/// The zero of every run of Unicode decimal digits (`str.isdecimal()`, Unicode 14, Python 3.11):
/// `int()` reads each of them as an ASCII digit.
const ND_ZEROS: &[u32] = &[
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// `str.isspace()`: what `int()` strips around a number.
const PY_SPACE: &[u32] = &[
    0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001,
    0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F,
    0x205F, 0x3000,
];

fn py_digit(c: char) -> Option<u32> {
    let c = c as u32;
    ND_ZEROS
        .iter()
        .find(|&&z| (z..z + 10).contains(&c))
        .map(|z| c - z)
}

fn py_space(c: char) -> bool {
    PY_SPACE.contains(&(c as u32))
}

/// Python's `int(s)`: the number as a normalised decimal string (sign kept), or None where
/// Python raises ValueError.
fn python_int(s: &str) -> Option<String> {
    let t = s.trim_matches(py_space);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mut out, mut after_digit) = (String::new(), false);
    for c in body.chars() {
        if c == '_' {
            if !after_digit {
                return None; // leading or doubled underscore
            }
            after_digit = false;
            continue;
        }
        out.push(char::from_digit(py_digit(c)?, 10)?);
        after_digit = true;
    }
    if !after_digit {
        return None; // empty, or a trailing underscore
    }
    let mag = out.trim_start_matches('0');
    let mag = if mag.is_empty() { "0" } else { mag };
    Some(if neg && mag != "0" {
        format!("-{mag}")
    } else {
        mag.to_string()
    })
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The path as Django hands it to the URL resolver: percent-decoded, then UTF-8 (a broken
/// sequence stays escaped, which no number or lookup reads as a digit).
fn django_path(path: &str) -> String {
    let b = path.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        let pair = (
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        );
        if let (b'%', (Some(h), Some(l))) = (b[i], pair) {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The account a DRF app reads from `/api/v<N>/accounts/<lookup>[.<format>][/…]`: `int()` of the
/// lookup, a format suffix (`[a-z0-9]+`) read off the last segment as DRF's routers do.
fn server_path_account(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v")?;
    let v = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest[v..].strip_prefix("/accounts/").filter(|_| v > 0)?;
    let (seg, after) = rest.split_once('/').unwrap_or((rest, ""));
    let last = after.is_empty();
    let seg = match seg.split_once('.') {
        Some((id, fmt))
            if last
                && !fmt.is_empty()
                && fmt
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            id
        }
        Some(_) => return None, // `[^/.]+` does not match it
        None => seg,
    };
    python_int(seg)
}

/// The account Django plus a lenient lookup read from a Host: Django's own validation
/// (`host_validation_re`), the port split off, then the first non-empty label.
fn server_host_account(authority: &[u8]) -> Option<u64> {
    let host = std::str::from_utf8(authority).ok()?.to_ascii_lowercase();
    if host.starts_with('[') {
        return None;
    }
    let (domain, port) = host.rsplit_once(':').unwrap_or((&host, ""));
    let port_ok =
        !host.contains(':') || (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let domain_ok = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !port_ok || !domain_ok {
        return None; // Django answers 400 DisallowedHost
    }
    match domain.split('.').find(|l| !l.is_empty())? {
        "ab123" => Some(70_471_823_510_118),
        "gn456" => Some(9_007_199_254_740_993),
        _ => None,
    }
}

/// `hosts` are (`host` or `:authority`, value) header pairs, as the request carries them.
fn check(target: &[u8], hosts: &[(&[u8], &[u8])]) {
    if let Ok((path, _query, account)) = tokengate::fuzzing::target(target) {
        let server = server_path_account(&django_path(&path));
        match (account, server) {
            (Some(n), Some(m)) => assert_eq!(n.to_string(), m, "the server reads another account"),
            (None, Some(m)) => assert!(
                open_finding("lenient-number"),
                "the server reads account {m} from a path the core accepts unbound"
            ),
            // The core binding an account the server cannot read (it answers 404) is stricter
            // than the server, never a way around the edge.
            (Some(_), None) | (None, None) => {}
        }
    }
    let mut req = tokengate::Request::new(b"GET", target);
    for (name, value) in hosts {
        req.header(name, value);
    }
    // A refused authority (two hosts, a malformed one) names nothing the server could act on.
    let Ok(Some(authority)) = tokengate::fuzzing::authority(&req) else {
        return;
    };
    let core = tokengate::fuzzing::host_account(&policies()[0], authority.as_bytes());
    for (_, value) in hosts {
        if let Some(y) = server_host_account(value) {
            assert!(
                core == Some(y) || open_finding("host"),
                "the server reads account {y} from host {:?}, the core {core:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
}

/// Characters a lenient reader may take for part of a number, as UTF-8.
const ODD: &[&str] = &[
    "+",
    "-",
    "_",
    " ",
    "\t",
    "\u{a0}",
    "\u{85}",
    "\u{2003}",
    "\u{3000}",
    "\u{1c}",
    "\u{ff10}",
    "\u{ff19}",
    "\u{660}",
    "\u{969}",
    "\u{1d7ce}",
    ".",
    "0",
];
const SUFFIXES: &[&str] = &["", ".json", ".api", ".json/", ".JSON", ".x1", "."];
const TAILS: &[&str] = &[
    "",
    "/",
    "/jobs/",
    "/jobs/42/run/",
    "/runs/7/artifacts/manifest",
];
const LABELS: &[&str] = &[
    "ab123", "gn456", "us1", "dbt", "com", "metadata", "AB123", "",
];

#[derive(Arbitrary, Debug)]
enum Piece<'a> {
    Digits(u64),
    /// One of ODD, raw or percent-encoded (upper or lower hex).
    Odd(u8, u8),
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
enum HostPiece<'a> {
    Label(u8),
    Dot,
    Port(u16),
    Colon,
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    version: u8,
    id: Vec<Piece<'a>>,
    suffix: u8,
    tail: u8,
    host: Vec<HostPiece<'a>>,
}

fn encode(s: &str, how: u8) -> String {
    match how % 3 {
        0 => s.to_string(),
        1 => s.bytes().map(|b| format!("%{b:02X}")).collect(),
        _ => s.bytes().map(|b| format!("%{b:02x}")).collect(),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(t) = TextRequest::parse(data) {
        let hosts: Vec<(&[u8], &[u8])> = t
            .headers
            .iter()
            .filter(|(n, _)| {
                n.eq_ignore_ascii_case(b"host") || n.eq_ignore_ascii_case(b":authority")
            })
            .copied()
            .collect();
        return check(t.target, &hosts);
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut target = format!("/api/v{}/accounts/", input.version % 4);
    for p in &input.id {
        match p {
            Piece::Digits(d) => target.push_str(&d.to_string()),
            Piece::Odd(i, how) => target.push_str(&encode(ODD[usize::from(*i) % ODD.len()], *how)),
            Piece::Raw(r) => target.push_str(&String::from_utf8_lossy(r)),
        }
    }
    target.push_str(SUFFIXES[usize::from(input.suffix) % SUFFIXES.len()]);
    target.push_str(TAILS[usize::from(input.tail) % TAILS.len()]);
    let mut host = Vec::new();
    for p in &input.host {
        match p {
            HostPiece::Label(i) => host.extend(LABELS[usize::from(*i) % LABELS.len()].bytes()),
            HostPiece::Dot => host.push(b'.'),
            HostPiece::Port(n) => host.extend(format!(":{n}").bytes()),
            HostPiece::Colon => host.push(b':'),
            HostPiece::Raw(r) => host.extend_from_slice(r),
        }
    }
    check(target.as_bytes(), &[(b"host", &host)]);
});
