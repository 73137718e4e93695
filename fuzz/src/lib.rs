//! What the fuzz targets share: the made-up tokens of the test fixtures, the fixed policies the
//! decision targets run against, and the leak check every target applies to what the core says.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{json, Value};
use tokengate::{sha256_hex, Decision, Policy, Request};

/// The fixture tokens (made up, never real), by name. One file for the tests and the fuzzers, so a
/// new fixture token reaches both.
pub fn fixture_tokens() -> &'static [(String, String)] {
    static TOKENS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let doc: Value = serde_json::from_str(include_str!("../../tests/fixtures/tokens.json"))
            .unwrap_or(Value::Null);
        let tokens = doc["tokens"].as_object().cloned().unwrap_or_default();
        let out: Vec<(String, String)> = tokens
            .into_iter()
            .filter_map(|(k, v)| Some((k, String::from(v.as_str()?))))
            .collect();
        assert!(out.len() >= 9, "tests/fixtures/tokens.json lost its tokens");
        out
    })
}

/// The fixture token called `name`.
pub fn fixture(name: &str) -> &'static str {
    fixture_tokens()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no fixture token {name}"))
}

/// Tokens a decision target picks from: registered, unregistered, one character off, JWTs,
/// legacy keys, and the shapes people paste by mistake.
pub fn token_menu() -> &'static [String] {
    static MENU: OnceLock<Vec<String>> = OnceLock::new();
    MENU.get_or_init(|| {
        let pat = fixture("pat_spice");
        let mut m: Vec<String> = fixture_tokens().iter().map(|(_, v)| v.clone()).collect();
        m.extend([
            pat.to_ascii_uppercase(),
            format!("{pat}x"),
            pat[..pat.len() - 1].to_string(),
            format!("dbtu_{}!", &pat[6..]),
            format!("\"{pat}\""),
            pat.replacen("dbtu_", "dbtx_", 1),
            fixture("user_key").to_ascii_uppercase(),
            String::from("eyJhbGciOiJub25lIn0.e30."),
            String::from("eyJhbGciOiJub25lIn0.e30.x.y"),
            String::from("paul@atreides.com"),
            String::from("https://cloud.getdbt.com/"),
            String::from("x"),
        ]);
        m
    })
}

/// `token` with the byte at `pos` (mod the body) replaced by another body character: a near miss.
pub fn near_miss(token: &str, pos: usize, pick: u8) -> Vec<u8> {
    const BODY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut t = token.as_bytes().to_vec();
    let start = if token.starts_with("dbt") { 5 } else { 0 };
    if t.len() > start {
        let i = start + pos % (t.len() - start);
        let mut c = BODY[usize::from(pick) % BODY.len()];
        if c == t[i] {
            c = BODY[(usize::from(pick) + 1) % BODY.len()];
        }
        t[i] = c;
    }
    t
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Every string in a JSON value, keys included; a string that is itself JSON (a denial body
/// inside a decision) is walked as well, so an escaped token cannot hide in it.
pub fn json_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Ok(inner @ (Value::Object(_) | Value::Array(_))) =
                serde_json::from_str::<Value>(s)
            {
                json_strings(&inner, out);
            }
            out.push(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            json_strings(x, out);
        }),
        _ => {}
    }
}

/// A decision, owned and comparable, with the fields SPEC §9 lists: targets keep decisions past
/// the request they borrow and compare them side by side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub allow: bool,
    pub report_only: bool,
    pub status: u16,
    pub code: tokengate::Code,
    pub message: String,
    pub token_kind: Option<tokengate::Kind>,
    pub token_id: Option<String>,
    pub account_id: Option<u64>,
    pub deprecated: bool,
    pub response_headers: Vec<(&'static str, String)>,
    pub upstream_headers: Vec<(String, String)>,
    pub removed_headers: Vec<Vec<u8>>,
    pub body: Option<String>,
    pub json: String,
}

impl Snapshot {
    pub fn of(d: &Decision<'_>) -> Snapshot {
        Snapshot {
            allow: d.allow(),
            report_only: d.report_only(),
            status: d.status(),
            code: d.code,
            message: d.message().into_owned(),
            token_kind: d.token_kind,
            token_id: d.token_id().map(String::from),
            account_id: d.account_id,
            deprecated: d.deprecated(),
            response_headers: d.json_response_headers(),
            upstream_headers: d.json_upstream_headers(),
            removed_headers: d.remove_headers().map(<[u8]>::to_vec).collect(),
            body: d.reply().map(|r| r.body),
            json: d.to_json(),
        }
    }

