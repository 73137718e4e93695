//! The whole decision (SPEC §6–§9): a structured request — method, target, authority, headers with
//! repeated Authorization and Accept, a query token, `now` — against the example policy with a
//! registry of real digests, in enforce and report mode. Checks: no panic, the same decision twice,
//! no identity headers on anything denied, statuses that match codes, JSON that parses, an allowed
//! scoped token bound to the account the request names, and no output that holds the token, its
//! digest or the digest's first 16 hex.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokengate::{sha256_hex, Code, Kind, Policy, Request, WOULD_DENY_HEADER};
use tokengate_fuzz::Snapshot;
use tokengate_fuzz::{
    contains, decision_vocabulary, near_miss, outputs, policies, policy_index, secret_pieces,
    times, token_menu, TextRequest, AUTHORITIES, PATHS,
};

#[derive(Arbitrary, Debug)]
enum TokenIn<'a> {
    Menu(u8),
    NearMiss(u8, u8, u8),
    Raw(&'a [u8]),
}

impl TokenIn<'_> {
    fn bytes(&self) -> Vec<u8> {
        let menu = token_menu();
        match self {
            TokenIn::Menu(i) => menu[usize::from(*i) % menu.len()].as_bytes().to_vec(),
            // Near misses of the registered tokens, which sit first in the menu.
            TokenIn::NearMiss(i, p, c) => near_miss(&menu[usize::from(*i) % 7], (*p).into(), *c),
            TokenIn::Raw(r) => r.to_vec(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum AccountIn {
    Spice,
    Guild,
    Number(u64),
    Wide(u128),
    Zeros(u8),
}

#[derive(Arbitrary, Debug)]
enum TargetIn<'a> {
    Known(u8),
    /// `/api/v<N>/accounts/<account>` and a tail from a known path, with an ambiguous form
    /// spliced in when `form` picks one.
    Account {
        version: u8,
        account: AccountIn,
        tail: u8,
        form: u8,
    },
    Raw(&'a [u8]),
}

const TAILS: &[&str] = &[
    "/",
    "",
    "/jobs/",
    "/jobs/7/run/",
    "/jobs/7/run",
    "/projects/3/",
    "/runs/5/artifacts/manifest.json",
    "/jobs/../../9007199254740993/jobs/",
];

/// SPEC §5's ambiguous forms, raw and percent-encoded, in mixed case.
const FORMS: &[&str] = &[
    "/./", "/../", "//", "\\", "%2f", "%2F", "%2e", "%2E%2e", "%5c", "%5C", "%00", "\x00", "\x1f",
    "%25", "%", "#", " ", "%61", "\u{e9}",
];

#[derive(Arbitrary, Debug)]
enum Header<'a> {
    Authorization {
        name: u8,
        scheme: u8,
        gap: u8,
        token: TokenIn<'a>,
        tail: &'a [u8],
    },
    AuthorizationRaw(&'a [u8]),
    Accept(u8),
    AcceptRaw(&'a [u8]),
    Host(u8, bool),
    Authority(u8, bool),
    HostRaw(&'a [u8]),
    /// A client-sent copy of an identity header: the fronts strip it; the core must not read it.
    Identity(u8, &'a [u8]),
    Other(&'a [u8], &'a [u8]),
}

const SCHEMES: &[&str] = &["Token", "Bearer", "token", "BEARER", "Basic", "", "Digest"];
const AUTH_NAMES: &[&str] = &["authorization", "Authorization", "AUTHORIZATION"];
const ACCEPTS: &[&str] = &[
    "application/json",
    "application/problem+json",
    "Application/Problem+JSON;q=0.9, text/html",
    "application/problem+json;q=0",
    "*/*",
];

#[derive(Arbitrary, Debug)]
enum Now {
    Known(u8),
    Raw(i64),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: u8,
    raw_method: &'a [u8],
    target: TargetIn<'a>,
    query: Option<(Option<TokenIn<'a>>, &'a [u8])>,
    headers: Vec<Header<'a>>,
    now: Now,
    report: bool,
    query_token: bool,
    oauth_reject: bool,
}

/// The request, owned, so that variants of it can be decided side by side.
struct Built {
    method: Vec<u8>,
    target: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>, bool)>,
    secrets: Vec<Vec<u8>>,
}

impl Built {
    /// From a text seed: query tokens and Authorization values are the secrets.
    fn from_text(t: &TextRequest<'_>) -> Built {
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        if let Some(q) = t.target.iter().position(|&b| b == b'?') {
            for p in t.target[q + 1..].split(|&b| b == b'&') {
                if let Some(v) = p.strip_prefix(b"token=") {
                    secrets.push(v.to_vec());
                }
            }
        }
        let headers = t
            .headers
            .iter()
            .map(|(n, v)| {
                if n.eq_ignore_ascii_case(b"authorization") {
                    secrets.push(v.to_vec());
                }
                let noise = !is_read(n) || n.eq_ignore_ascii_case(b"accept");
                (n.to_vec(), v.to_vec(), noise)
            })
            .collect();
        Built {
            method: t.method.to_vec(),
            target: t.target.to_vec(),
            headers,
            secrets,
        }
    }

    fn new(input: &Input<'_>) -> Built {
        let method = match input.method % 7 {
            0 => b"GET".to_vec(),
            1 => b"POST".to_vec(),
            2 => b"PATCH".to_vec(),
            3 => b"DELETE".to_vec(),
            4 => b"post".to_vec(),
            5 => b"HEAD".to_vec(),
            _ => input.raw_method.to_vec(),
        };
        let mut target = match &input.target {
            TargetIn::Known(i) => PATHS[usize::from(*i) % PATHS.len()].as_bytes().to_vec(),
            TargetIn::Raw(r) => r.to_vec(),
            TargetIn::Account {
                version,
                account,
                tail,
                form,
            } => {
                let account = match account {
                    AccountIn::Spice => String::from("70471823510118"),
                    AccountIn::Guild => String::from("9007199254740993"),
                    AccountIn::Number(n) => n.to_string(),
                    AccountIn::Wide(n) => n.to_string(),
                    AccountIn::Zeros(z) => format!("{}70471823510118", "0".repeat((*z).into())),
                };
                let mut t = format!(
                    "/api/v{}/accounts/{account}{}",
                    version % 4,
                    TAILS[usize::from(*tail) % TAILS.len()]
                )
                .into_bytes();
                if let Some(f) = FORMS.get(usize::from(*form)) {
                    let at = usize::from(*form).wrapping_mul(7) % (t.len() + 1);
                    t.splice(at..at, f.bytes());
                }
                t
            }
        };
        let mut secrets = Vec::new();
        if let Some((token, extra)) = &input.query {
            target.push(b'?');
            if let Some(tok) = token {
                let t = tok.bytes();
                target.extend(b"token=");
                target.extend(&t);
                target.push(b'&');
                secrets.push(t);
            }
            target.extend_from_slice(extra);
        }
        let mut headers = Vec::new();
        for h in &input.headers {
            let (name, value, noise): (&[u8], Vec<u8>, bool) = match h {
                Header::Authorization {
                    name,
                    scheme,
                    gap,
                    token,
                    tail,
                } => {
                    let t = token.bytes();
                    let mut v = SCHEMES[usize::from(*scheme) % SCHEMES.len()]
                        .as_bytes()
                        .to_vec();
                    v.extend(std::iter::repeat_n(b' ', usize::from(gap % 3)));
                    v.extend(&t);
                    v.extend_from_slice(tail);
                    secrets.push(t);
                    let name = AUTH_NAMES[usize::from(*name) % AUTH_NAMES.len()];
                    (name.as_bytes(), v, false)
                }
                Header::AuthorizationRaw(v) => {
                    secrets.push(v.to_vec());
                    (b"authorization", v.to_vec(), false)
                }
                Header::Accept(i) => (
                    b"accept",
                    ACCEPTS[usize::from(*i) % ACCEPTS.len()].as_bytes().to_vec(),
                    true,
                ),
                Header::AcceptRaw(v) => (b"Accept", v.to_vec(), true),
                Header::Host(i, upper) | Header::Authority(i, upper) => {
                    let mut a = AUTHORITIES[usize::from(*i) % AUTHORITIES.len()]
                        .as_bytes()
                        .to_vec();
                    if *upper {
                        a.make_ascii_uppercase();
                    }
                    let name: &[u8] = if matches!(h, Header::Host(..)) {
                        b"Host"
                    } else {
                        b":authority"
                    };
                    (name, a, false)
                }
                Header::HostRaw(v) => (b"host", v.to_vec(), false),
                Header::Identity(i, v) => {
                    let names = [
                        "x-dbt-account-id",
                        "X-DBT-Token-Kind",
                        "x-dbt-token-id",
                        WOULD_DENY_HEADER,
                    ];
                    (
                        names[usize::from(*i) % names.len()].as_bytes(),
                        v.to_vec(),
                        true,
                    )
                }
                Header::Other(n, v) => {
                    if n.eq_ignore_ascii_case(b"authorization") {
                        secrets.push(v.to_vec());
                    }
                    (n, v.to_vec(), !is_read(n))
                }
            };
            headers.push((name.to_vec(), value, noise));
        }
        Built {
            method,
            target,
            headers,
            secrets,
        }
    }
}

/// Header names the core reads.
fn is_read(n: &[u8]) -> bool {
    [&b"authorization"[..], b"host", b":authority", b"accept"]
        .iter()
        .any(|r| n.eq_ignore_ascii_case(r))
}

/// Decide `b`; `plain` drops what must not change the outcome (Accept, headers the core does not
/// read) and lower-cases header names.
fn decide(policy: &Policy, b: &Built, plain: bool, now: i64) -> Snapshot {
    let names: Vec<Vec<u8>> = b
        .headers
        .iter()
        .map(|(n, _, _)| {
            if plain {
                n.to_ascii_lowercase()
            } else {
                n.clone()
            }
        })
        .collect();
    let mut req = Request::new(&b.method, &b.target);
    for ((_, value, noise), name) in b.headers.iter().zip(&names) {
        if !(plain && *noise) {
            req.header(name, value);
        }
    }
    Snapshot::of(&policy.decide(&req, now))
}

/// The account the request's host names, as the core reads it (the last `:authority`, else the
/// last `Host`).
fn host_account(policy: &Policy, b: &Built) -> Option<u64> {
    let last = |want: &[u8]| {
        b.headers
            .iter()
            .rev()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(want))
            .map(|(_, v, _)| v.as_slice())
    };
    let authority = last(b":authority").or_else(|| last(b"host"))?;
    tokengate::fuzzing::host_account(policy, authority)
}

fn check_shape(policy: &Policy, d: &Snapshot, report: bool) {
    assert_eq!(d.status, d.code.status(), "status and code disagree");
    assert_eq!(d.allow && !d.report_only, d.code == Code::Ok);
    let identity = &policy.strip_headers()[..3];
    let denied = !d.allow || d.report_only;
    if denied {
        assert!(
            !d.upstream_headers
                .iter()
                .any(|(n, _)| identity.iter().any(|i| i.eq_ignore_ascii_case(n))),
            "a denied request carries identity headers upstream"
        );
        assert_eq!(d.account_id, None);
    }
    if d.report_only {
        assert!(report && d.allow && d.code != Code::Ok);
        assert_eq!(
            d.upstream_headers,
            [(
                String::from(WOULD_DENY_HEADER),
                String::from(d.code.as_str())
            )]
        );
        assert!(d.body.is_none() && d.response_headers.is_empty());
    } else if !d.allow {
        assert!(!report, "report mode denied");
        assert!(d.upstream_headers.is_empty());
        let h = |name: &str| {
            d.response_headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("cache-control"), Some("no-store"));
        let challenge = h("www-authenticate");
        match d.status {
            401 => {
                let c = challenge.unwrap_or_default();
                assert!(c.starts_with("Bearer realm=\"dbt\""), "{c}");
                assert_eq!(c.contains("error="), d.code != Code::MissingToken);
            }
            400 => assert!(challenge.is_some_and(|c| c.contains("error=\"invalid_request\""))),
            _ => {}
        }
        let body: Value = serde_json::from_str(d.body.as_deref().unwrap_or(""))
            .unwrap_or_else(|e| panic!("denial body is not JSON: {e}"));
        let code = body["code"]
            .as_str()
            .or(body["status"]["developer_message"].as_str());
        assert_eq!(code, Some(d.code.as_str()));
    } else {
        assert!(d.body.is_none());
        let up = |i: usize| {
            d.upstream_headers
                .iter()
                .find(|(n, _)| *n == identity[i])
                .map(|(_, v)| v.as_str())
        };
        if d.token_kind.is_some() {
            assert_eq!(up(1), d.token_kind.map(Kind::as_str));
            assert_eq!(up(2), d.token_id.as_deref());
            assert_eq!(up(0), d.account_id.map(|a| a.to_string()).as_deref());
        } else {
            assert!(
                d.upstream_headers.is_empty(),
                "a public route got identity headers"
            );
        }
    }

    // SPEC §9's JSON, and it says what the struct says.
    let json = d.to_json();
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad JSON {e}: {json}"));
    assert_eq!(v["allow"].as_bool(), Some(d.allow));
    assert_eq!(v["status"].as_u64(), Some(u64::from(d.status)));
    assert_eq!(v["code"].as_str(), Some(d.code.as_str()));
    assert_eq!(v["report_only"].as_bool(), d.report_only.then_some(true));
    assert_eq!(
        v["account_id"].as_str().map(String::from),
        d.account_id.map(|a| a.to_string())
    );
}

fn check_leaks(d: &Snapshot, secrets: &[Vec<u8>]) {
    let out = outputs(d);
    let found = |needle: &[u8]| out.iter().any(|o| contains(o.as_bytes(), needle));
    for secret in secrets {
        for piece in secret_pieces(secret) {
            if found(piece) && !decision_vocabulary().holds(piece) {
                panic!(
                    "an output holds a {}-byte piece of a credential",
                    piece.len()
                );
            }
        }
        let mut candidates = vec![secret.as_slice()];
        candidates.extend(
            secret
                .split(|b| b" \t,".contains(b))
                .filter(|p| !p.is_empty()),
        );
        for c in candidates {
            let digest = sha256_hex(c);
            assert!(
                !found(digest.as_bytes()),
                "an output holds a credential's digest"
            );
            assert!(
                !found(&digest.as_bytes()[..16]),
                "an output holds a credential digest's first 16 hex"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(t) = TextRequest::parse(data) {
        let b = Built::from_text(&t);
        let on = |k: &str, v: &[u8]| t.setting(k) == Some(v);
        let now = t
            .setting("now")
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| tokengate::parse_rfc3339(n).or_else(|| n.parse().ok()))
            .unwrap_or(1_782_864_000);
        return check(
            &b,
            on("mode", b"report"),
            on("query_token", b"true"),
            on("oauth", b"reject"),
            now,
        );
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let now = match input.now {
        Now::Known(i) => times()[usize::from(i) % times().len()],
        Now::Raw(n) => n,
    };
    check(
        &Built::new(&input),
        input.report,
        input.query_token,
        input.oauth_reject,
        now,
    );
});

/// Every invariant over one request, in the given policy switches, at `now`.
fn check(b: &Built, report: bool, query_token: bool, oauth_reject: bool, now: i64) {
    let policy = &policies()[policy_index(report, query_token, oauth_reject)];
    let other = &policies()[policy_index(!report, query_token, oauth_reject)];
    let d = decide(policy, b, false, now);
    assert_eq!(d, decide(policy, b, false, now), "not deterministic");
    check_shape(policy, &d, report);
    check_leaks(&d, &b.secrets);

    // Step 2 comes first: an ambiguous target is refused whatever else the request holds.
    let target = tokengate::fuzzing::target(&b.target);
    if target.is_err() {
        assert_eq!(d.code, Code::InvalidRequest);
    }

    // An allowed account-bound token is bound to every account the request names.
    if d.allow && !d.report_only && d.token_kind != Some(Kind::OAuth) {
        let path = target.as_ref().ok().and_then(|(_, _, a)| *a);
        let host = host_account(policy, b);
        if let (Some(p), Some(h)) = (path, host) {
            assert_eq!(
                p, h,
                "allowed with the host and the path naming different accounts"
            );
        }
        if matches!(d.token_kind, Some(Kind::Pat | Kind::Service)) {
            assert!(
                d.account_id.is_some(),
                "an allowed scoped token without its account"
            );
            if let Some(named) = path.or(host) {
                assert_eq!(d.account_id, Some(named), "allowed into another account");
            }
        }
    }

    // Accept, header-name case and headers the core does not read change nothing but the body.
    let p = decide(policy, b, true, now);
    assert_eq!(
        (
            &p.code,
            &p.message,
            &p.token_kind,
            &p.token_id,
            &p.account_id,
            &p.upstream_headers
        ),
        (
            &d.code,
            &d.message,
            &d.token_kind,
            &d.token_id,
            &d.account_id,
            &d.upstream_headers
        ),
        "Accept, header case or unread headers changed the outcome"
    );

    // Report mode decides exactly as enforce mode, only marking instead of denying.
    let o = decide(other, b, false, now);
    check_shape(other, &o, !report);
    assert_eq!(
        (o.code, o.status, &o.message, o.token_kind, &o.token_id),
        (d.code, d.status, &d.message, d.token_kind, &d.token_id),
        "report and enforce mode disagree"
    );
    if d.code == Code::Ok {
        assert_eq!(o, d);
    }
}
