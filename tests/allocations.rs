//! The allow path allocates nothing (issue 9): a counting global allocator around `decide` and
//! the edits a front applies. Denials allocate nothing to decide either; their text is rendered
//! only when a front asks for the reply, and that count is bounded here too.

// A global allocator cannot be written without unsafe; the core itself forbids it. A test may
// panic: that is how it fails.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tokengate::{Policy, Request};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

fn fixture(name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(include_str!("fixtures/tokens.json")).unwrap();
    v["tokens"][name].as_str().unwrap().to_string()
}

const NOW: i64 = 1_795_000_000;

/// Decide, apply every edit the way a front does, and count what that allocated.
fn edits_allocations(policy: &Policy, path: &str, token: &str, host: &str) -> (bool, usize) {
    let auth = format!("Token {token}");
    let mut req = Request::new(b"GET", path.as_bytes());
    req.header(b":authority", host.as_bytes());
    req.header(b"authorization", auth.as_bytes());
    req.header(b"user-agent", b"curl/8.5.0");
    req.header(b"x-dbt-account-id", b"1");
    req.header(b"accept", b"application/json");
    count(|| {
        let d = policy.decide(&req, NOW);
        let mut sink = 0usize;
        for name in d.remove_headers() {
            sink += name.len();
        }
        for (name, value) in d.set_headers() {
            sink += name.len() + value.as_str().len();
        }
        for (name, value) in d.response_headers() {
            sink += name.len() + value.len();
        }
        std::hint::black_box(sink);
        d.allow()
    })
}

#[test]
fn allow_and_common_denials_allocate_nothing_to_decide() {
    let policy = Policy::from_json(include_str!("../examples/policy.json")).unwrap();
    let jobs = "/api/v2/accounts/70471823510118/jobs/";
    let (allowed, n) = edits_allocations(&policy, jobs, &fixture("pat_spice"), "ab123.us1.dbt.com");
    assert!(allowed);
    assert_eq!(n, 0, "the allow path allocated");
    let (allowed, n) =
        edits_allocations(&policy, jobs, &fixture("service_spice"), "cloud.getdbt.com");
    assert!(allowed);
    assert_eq!(n, 0, "the allow path allocated (service token)");
    for (token, host) in [
        ("dbtu_short", "ab123.us1.dbt.com"),                  // malformed
        (fixture("pat_guild").as_str(), "ab123.us1.dbt.com"), // account mismatch
        (fixture("service_revoked").as_str(), "ab123.us1.dbt.com"),
    ] {
        let (allowed, n) = edits_allocations(&policy, jobs, token, host);
        assert!(!allowed);
        assert_eq!(n, 0, "deciding a denial allocated");
    }
}

#[test]
fn a_denials_reply_is_rendered_on_demand_with_few_allocations() {
    let policy = Policy::from_json(include_str!("../examples/policy.json")).unwrap();
    let mut req = Request::new(b"GET", b"/api/v2/accounts/70471823510118/jobs/");
    req.header(b"authorization", b"Token dbtu_short");
    let d = policy.decide(&req, NOW);
    let (reply, n) = count(|| d.reply());
    let reply = reply.unwrap();
    assert_eq!(reply.status, 401);
    // The message, the WWW-Authenticate value, the header list, its values and the body.
    assert!(n <= 12, "rendering the reply took {n} allocations");
}