    pub fn to_json(&self) -> String {
        self.json.clone()
    }
}

/// Every output of a decision a front could show or log: the JSON's strings, the message, the
/// body, and each header as `name: value`.
pub fn outputs(d: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(&d.to_json()) {
        json_strings(&v, &mut out);
    }
    out.push(d.message.clone());
    out.extend(d.body.clone());
    out.extend(d.response_headers.iter().map(|(n, v)| format!("{n}: {v}")));
    out.extend(d.upstream_headers.iter().map(|(n, v)| format!("{n}: {v}")));
    out
}

/// Text the core writes whatever the request: messages, header values, JSON keys, dates, ids of
/// registered tokens. A "token" that is a piece of this text (say `no-store`) shows up in outputs
/// without having leaked, so the leak check exempts it; anything else found in an output leaked.
pub struct Vocabulary {
    text: Vec<u8>,
}

impl Vocabulary {
    /// Whether `s` is a piece of the fixed text.
    pub fn holds(&self, s: &[u8]) -> bool {
        contains(&self.text, s)
    }

    fn add(&mut self, s: &str) {
        self.text.extend_from_slice(s.as_bytes());
        self.text.push(b'\n');
    }
}

/// The policies a decision target runs against: every combination of mode, `query_token` and
/// `oauth`, over the example policy's routes, hosts and deprecations and a registry of the
/// fixture tokens' real digests. Index with [`policy_index`].
pub fn policies() -> &'static [Policy] {
    static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        (0..8)
            .map(|i| {
                let doc = policy_json(i & 1 != 0, i & 2 != 0, i & 4 != 0);
                Policy::from_json(&doc.to_string())
                    .unwrap_or_else(|e| panic!("fixed policy {i} does not parse: {e}"))
            })
            .collect()
    })
}

/// Which of [`policies`] has this mode, `query_token` and `oauth: reject`.
pub fn policy_index(report: bool, query_token: bool, oauth_reject: bool) -> usize {
    usize::from(report) | usize::from(query_token) << 1 | usize::from(oauth_reject) << 2
}

/// The example policy with the given switches and a registry built from the fixture tokens.
pub fn policy_json(report: bool, query_token: bool, oauth_reject: bool) -> Value {
    let mut doc: Value =
        serde_json::from_str(include_str!("../../examples/policy.json")).unwrap_or(Value::Null);
    let entry = |name: &str, extra: Value| {
        let mut e = json!({ "sha256": sha256_hex(fixture(name).as_bytes()) });
        if let (Some(e), Some(x)) = (e.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        e
    };
    doc["registry"] = json!({ "tokens": [
        entry("pat_spice", json!({"kind": "pat", "account_id": "70471823510118"})),
        entry("pat_guild", json!({"kind": "pat", "account_id": 9007199254740993u64})),
        entry("service_spice", json!({"kind": "service", "account_id": "70471823510118",
                                      "token_id": "svc-harvest-prod"})),
        entry("service_revoked", json!({"kind": "service", "account_id": "70471823510118",
                                        "revoked": true})),
        entry("pat_expired", json!({"kind": "pat", "account_id": "70471823510118",
                                    "expires_at": "2025-01-01T00:00:00Z"})),
        entry("user_key", json!({"kind": "user_key"})),
    ]});
    doc["mode"] = json!(if report { "report" } else { "enforce" });
    doc["query_token"] = json!(query_token);
    doc["oauth"] = json!(if oauth_reject { "reject" } else { "forward" });
    doc
}

/// Times around every date in the fixed policies: before, inside and after each window, and the
/// exact seconds of each edge.
pub fn times() -> &'static [i64] {
    static TIMES: OnceLock<Vec<i64>> = OnceLock::new();
    TIMES.get_or_init(|| {
        let mut t = Vec::new();
        for d in [
            "2024-01-01T00:00:00Z",
            "2024-02-07T00:00:00Z",
            "2024-04-30T00:00:00Z",
            "2024-10-22T00:00:00Z",
            "2025-01-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
        ] {
            let s = tokengate::parse_rfc3339(d).unwrap_or(0);
            t.extend([s - 1, s, s + 86_400]);
        }
        t.extend([0, i64::MIN, i64::MAX]);
        t
    })
}

