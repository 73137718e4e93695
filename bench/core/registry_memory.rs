//! Resident memory of a loaded million-entry policy, per entry. Each run is a fresh process, since

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core
)]
//! an allocator keeps what it was once given; prints one JSON line per run.

use std::process::Command;

mod support;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn probe(n: u64) {
    let before = rss_bytes();
    let json = support::policy_json(n);
    let t0 = std::time::Instant::now();
    let policy = tokengate::Policy::from_json(&json).expect("policy");
    let secs = t0.elapsed().as_secs_f64();
    drop(json);
    let after = rss_bytes();
    assert_eq!(policy.registry().len() as u64, n);
    println!(
        "{{\"entries\":{n},\"load_seconds\":{secs:.4},\"rss_bytes\":{},\"bytes_per_entry\":{:.1},\"table_bytes_per_entry\":{}}}",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / n as f64,
        tokengate::Registry::ENTRY_BYTES
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--probe")
        .and_then(|i| args.get(i + 1))
    {
        probe(n.parse().expect("entries"));
        return;
    }
    // `cargo bench` passes `--bench`; anything else (a test run) does one small probe only.
    let runs: usize = std::env::var("TOKENGATE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let n = if args.iter().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    };
    for _ in 0..runs {
        let out = Command::new(&args[0])
            .args(["--probe", &n.to_string()])
            .output()
            .expect("run probe");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
    }
}
