//! The root context through the fake host: configuration, the registry fetched, shared, adopted
//! and kept, and the ticks that drive it, without Envoy.

use proxy_wasm::traits::{Context, RootContext};

use crate::fake::Fake;
use crate::filter::read_request;
use crate::host::{LogLevel, Status};
use crate::pairs::serialize;
use crate::root::{Root, TICK_MS};

const PAT_A: &str = "dbtu_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX";
const PAT_B: &str = "dbtu_ABCDEFGHIJKLMNOPQRSTUVWXabcdefghijklmnopqrstuvwxyz";
const ACCOUNT: &str = "70471823510118";
const NOW: i64 = 1_800_000_000;

fn entry(token: &str) -> String {
    let digest = tokengate::sha256_hex(token.as_bytes());
    format!(r#"{{"sha256": "{digest}", "kind": "pat", "account_id": "{ACCOUNT}"}}"#)
}

fn doc(tokens: &[&str]) -> Vec<u8> {
    let entries: Vec<String> = tokens.iter().map(|t| entry(t)).collect();
    format!(r#"{{"tokens": [{}]}}"#, entries.join(",")).into_bytes()
}

fn inline_policy(tokens: &[&str]) -> String {
    let entries: Vec<String> = tokens.iter().map(|t| entry(t)).collect();
    format!(r#"{{"registry": {{"tokens": [{}]}}}}"#, entries.join(","))
}

const URL_POLICY: &str = r#"{"registry": {"url": {"cluster": "registry", "path": "/tokens.json",
    "authority": "registry.internal", "refresh_seconds": 60, "timeout_ms": 2000}}}"#;

/// Whether `root`'s current policy lets `token` through on an account route.
fn allows(root: &Root<Fake>, token: &str) -> bool {
    let auth = format!("Token {token}");
    let path = format!("/api/v2/accounts/{ACCOUNT}/jobs/");
    let headers = serialize(&[
        (":method", "GET"),
        (":path", &path),
        ("authorization", &auth),
    ]);
    let policy = root.current().expect("a policy is loaded");
    read_request(&headers).is_some_and(|req| policy.decide(&req, NOW).allow())
}

fn configured(host: &Fake, config: &str) -> Root<Fake> {
    host.set_config(config);
    host.set_now(NOW);
    let mut root = Root::new(host.clone());
    assert!(root.on_configure(0), "{:?}", host.vm.borrow().logs);
    root
}

fn tokens_gauge(host: &Fake) -> i64 {
    host.metric("tokengate.registry.tokens")
}

/// Delivers the answer to `root`'s last call.
fn respond(root: &mut Root<Fake>, host: &Fake, status: &str, etag: Option<&str>, body: &[u8]) {
    let headers: Vec<(&str, &str)> = etag.map(|e| ("etag", e)).into_iter().collect();
    host.answer(status, &headers, body);
    let token = host.calls().last().expect("a call was made").token;
    root.on_http_call_response(token, headers.len() + 1, body.len(), 0);
}

#[test]
fn an_inline_policy_is_served_with_metrics_and_no_ticks() {
    let host = Fake::default();
    let root = configured(&host, &inline_policy(&[PAT_A]));
    assert!(allows(&root, PAT_A));
    assert!(!allows(&root, PAT_B));
    assert_eq!(tokens_gauge(&host), 1);
    assert_eq!(
        host.logged("policy loaded: mode enforce, 1 tokens inline")
            .len(),
        1
    );
    assert_eq!(host.vm.borrow().tick_ms, None, "nothing to refresh");
    assert!(host.metric("tokengate.denied.invalid_token") == 0);
    assert!(host.process.borrow().shared_writes.eq(&0));
}