/// One time inside each window of the fixed policies: enough to hear every dated message.
const TEXT_TIMES: &[i64] = &[
    1_704_067_200, // 2024-01-01
    1_709_251_200, // 2024-03-01
    1_717_200_000, // 2024-06-01
    1_730_419_200, // 2024-11-01
    1_748_736_000, // 2025-06-01
    1_782_864_000, // 2026-07-01
    1_924_992_000, // 2031-01-01
];

/// Paths that reach every route and deprecation of the example policy, in each account.
pub const PATHS: &[&str] = &[
    "/health",
    "/api/v2/accounts/",
    "/api/v3/accounts/",
    "/api/v2/accounts/70471823510118/",
    "/api/v2/accounts/70471823510118/jobs/",
    "/api/v2/accounts/70471823510118/jobs/7/run/",
    "/api/v2/accounts/9007199254740993/jobs/7/run/",
    "/api/v3/accounts/70471823510118/projects/3/",
    "/api/v2/accounts/70471823510118/runs/5/artifacts/manifest.json",
    "/api/v2/accounts/1/",
    "/api/v2/accounts/18446744073709551616/",
    "/api/./v2/accounts/1/",
    "/api/semantic-layer/jdbc",
];

/// Authorities that name each account of the example policy, none, or one unknown.
pub const AUTHORITIES: &[&str] = &[
    "ab123.us1.dbt.com",
    "AB123.metadata.us1.dbt.com:443",
    "gn456.semantic-layer.us1.dbt.com",
    "gn456.dbt.com",
    "zz999.us1.dbt.com",
    "cloud.getdbt.com",
    "[::1]:8080",
];

/// The leak vocabulary of the decision targets: everything the fixed policies say to a matrix of
/// requests that reaches every code, in both body formats.
pub fn decision_vocabulary() -> &'static Vocabulary {
    static VOCAB: OnceLock<Vocabulary> = OnceLock::new();
    VOCAB.get_or_init(|| {
        let mut seen = BTreeSet::new();
        let mut creds: Vec<Option<String>> = token_menu()
            .iter()
            .map(|t| Some(format!("Token {t}")))
            .collect();
        creds.extend([
            None,
            Some("Basic dXNlcjpwYXNz".into()),
            Some("Bearer".into()),
            Some("Bearer a, Bearer b".into()),
            Some("Token dbtu_ab\x01".into()),
        ]);
        // Built only when a token turns up in an output, so its cost is paid rarely; the mix of
        // method, authority and Accept varies with the index rather than multiplying the matrix.
        let mut i = 0usize;
        let mut targets: Vec<&[u8]> = PATHS.iter().map(|p| p.as_bytes()).collect();
        // One of each way a path is refused, so that every refusal message is heard.
        targets.extend([
            &b"api/v2"[..],
            b"/api/",
            b"/api/..",
            b"/api//v2",
            b"/api\\v2",
            b"/api/%2f",
            b"/api/%zz",
            b"/a#b",
        ]);
        for policy in policies() {
            for path in &targets {
                for auth in &creds {
                    for &now in TEXT_TIMES {
                        for method in [&b"GET"[..], b"POST"] {
                            i += 1;
                            let mut r = Request::new(method, path);
                            if let Some(a) = auth {
                                r.header(b"authorization", a.as_bytes());
                            }
                            r.header(b":authority", AUTHORITIES[i % 3].as_bytes());
                            if i % 2 == 0 {
                                r.header(b"accept", b"application/problem+json");
                            }
                            seen.extend(outputs(&Snapshot::of(&policy.decide(&r, now))));
                        }
                    }
                }
            }
        }
        // The refusals of step 2 that the matrix above never makes: a malformed or repeated
        // host, too many headers, an account segment that is not plain digits.
        let pat = format!("Token {}", token_menu().first().map_or("", String::as_str));
        let many: Vec<String> = (0..200).map(|n| format!("x-h{n}")).collect();
        for policy in policies() {
            for case in 0..4 {
                let path: &[u8] = if case == 3 {
                    b"/api/v2/accounts/+70471823510118/jobs/"
                } else {
                    b"/api/v2/accounts/70471823510118/jobs/"
                };
                let mut r = Request::new(b"GET", path);
                r.header(b"authorization", pat.as_bytes());
                match case {
                    0 => r.header(b":authority", b"ab123..us1.dbt.com"),
                    1 => {
                        r.header(b":authority", b"ab123.us1.dbt.com");
                        r.header(b"host", b"gn456.us1.dbt.com");
                    }
                    2 => {
                        for name in &many {
                            r.header(name.as_bytes(), b"v");
                        }
                    }
                    _ => {}
                }
                seen.extend(outputs(&Snapshot::of(&policy.decide(&r, TEXT_TIMES[0]))));
            }
        }
        let mut v = Vocabulary { text: Vec::new() };
        seen.iter().for_each(|s| v.add(s));
        v
    })
}

