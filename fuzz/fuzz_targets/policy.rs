//! Policy, registry and fetched key set parsing (SPEC §3, §4, §11) over arbitrary bytes: an error always says at least
//! one thing, nothing the parser prints repeats a digest or token from the document, the same
//! document gives the same answer, and a policy that parses decides without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengate::oauth::KeySet;
use tokengate::{Code, Policy, PolicyErrors, Registry, Request};
use tokengate_fuzz::{contains, fixture, open_finding};

/// Secrets in the document: every 64-character window of a hex run (a digest, in either case)
/// and every `dbtu_`/`dbtc_` run long enough to be a token.
fn secrets(doc: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < doc.len() {
        let hex = doc[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if hex >= 64 {
            out.extend(doc[i..i + hex].windows(64));
        }
        i += hex.max(1);
    }
    for start in 0..doc.len() {
        let rest = &doc[start..];
        if rest.starts_with(b"dbtu_") || rest.starts_with(b"dbtc_") {
            let body = rest[5..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
                .count();
            if body >= 20 {
                out.push(&rest[..5 + body]);
            }
        }
    }
    out
}

fn check_errors(errs: &PolicyErrors, doc: &[u8], what: &str) {
    assert!(
        !errs.errors().is_empty(),
        "{what}: an error with no error in it"
    );
    let text = format!("{errs}\n{errs:?}");
    for e in errs.errors() {
        assert!(
            !e.message.is_empty(),
            "{what}: an empty message at {:?}",
            e.path
        );
    }
    if open_finding("policy-echo") {
        return;
    }
    for s in secrets(doc) {
        assert!(
            !contains(text.as_bytes(), s) && !contains(text.as_bytes(), &s.to_ascii_lowercase()),
            "{what}: an error repeats a {}-byte digest or token from the document",
            s.len()
        );
    }
}

/// The digests the document registers: the hex after each `"sha256"` key. (Other strings, such
/// as a realm, are the operator's to choose and may look like anything.)
fn registered(doc: &[u8]) -> Vec<&[u8]> {
    let key = b"\"sha256\"";
    (0..doc.len())
        .filter(|&i| doc[i..].starts_with(key))
        .filter_map(|i| {
            let rest = &doc[i + key.len()..];
            let start = rest.iter().position(|b| !b" \t\r\n:\"".contains(b))?;
            let run = rest[start..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            (run >= 64).then(|| &rest[start..start + 64])
        })
        .collect()
}

fn check_ok(text: &str, doc: &[u8], what: &str) {
    let digests = registered(doc);
    let count = |hay: &[u8], d: &[u8]| hay.windows(d.len()).filter(|w| *w == d).count();
    for s in &digests {
        // Written elsewhere too (in a link, a realm): the operator's text, not a leak.
        if count(doc, s) > digests.iter().filter(|d| *d == s).count() {
            continue;
        }
        assert!(
            !contains(text.as_bytes(), s),
            "{what}: a parsed document prints a digest it registers"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = std::str::from_utf8(data) else {
        return;
    };

    let policy = Policy::from_json(doc);
    match &policy {
        Err(e) => check_errors(e, data, "policy"),
        Ok(p) => {
            check_ok(&format!("{p:?}\n{}", p.summary()), data, "policy");
            // A policy that parses decides: a few requests that reach the registry, routes and
            // deprecations, at times before, inside and after the example's windows.
            let auth = format!("Token {}", fixture("pat_spice"));
            for (method, target) in [
                (&b"GET"[..], &b"/api/v2/accounts/70471823510118/jobs/"[..]),
                (b"POST", b"/api/v2/accounts/1/jobs/2/run/"),
                (b"GET", b"/api/v2/accounts/"),
                (b"GET", b"/health"),
            ] {
                for now in [0, 1_709_251_200, 1_924_992_000] {
                    let mut r = Request::new(method, target);
                    r.header(b"authorization", auth.as_bytes());
                    r.header(b"host", b"ab123.us1.dbt.com");
                    let d = p.decide(&r, now);
                    assert_eq!(d.status(), d.code.status());
                    assert_eq!(d.allow() && !d.report_only(), d.code == Code::Ok);
                    assert!(serde_json::from_str::<serde_json::Value>(&d.to_json()).is_ok());
                    assert_eq!(d.to_json(), p.decide(&r, now).to_json());
                }
            }
        }
    }
    assert_eq!(
        policy.as_ref().err(),
        Policy::from_json(doc).as_ref().err(),
        "policy parsing is not deterministic"
    );

    // What an Envoy front reads: the policy with registry.url and jwks.url allowed, and a key
    // set document as a jwks.url endpoint serves it.
    match Policy::from_json_fetching(doc) {
        Err(e) => check_errors(&e, data, "fetching policy"),
        Ok(p) => check_ok(&format!("{p:?}\n{}", p.summary()), data, "fetching policy"),
    }
    if let Err(e) = KeySet::from_json(doc) {
        check_errors(&e, data, "key set");
    }

    let registry = Registry::from_json(doc);
    match &registry {
        Err(e) => check_errors(e, data, "registry"),
        Ok(r) => check_ok(&format!("{r:?}"), data, "registry"),
    }
    assert_eq!(
        registry.as_ref().err(),
        Registry::from_json(doc).as_ref().err(),
        "registry parsing is not deterministic"
    );
});