#[test]
fn a_bad_configuration_is_refused_and_each_problem_logged() {
    let host = Fake::default();
    host.vm.borrow_mut().config = vec![0xff, 0xfe];
    let mut root = Root::new(host.clone());
    assert!(!root.on_configure(0));
    assert_eq!(host.logged("the configuration is not UTF-8").len(), 1);

    // 60 bad digests: one line each for the first 50, then a count of the rest.
    let bad: Vec<String> = (0..60)
        .map(|i| format!(r#"{{"sha256": "x{i}", "kind": "pat", "account_id": "1"}}"#))
        .collect();
    host.set_config(&format!(
        r#"{{"registry": {{"tokens": [{}]}}}}"#,
        bad.join(",")
    ));
    assert!(!root.on_configure(0));
    assert_eq!(host.logged("policy refused: 60 problem(s)").len(), 1);
    assert_eq!(host.logged("policy refused: registry.tokens[").len(), 50);
    assert_eq!(host.logged("policy refused: ... and 10 more").len(), 1);
    assert!(root.current().is_none());

    host.fail("buffer", Status(10));
    assert!(!root.on_configure(0));
    assert_eq!(
        host.logged("cannot read the plugin configuration: status 10")
            .len(),
        1
    );
}

#[test]
fn a_url_registry_is_fetched_on_the_first_tick_and_served() {
    let host = Fake::default();
    let mut root = configured(&host, URL_POLICY);
    assert_eq!(host.vm.borrow().tick_ms, Some(TICK_MS));
    assert!(!allows(&root, PAT_A), "registry_unavailable until loaded");
    root.on_tick();
    let calls = host.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!((call.cluster.as_str(), call.timeout_ms), ("registry", 2000));
    assert_eq!(call.header(":path"), Some("/tokens.json"));
    assert_eq!(call.header(":authority"), Some("registry.internal"));
    assert_eq!(call.header(":method"), Some("GET"));
    assert_eq!(call.header("if-none-match"), None);
    root.on_tick();
    assert_eq!(host.calls().len(), 1, "one fetch in flight at a time");

    respond(&mut root, &host, "200", Some("\"v1\""), &doc(&[PAT_A]));
    assert!(allows(&root, PAT_A));
    assert!(!allows(&root, PAT_B));
    assert_eq!(host.metric("tokengate.registry.fetch_ok"), 1);
    assert_eq!(tokens_gauge(&host), 1);
    let loaded = "registry loaded from cluster registry path /tokens.json: 1 tokens (generation 1)";
    assert_eq!(host.logged(loaded).len(), 1);

    // Not again before refresh_seconds; then revalidated with the ETag.
    host.set_now(NOW + 59);
    root.on_tick();
    assert_eq!(host.calls().len(), 1);
    host.set_now(NOW + 61);
    root.on_tick();
    assert_eq!(host.calls()[1].header("if-none-match"), Some("\"v1\""));
    respond(&mut root, &host, "304", Some("\"v1\""), b"");
    assert_eq!(host.metric("tokengate.registry.fetch_not_modified"), 1);
    assert!(allows(&root, PAT_A));
}

#[test]
fn the_first_fetch_is_one_per_process_and_the_others_adopt_within_a_tick() {
    let first = Fake::default();
    let hosts: Vec<Fake> = (0..4).map(|_| first.sibling()).collect();
    let mut roots: Vec<Root<Fake>> = hosts.iter().map(|h| configured(h, URL_POLICY)).collect();
    for root in &mut roots {
        root.on_tick();
    }
    let fetching: Vec<usize> = (0..4).filter(|&i| !hosts[i].calls().is_empty()).collect();
    assert_eq!(fetching.len(), 1, "exactly one root fetched");
    for _ in 0..3 {
        for root in &mut roots {
            root.on_tick();
        }
    }
    let calls: usize = hosts.iter().map(|h| h.calls().len()).sum();
    assert_eq!(calls, 1, "the others wait for its result");

    let f = fetching[0];
    respond(
        &mut roots[f],
        &hosts[f],
        "200",
        Some("\"v1\""),
        &doc(&[PAT_A]),
    );
    assert!(allows(&roots[f], PAT_A));
    // Every other root decides with it after its next tick: the propagation bound is one tick.
    for (i, root) in roots.iter_mut().enumerate() {
        if i != f {
            assert!(!allows(root, PAT_A));
            root.on_tick();
            assert!(allows(root, PAT_A), "root {i} adopted on its next tick");
            let line = "registry generation 1 adopted from shared data: 1 tokens";
            assert_eq!(hosts[i].logged(line).len(), 1);
        }
    }
}

#[test]
fn a_revocation_reaches_every_root_one_tick_after_the_fetch() {
    let first = Fake::default();
    let hosts: Vec<Fake> = (0..3).map(|_| first.sibling()).collect();
    let mut roots: Vec<Root<Fake>> = hosts.iter().map(|h| configured(h, URL_POLICY)).collect();
    roots[0].on_tick();
    respond(
        &mut roots[0],
        &hosts[0],
        "200",
        Some("\"v1\""),
        &doc(&[PAT_A, PAT_B]),
    );
    for root in &mut roots[1..] {
        root.on_tick();
        assert!(allows(root, PAT_B));
    }
    // A refresh that drops PAT_B, fetched by whichever root's tick comes first.
    for h in &hosts {
        h.set_now(NOW + 60);
    }
    roots[2].on_tick();
    assert_eq!(hosts[2].calls().len(), 1);
    respond(
        &mut roots[2],
        &hosts[2],
        "200",
        Some("\"v2\""),
        &doc(&[PAT_A]),
    );
    assert!(!allows(&roots[2], PAT_B));
    for root in &mut roots[..2] {
        root.on_tick();
        assert!(!allows(root, PAT_B) && allows(root, PAT_A));
    }
    assert_eq!(tokens_gauge(&hosts[0]), 1);
}

#[test]
fn a_failed_fetch_keeps_the_last_good_registry_and_backs_off() {
    let host = Fake::default();
    let mut root = configured(&host, URL_POLICY);
    root.on_tick();
    respond(&mut root, &host, "500", None, b"boom");
    assert_eq!(host.metric("tokengate.registry.fetch_failed"), 1);
    let none = "registry fetch from cluster registry path /tokens.json failed: HTTP status 500; \
                no registry has loaded yet";
    assert_eq!(host.logged(none).len(), 1);
    root.on_tick();
    assert_eq!(host.calls().len(), 1, "backs off 1 s");
    host.set_now(NOW + 1);
    root.on_tick();
    respond(&mut root, &host, "200", Some("\"v1\""), &doc(&[PAT_A]));
    assert!(allows(&root, PAT_A));

    // Each kind of bad answer, at the next refresh: the one-token registry stays.
    let cases: [(&str, &[u8], &str); 3] = [
        ("200", b"{not json", "the document was refused (1 problems)"),
        ("200", &[0xff], "the document was refused (1 problems)"),
        ("503", b"", "HTTP status 503"),
    ];
    let mut at = NOW + 1;
    for (i, (status, body, why)) in cases.iter().enumerate() {
        at += 61;
        host.set_now(at);
        root.on_tick();
        respond(&mut root, &host, status, None, body);
        assert_eq!(host.metric("tokengate.registry.fetch_failed"), 2 + i as i64);
        let kept = format!("{why}; keeping the last good registry (1 tokens, generation 1)");
        let last_warn = host
            .vm
            .borrow()
            .logs
            .iter()
            .rev()
            .find(|(level, _)| *level == LogLevel::Warn)
            .map(|(_, line)| line.clone());
        assert!(
            last_warn.is_some_and(|l| l.ends_with(&kept)),
            "{:?}",
            host.vm.borrow().logs
        );
        assert!(allows(&root, PAT_A));
    }
    // No answer at all (timeout, reset): zero headers.
    at += 61;
    host.set_now(at);
    root.on_tick();
    let token = host.calls().last().unwrap().token;
    root.on_http_call_response(token, 0, 0, 0);
    assert_eq!(
        host.logged("no response (timeout, reset, no healthy host, or a document over")
            .len(),
        1
    );
    assert_eq!(tokens_gauge(&host), 1);
}

#[test]
fn answers_to_other_calls_are_ignored() {
    let host = Fake::default();
    let mut root = configured(&host, URL_POLICY);
    root.on_tick();
    host.answer("200", &[], &doc(&[PAT_A]));
    root.on_http_call_response(999, 1, 10, 0);
    assert!(!allows(&root, PAT_A));
    assert_eq!(host.metric("tokengate.registry.fetch_ok"), 0);
}

#[test]
fn a_call_the_host_refuses_is_a_failed_fetch() {
    let host = Fake::default();
    let mut root = configured(&host, URL_POLICY);
    host.fail("http_call", Status(2));
    root.on_tick();
    assert_eq!(host.metric("tokengate.registry.fetch_failed"), 1);
    let line =
        "cannot fetch the registry from cluster registry (host status 2): is the cluster defined?";
    assert_eq!(host.logged(line).len(), 1);
}

#[test]
fn a_bad_shared_document_is_refused_once_and_the_next_good_one_adopted() {
    let host = Fake::default();
    let mut fetcher = configured(&host, URL_POLICY);
    fetcher.on_tick();
    respond(&mut fetcher, &host, "200", Some("\"v1\""), &doc(&[PAT_A]));
    // A corrupt document under generation 2 (meta says 2 too): JSON where the packed form goes.
    let mut bad = b"{\"tokens\": 7}".to_vec();
    bad.extend_from_slice(&2u64.to_le_bytes());
    host.put_shared("tokengate/registry/doc3|", &bad);
    let meta = "tokengate-fetch-meta/2\n2\n".to_owned() + &format!("{NOW}\n0\n0\n0\n0\n0\n\"v2\"");
    host.put_shared("tokengate/registry/meta2|", meta.as_bytes());

    let other = host.sibling();
    let mut root = configured(&other, URL_POLICY);
    root.on_tick();
    root.on_tick();
    assert_eq!(
        other
            .logged("shared registry generation 2 refused: 1 problems")
            .len(),
        1
    );
    assert!(other.logged("shared registry document refused: ").len() >= 2);
    let why = "shared registry document refused: not a packed registry (bad magic)";
    assert_eq!(other.logged(why).len(), 1);
    assert!(!allows(&root, PAT_A));
    assert!(other
        .vm
        .borrow()
        .logs
        .iter()
        .any(|(level, _)| *level == LogLevel::Error));
}

#[test]
fn no_tick_period_is_logged_as_a_registry_that_will_not_load() {
    let host = Fake::default();
    host.fail("tick", Status(10));
    let _root = configured(&host, URL_POLICY);
    assert_eq!(host.logged("cannot set a tick period (status 10)").len(), 1);
}

/// RFC 7517 A.1's P-256 public key: a key set of one usable key.
const JWKS: &str = r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
    "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
    "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;

const JWKS_POLICY: &str = r#"{"registry": {"url": {"cluster": "registry", "path": "/tokens.json"}},
    "oauth": {"verify": {"issuer": "https://issuer.test/", "audiences": ["dbt-cloud-api"],
      "algorithms": ["ES256"], "jwks": {"url": {"cluster": "idp", "path": "/jwks.json",
      "refresh_seconds": 300, "refetch_cooldown_seconds": 30}}}}}"#;

/// The key count of `root`'s current policy.
fn keys(root: &Root<Fake>) -> usize {
    match root.current().map(tokengate::Policy::oauth) {
        Some(tokengate::OAuth::Verify(v)) => v.key_count(),
        _ => 0,
    }
}

#[test]
fn a_key_set_is_fetched_beside_the_registry_shared_and_refetched_for_an_unknown_kid() {
    let host = Fake::default();
    let mut root = configured(&host, JWKS_POLICY);
    root.on_tick(); // creates both metas; claims on the next tick
    root.on_tick();
    let calls = host.calls();
    let paths: Vec<_> = calls
        .iter()
        .map(|c| c.header(":path").unwrap_or(""))
        .collect();
    assert_eq!(paths, ["/tokens.json", "/jwks.json"], "one fetch of each");
    assert_eq!(calls[1].cluster, "idp");
    // The key set answers first: it loads without disturbing the registry's fetch.
    host.answer("200", &[("etag", "\"k1\"")], JWKS.as_bytes());
    root.on_http_call_response(calls[1].token, 2, JWKS.len(), 0);
    assert_eq!(keys(&root), 1);
    assert_eq!(host.metric("tokengate.jwks.keys"), 1);
    assert_eq!(host.metric("tokengate.jwks.fetch_ok"), 1);
    assert_eq!(
        host.logged(
            "key set loaded from cluster idp path /jwks.json: 1 keys (key set generation 1)"
        )
        .len(),
        1
    );
    let registry_call = calls[0].token;
    host.answer("200", &[], &doc(&[PAT_A]));
    root.on_http_call_response(registry_call, 1, doc(&[PAT_A]).len(), 0);
    assert!(allows(&root, PAT_A));
    assert_eq!(keys(&root), 1, "the registry's install kept the key set");

    // Another worker adopts both from shared data.
    let other = host.sibling();
    let sibling = configured(&other, JWKS_POLICY);
    assert!(allows(&sibling, PAT_A));
    assert_eq!(keys(&sibling), 1);
    assert_eq!(
        other
            .logged("key set generation 1 adopted from shared data: 1 keys")
            .len(),
        1
    );

    // A token with an unknown kid: one fetch ahead of schedule, revalidating.
    host.set_now(NOW + 10);
    root.keys_wanted().set(true);
    let before = host.calls().len();
    root.on_tick();
    let after = host.calls();
    assert_eq!(after.len(), before + 1, "{:?}", host.vm.borrow().logs);
    let last = after.last().unwrap();
    assert_eq!(
        (last.cluster.as_str(), last.header("if-none-match")),
        ("idp", Some("\"k1\""))
    );
    assert_eq!(host.metric("tokengate.jwks.refetch_unknown_kid"), 1);
    respond(&mut root, &host, "304", None, b"");
    // Within the cooldown, neither this worker nor another fetches again.
    host.set_now(NOW + 20);
    root.keys_wanted().set(true);
    root.on_tick();
    assert_eq!(host.calls().len(), before + 1);
    assert_eq!(host.metric("tokengate.jwks.refetch_unknown_kid"), 1);
    // After it, one more.
    host.set_now(NOW + 41);
    root.keys_wanted().set(true);
    root.on_tick();
    assert_eq!(host.calls().len(), before + 2);
    // A key set that does not parse keeps the last good one.
    respond(
        &mut root,
        &host,
        "200",
        None,
        br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#,
    );
    assert_eq!(keys(&root), 1);
    assert_eq!(
        host.logged("keeping the last good key set (1 keys, generation 1)")
            .len(),
        1
    );
}

#[test]
fn the_registry_is_shared_packed_and_the_key_set_as_served() {
    let host = Fake::default();
    let mut root = configured(&host, JWKS_POLICY);
    root.on_tick();
    root.on_tick();
    let calls = host.calls();
    let registry = doc(&[PAT_A, PAT_B]);
    host.answer("200", &[], &registry);
    root.on_http_call_response(calls[0].token, 1, registry.len(), 0);
    host.answer("200", &[], JWKS.as_bytes());
    root.on_http_call_response(calls[1].token, 1, JWKS.len(), 0);

    let packed = host
        .get_shared("tokengate/registry/doc3|registry|")
        .unwrap();
    assert_eq!(&packed[..8], b"TGREGBIN", "the packed table, not the JSON");
    assert_eq!(
        packed.len(),
        20 + 2 * 54 + 8,
        "two entries and the generation"
    );
    let keys_doc = host.get_shared("tokengate/registry/doc3|jwks|").unwrap();
    assert_eq!(&keys_doc[..keys_doc.len() - 8], JWKS.as_bytes());

    let other = host.sibling();
    let sibling = configured(&other, JWKS_POLICY);
    assert!(allows(&sibling, PAT_A) && allows(&sibling, PAT_B));
    assert_eq!(keys(&sibling), 1);
    assert_eq!(
        other
            .logged("registry generation 1 adopted from shared data: 2 tokens")
            .len(),
        1
    );
}