/// The pieces of a credential worth checking for leaks: the whole, and each run between
/// separators a parser might cut at, when long enough to be a secret rather than a word.
pub fn secret_pieces(token: &[u8]) -> Vec<&[u8]> {
    let mut out = vec![token];
    out.extend(
        token
            .split(|b| b.is_ascii_whitespace() || b",\"'`:=;&?".contains(b))
            .filter(|p| p.len() >= 8 && p.len() < token.len()),
    );
    out.retain(|p| p.len() >= 8);
    out
}

/// Findings reported to the core and not fixed yet. Each target names the check a finding trips;
/// a long exploration run may set `FUZZ_OPEN_FINDINGS=name,name` to look past them. `smoke.sh`
/// never sets it, so a finding fails the smoke run (and its regression file) until it is fixed.
pub fn open_finding(name: &str) -> bool {
    static OPEN: OnceLock<Vec<String>> = OnceLock::new();
    OPEN.get_or_init(|| {
        std::env::var("FUZZ_OPEN_FINDINGS")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|o| o == name)
}

/// The first line of a seed or regression written as text rather than as `arbitrary` bytes.
pub const TEXT_MAGIC: &[u8] = b"#!tokengate\n";

/// A request written as text, for seeds and regressions a person can read:
///
/// ```text
/// #!tokengate
/// @mode report
/// @now 2026-07-01T00:00:00Z
/// GET /api/v2/accounts/70471823510118/jobs/?x=1
/// authorization: Token dbtu_…
/// :authority: ab123.us1.dbt.com
/// ```
///
/// `@` lines are settings for the target, then one request line, then headers. libFuzzer mutates
/// these files too, so the text form is explored as well as the structured one.
pub struct TextRequest<'a> {
    /// `@name value` lines.
    pub settings: Vec<(&'a str, &'a [u8])>,
    /// The request line's method.
    pub method: &'a [u8],
    /// The request line's target, raw.
    pub target: &'a [u8],
    /// Header lines, raw.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> TextRequest<'a> {
    /// Parse `data` if it starts with [`TEXT_MAGIC`].
    pub fn parse(data: &'a [u8]) -> Option<TextRequest<'a>> {
        let body = data.strip_prefix(TEXT_MAGIC)?;
        let mut t = TextRequest {
            settings: Vec::new(),
            method: b"GET",
            target: b"/",
            headers: Vec::new(),
        };
        let mut seen_request = false;
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let (false, Some(rest)) = (seen_request, line.strip_prefix(b"@")) {
                let (k, v) = split_at_byte(rest, b' ');
                t.settings.push((std::str::from_utf8(k).ok()?, v));
            } else if !seen_request {
                seen_request = true;
                let (m, target) = split_at_byte(line, b' ');
                t.method = m;
                t.target = target;
            } else if !line.is_empty() {
                // A pseudo-header's name starts with ':'; the separator is the next one.
                let from = usize::from(line.first() == Some(&b':'));
                let at = line[from..]
                    .iter()
                    .position(|&b| b == b':')
                    .map(|i| i + from);
                let (name, value) = match at {
                    Some(i) => (&line[..i], &line[i + 1..]),
                    None => (line, &b""[..]),
                };
                t.headers
                    .push((name, value.strip_prefix(b" ").unwrap_or(value)));
            }
        }
        Some(t)
    }

    /// The value of setting `name`, if given.
    pub fn setting(&self, name: &str) -> Option<&'a [u8]> {
        self.settings
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

fn split_at_byte(s: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == sep) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b""[..]),
    }
}
