//! Native speed of the core: inspection, credential extraction and the full decision, with

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core
)]
//! registries of a thousand and a million entries; and loading a million-entry policy.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tokengate::{inspect, Policy, Registry, Request};

mod support;
use support::{pat, policy_json, registry_json};

const NOW: i64 = 1_795_000_000;

fn decide(policy: &Policy, path: &[u8], auth: &[u8]) -> u16 {
    let mut r = Request::new(b"GET", path);
    r.header(b":authority", b"ab123.us1.dbt.com");
    r.header(b"authorization", auth);
    r.header(b"accept", b"application/json");
    policy.decide(&r, NOW).status()
}

fn benches(c: &mut Criterion) {
    let token = pat(7);
    c.bench_function("inspect/pat", |b| {
        b.iter(|| inspect(black_box(token.as_bytes())))
    });

    let auth = format!("Token {token}");
    c.bench_function("extract/authorization", |b| {
        b.iter(|| {
            let mut r = Request::new(b"GET", b"/api/v2/accounts/70471823510118/jobs/");
            r.header(b"authorization", black_box(auth.as_bytes()));
            tokengate::fuzzing::credential_token(&r, None).map(<[u8]>::len)
        })
    });

    let valid = format!("Token {}", pat(7));
    let malformed = format!("Token {}", &pat(7)[..40]);
    let ours = b"/api/v2/accounts/70471823510118/jobs/".as_slice();
    let theirs = b"/api/v2/accounts/9007199254740993/jobs/".as_slice();
    for (label, n) in [("1k", 1_000u64), ("1m", 1_000_000)] {
        let policy = Policy::from_json(&policy_json(n)).expect("policy");
        assert_eq!(decide(&policy, ours, valid.as_bytes()), 200);
        assert_eq!(decide(&policy, ours, malformed.as_bytes()), 401);
        assert_eq!(decide(&policy, theirs, valid.as_bytes()), 403);
        let mut g = c.benchmark_group(format!("decide/{label}"));
        g.bench_function("valid", |b| {
            b.iter(|| decide(&policy, black_box(ours), black_box(valid.as_bytes())))
        });
        g.bench_function("malformed", |b| {
            b.iter(|| decide(&policy, black_box(ours), black_box(malformed.as_bytes())))
        });
        g.bench_function("account_mismatch", |b| {
            b.iter(|| decide(&policy, black_box(theirs), black_box(valid.as_bytes())))
        });
        g.finish();
    }

    // Near miss vs random: the constant-time compare should make them indistinguishable.
    let policy = Policy::from_json(&policy_json(1_000)).expect("policy");
    let mut near = pat(7).into_bytes();
    let last = near.len() - 1;
    near[last] = if near[last] == b'A' { b'B' } else { b'A' };
    let near = format!("Token {}", String::from_utf8(near).expect("ascii"));
    let random = format!("Token {}", pat(99_999_999));
    assert_eq!(decide(&policy, ours, near.as_bytes()), 401);
    let mut g = c.benchmark_group("timing/1k");
    g.bench_function("near_miss", |b| {
        b.iter(|| decide(&policy, ours, black_box(near.as_bytes())))
    });
    g.bench_function("random", |b| {
        b.iter(|| decide(&policy, ours, black_box(random.as_bytes())))
    });
    g.finish();

    let json = policy_json(1_000_000);
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.bench_function("policy_1m", |b| {
        b.iter_batched(
            || (),
            |()| Policy::from_json(black_box(&json)).map(|p| p.registry().len()),
            BatchSize::PerIteration,
        )
    });
    // A registry document as `registry.url` serves it, and the same registry in the packed form
    // the proxy-wasm filter shares between its VMs: what each VM other than the fetcher pays.
    drop(json);
    let doc = registry_json(1_000_000);
    let registry = Registry::from_json(&doc).expect("registry");
    let packed = registry.to_bytes();
    assert_eq!(
        Registry::from_bytes(&packed).map(|r| r.len()),
        Ok(1_000_000)
    );
    g.bench_function("registry_1m_json", |b| {
        b.iter_batched(
            || (),
            |()| Registry::from_json(black_box(&doc)).map(|r| r.len()),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("registry_1m_bytes", |b| {
        b.iter_batched(
            || (),
            |()| Registry::from_bytes(black_box(&packed)).map(|r| r.len()),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("registry_1m_to_bytes", |b| {
        b.iter_batched(
            || (),
            |()| black_box(&registry).to_bytes().len(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(core_benches, benches);
criterion_main!(core_benches);
