//! Path and host resolution (SPEC §5) and route patterns (§4): a request-target and an authority,
//! built from the pieces that make paths ambiguous or raw. A path the core accepts must read the
//! same on every server, and the account it names must be exactly the digits in it.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tokengate_fuzz::{open_finding, policies, TextRequest, AUTHORITIES};

#[derive(Arbitrary, Debug)]
enum Piece<'a> {
    Word(u8),
    Digits(u128),
    LongDigits(u8),
    Dot,
    DotDot,
    Empty,
    Backslash,
    /// A percent-encoded byte; the flag picks upper or lower case hex.
    Encoded(u8, bool),
    Raw(&'a [u8]),
}

const WORDS: &[&str] = &[
    "api", "v2", "v3", "v10", "accounts", "jobs", "run", "runs", "projects", "health", "*", "**",
    "x.y", "%", ".%2e", "..;", "%c3%a9",
];

#[derive(Arbitrary, Debug)]
enum TargetIn<'a> {
    Built {
        pieces: Vec<Piece<'a>>,
        slash: bool,
        query: Option<&'a [u8]>,
    },
    Raw(&'a [u8]),
}

impl TargetIn<'_> {
    fn bytes(&self) -> Vec<u8> {
        match self {
            TargetIn::Raw(r) => r.to_vec(),
            TargetIn::Built {
                pieces,
                slash,
                query,
            } => {
                let mut t = Vec::new();
                for p in pieces {
                    t.push(b'/');
                    match p {
                        Piece::Word(w) => t.extend(WORDS[usize::from(*w) % WORDS.len()].bytes()),
                        Piece::Digits(d) => t.extend(d.to_string().bytes()),
                        Piece::LongDigits(n) => {
                            t.extend(std::iter::repeat_n(b'9', usize::from(*n)))
                        }
                        Piece::Dot => t.push(b'.'),
                        Piece::DotDot => t.extend(b".."),
                        Piece::Empty => {}
                        Piece::Backslash => t.push(b'\\'),
                        Piece::Encoded(b, upper) => {
                            let s = if *upper {
                                format!("%{b:02X}")
                            } else {
                                format!("%{b:02x}")
                            };
                            t.extend(s.bytes());
                        }
                        Piece::Raw(r) => t.extend_from_slice(r),
                    }
                }
                if *slash || t.is_empty() {
                    t.push(b'/');
                }
                if let Some(q) = query {
                    t.push(b'?');
                    t.extend_from_slice(q);
                }
                t
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum AuthorityIn<'a> {
    /// A known authority, its case flipped at the chosen bytes, maybe with a port.
    Known(u8, u64, Option<u16>),
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    target: TargetIn<'a>,
    authority: AuthorityIn<'a>,
    pattern: Vec<Piece<'a>>,
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The path as a server that percent-decodes it reads it.
fn decoded(path: &str) -> Vec<u8> {
    let b = path.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// SPEC §5: the digits after `/api/v<N>/accounts/`, followed by `/` or the end of the path.
fn model_account(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v")?;
    let v = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest[v..].strip_prefix("/accounts/").filter(|_| v > 0)?;
    let n = rest.bytes().take_while(u8::is_ascii_digit).count();
    (n > 0 && matches!(rest.as_bytes().get(n), None | Some(b'/'))).then(|| &rest[..n])
}

/// SPEC §4 patterns: `*` one non-empty segment, a trailing `**` any rest, a trailing slash optional.
fn model_match(pattern: &str, path: &str) -> bool {
    let segs = |s: &str| -> Vec<String> {
        let s = if s.len() > 1 {
            s.strip_suffix('/').unwrap_or(s)
        } else {
            s
        };
        if s == "/" {
            Vec::new()
        } else {
            s.split('/').skip(1).map(String::from).collect()
        }
    };
    let (mut pat, path) = (segs(pattern), segs(path));
    let rest = pat.last().is_some_and(|l| l == "**");
    if rest {
        pat.pop();
    }
    if path.len() < pat.len() || (!rest && path.len() != pat.len()) {
        return false;
    }
    pat.iter()
        .zip(&path)
        .all(|(p, s)| if p == "*" { !s.is_empty() } else { p == s })
}

fuzz_target!(|data: &[u8]| {
    if let Some(t) = TextRequest::parse(data) {
        let authority = t
            .headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(b":authority") || n.eq_ignore_ascii_case(b"host"))
            .map_or(&b""[..], |(_, v)| *v);
        let pattern = String::from_utf8_lossy(t.setting("pattern").unwrap_or(b"/"));
        return check(t.target, authority, &pattern);
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let target = input.target.bytes();
    let authority: Vec<u8> = match &input.authority {
        AuthorityIn::Raw(r) => r.to_vec(),
        AuthorityIn::Known(i, flips, port) => {
            let mut a = AUTHORITIES[usize::from(*i) % AUTHORITIES.len()]
                .as_bytes()
                .to_vec();
            for (n, b) in a.iter_mut().enumerate() {
                if flips >> (n % 64) & 1 == 1 {
                    b.make_ascii_uppercase();
                }
            }
            if let Some(p) = port {
                a.extend(format!(":{p}").bytes());
            }
            a
        }
    };
    let pattern = String::from_utf8_lossy(
        &TargetIn::Built {
            pieces: input.pattern,
            slash: false,
            query: None,
        }
        .bytes(),
    )
    .into_owned();
    check(&target, &authority, &pattern);
});

/// SPEC §5 over one target and authority, and §4's patterns over the path.
fn check(target: &[u8], authority: &[u8], pattern: &str) {
    let got = tokengate::fuzzing::target(target);
    assert_eq!(got, tokengate::fuzzing::target(target));

    // Refused whatever else: bytes outside printable ASCII and fragments anywhere in the target.
    if target
        .iter()
        .any(|&b| !(0x21..0x7f).contains(&b) || b == b'#')
    {
        assert!(
            got.is_err(),
            "accepted raw control, space, non-ASCII or '#'"
        );
    }

    match &got {
        Ok((path, query, account)) => {
            // The split loses nothing.
            let mut back = path.clone().into_bytes();
            if let Some(q) = query {
                back.push(b'?');
                back.extend(q.bytes());
            }
            assert_eq!(back, target);
            assert!(path.starts_with('/') && !path.contains('?'));

            // No form that two servers read differently (SPEC §5).
            let lower = path.to_ascii_lowercase();
            for bad in ["/./", "/../", "//", "\\", "%2f", "%2e", "%5c", "%25"] {
                assert!(!lower.contains(bad), "accepted {bad:?}");
            }
            for seg in path.split('/').skip(1) {
                assert!(seg != "." && seg != "..", "accepted a dot segment");
            }
            // Nor once decoded: no separator, dot segment, backslash or control byte appears.
            let dec = decoded(path);
            assert_eq!(
                dec.iter().filter(|&&b| b == b'/').count(),
                path.matches('/').count(),
                "a decoded byte became a '/'"
            );
            for seg in dec.split(|&b| b == b'/').skip(1) {
                assert!(seg != b"." && seg != b"..", "a dot segment once decoded");
            }
            assert!(
                !dec.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\'),
                "a control byte or backslash once decoded"
            );

            // The account is exactly the path's digits, read as a number (leading zeros allowed).
            match (model_account(path), account) {
                (None, None) => {}
                (Some(digits), Some(n)) => {
                    let trimmed = digits.trim_start_matches('0');
                    let want = if trimmed.is_empty() { "0" } else { trimmed };
                    assert_eq!(n.to_string(), want, "the path account is not its digits");
                }
                (Some(_), None) => panic!("the path names an account the core did not read"),
                (None, Some(_)) => panic!("the core read an account the path does not name"),
            }
        }
        Err(message) => assert!(!message.is_empty()),
    }
    // Digits too long for a u64 are refused, never read as naming no account.
    if let Ok(s) = std::str::from_utf8(target) {
        let digits =
            model_account(s.split('?').next().unwrap_or("")).map(|d| d.trim_start_matches('0'));
        if digits.is_some_and(|d| !d.is_empty() && d.parse::<u64>().is_err()) {
            assert!(got.is_err(), "an account past u64 was let through");
        }
    }

    // The host's first label, port and case ignored, looked up in the policy's prefixes.
    let policy = &policies()[0];
    let host = tokengate::fuzzing::host_account(policy, authority);
    let label: Vec<u8> = authority
        .split(|&b| b == b':')
        .next()
        .and_then(|h| h.split(|&b| b == b'.').next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let want = match label.as_slice() {
        _ if authority.first() == Some(&b'[') => None,
        b"ab123" => Some(70_471_823_510_118),
        b"gn456" => Some(9_007_199_254_740_993),
        _ => None,
    };
    assert_eq!(host, want, "the host names the wrong account");
    assert_eq!(
        host,
        tokengate::fuzzing::host_account(policy, &authority.to_ascii_uppercase())
    );

    // Route patterns: when one parses, it matches as SPEC §4 says.
    if let Ok((path, _, _)) = &got {
        if let Some(m) = tokengate::fuzzing::pattern(&pattern, path) {
            assert_eq!(m, model_match(&pattern, path), "pattern {pattern:?}");
            assert!(
                !pattern.contains('%') && !pattern.contains('?'),
                "an unusable pattern parsed"
            );
            assert!(
                !pattern.contains("//") || open_finding("pattern-double-slash"),
                "a pattern with an empty segment parsed"
            );
        }
        // A literal pattern matches its own path, with or without the trailing slash.
        if !path.contains('*') && !path.contains('%') {
            assert_eq!(tokengate::fuzzing::pattern(path, path), Some(true));
        }
    }
}
