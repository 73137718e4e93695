//! `tokengate report` as an operator runs it: access-log lines in (files, stdin, gzip), the
//! checklist out in each format, with the exit code saying whether anything is left to do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .arg("report")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Written from a thread: a large input must not block on a full pipe while the report
    // writes its own output.
    let writer = std::thread::spawn(move || match pipe.write_all(&data) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

const PAT: &str = "dbtu_wQsNbpwWTLDOhik429O04cl7jxNUO_ELvy5DgCZQL0dWjff-XX";

/// Mixed traffic as the shipped access-log format writes it, with one broken line.
fn log() -> String {
    [
        r#"{"time":"2026-11-02T10:00:00.120Z","method":"GET","path":"/api/v2/accounts/70471823510118/jobs/","status":200,"user_agent":"curl/8.5.0","code":"ok","token_id":"5afafbda4476","token_kind":"user_key","account_id":null,"client":null,"would_deny":null,"advice":"user_key_deprecated"}"#,
        r#"{"time":"2026-11-01T09:00:00.000Z","method":"GET","path":"/api/v2/accounts/","status":200,"user_agent":"python-requests/2.31","code":"endpoint_sunset","token_id":"5afafbda4476","token_kind":"user_key","would_deny":"endpoint_sunset"}"#,
        r#"{"time":"2026-11-01T09:30:00.000Z","method":"GET","path":"/api/v2/accounts/","status":200,"user_agent":"python-requests/2.31","code":"endpoint_sunset","token_id":"aaaaaaaaaaaa","token_kind":"user_key","would_deny":"endpoint_sunset"}"#,
        r#"{"time":"2026-11-03T00:00:00.000Z","method":"GET","path":"/api/v2/accounts/70471823510118/projects/12/","status":200,"user_agent":"terraform-provider-dbtcloud/1.3.0","code":"ok","token_id":"64e4c07917ae","token_kind":"pat","account_id":"70471823510118","client":"production Terraform","advice":"service_token_advised"}"#,
        r#"{"time":"2026-11-03T00:00:01.000Z","method":"GET","path":"/api/v2/accounts/9007199254740993/","status":200,"user_agent":"curl/8.5.0","code":"account_mismatch","token_id":"64e4c07917ae","token_kind":"pat","would_deny":"account_mismatch"}"#,
        r#"{"time":"2026-11-03T00:00:02.000Z","method":"GET","path":"/api/v2/accounts/70471823510118/","status":200,"user_agent":"terraform-provider-dbtcloud/1.3.0","code":"ok","token_id":"svc-harvest-prod","token_kind":"service","account_id":"70471823510118","client":"production Terraform"}"#,
        "this line is not JSON",
        "",
        r#"{"time":"2026-11-03T00:00:03.000Z","method":"GET","path":"/health","status":200,"user_agent":"kube-probe/1.31","code":"ok"}"#,
    ]
    .join("\n")
        + "\n"
}

fn registry() -> String {
    root().join("examples/policy.json").display().to_string()
}

#[test]
fn json_has_spec_shape_and_the_expected_lists() {
    let reg = registry();
    let out = run(&["--format", "json", "--registry", &reg], log().as_bytes());
    assert_eq!(out.status.code(), Some(1), "entries left: exit 1");
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "requests",
            "from",
            "to",
            "legacy_keys",
            "retired_endpoints",
            "service_token_advised",
            "account_mismatches",
            "deprecated_endpoints",
            "unparseable_lines"
        ]
    );
    assert_eq!(v["requests"], 7);
    assert_eq!(v["unparseable_lines"], 1);
    assert_eq!(v["from"], "2026-11-01T09:00:00Z");
    assert_eq!(v["to"], "2026-11-03T00:00:03Z");

    let legacy = v["legacy_keys"].as_array().unwrap();
    assert_eq!(legacy.len(), 2);
    assert_eq!(
        legacy[0],
        serde_json::json!({
            "token_id": "5afafbda4476", "name": "paul-legacy-key", "user_id": "1001", "requests": 2,
            "first_seen": "2026-11-01T09:00:00Z", "last_seen": "2026-11-02T10:00:00Z",
            "user_agents": ["curl/8.5.0", "python-requests/2.31"],
            "endpoints": ["/api/v2/accounts/", "/api/v2/accounts/{id}/jobs/"]
        })
    );
    assert_eq!(legacy[1]["token_id"], "aaaaaaaaaaaa");
    assert_eq!(legacy[1]["name"], Value::Null);

    assert_eq!(
        v["retired_endpoints"],
        serde_json::json!([{"endpoint": "/api/v2/accounts/", "requests": 2,
            "token_ids": ["5afafbda4476", "aaaaaaaaaaaa"], "user_agents": ["python-requests/2.31"]}])
    );
    assert_eq!(
        v["service_token_advised"],
        serde_json::json!([{"token_id": "64e4c07917ae", "name": "paul-spice-cli",
            "client": "production Terraform", "requests": 1,
            "user_agents": ["terraform-provider-dbtcloud/1.3.0"]}])
    );
    assert_eq!(
        v["account_mismatches"],
        serde_json::json!([{"token_id": "64e4c07917ae", "requests": 1, "endpoints": ["/api/v2/accounts/{id}/"]}])
    );
}

#[test]
fn the_terminal_report_fits_a_screen_and_says_what_to_do() {
    let reg = registry();
    let out = run(&["--registry", &reg], log().as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.lines().count() <= 40, "{text}");
    assert!(text
        .starts_with("tokengate report: 7 requests, 2026-11-01T09:00:00Z to 2026-11-03T00:00:03Z"));
    assert!(text.contains("1 unparseable line skipped"));
    assert!(text.contains(
        "1. Legacy user API keys: 2 keys, 3 requests. Next: give each user a personal access token"
    ));
    assert!(text.contains("paul-legacy-key (user 1001, 5afafbda4476)"));
    assert!(text.contains("3. Deprecated endpoints still called: none seen."));
    assert!(text.contains("client: production Terraform"));
    for l in text.lines() {
        assert!(
            l.chars().count() <= 200,
            "a line too long for a terminal: {l}"
        );
    }
}

#[test]
fn markdown_and_html_list_every_row_escaped_and_self_contained() {
    let hostile = r#"{"time":"2026-11-05T00:00:00Z","path":"/api/v2/accounts/","code":"endpoint_sunset","token_kind":"user_key","token_id":"bbbbbbbbbbbb","user_agent":"<script>alert(1)</script>|`x`"}"#;
    let input = format!("{}{hostile}\n", log());
    let md = stdout(&run(&["--format", "markdown"], input.as_bytes()));
    assert!(md.starts_with("# tokengate migration report"));
    assert!(md.contains("| 5afafbda4476 | 2 |"), "{md}");
    assert!(md.contains("\\<script\\>") && !md.contains("<script>"));

    let html = stdout(&run(&["--format", "html"], input.as_bytes()));
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script"));
    for asset in ["src=", "href=", "url(", "@import", "<link"] {
        assert!(!html.contains(asset), "external asset marker {asset}");
    }
    // The chart: one point per day per series.
    assert_eq!(html.matches("<circle").count(), 2 * 4);
}

#[test]
fn files_gzip_and_stdin_give_the_same_report() {
    use flate2::{write::GzEncoder, Compression};
    let dir = std::env::temp_dir().join(format!("tokengate-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lines = log();
    // Split after the fourth line: half plain, half gzip.
    let split = lines.match_indices('\n').nth(3).unwrap().0 + 1;
    let (a, b) = lines.split_at(split);
    let plain = dir.join("access.log");
    std::fs::write(&plain, a).unwrap();
    let gz = dir.join("access.log.1"); // rotated logs keep no .gz suffix in some setups
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(b.as_bytes()).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();

    let json = |o: Output| -> Value { serde_json::from_str(&stdout(&o)).unwrap() };
    let from_stdin = json(run(&["--format", "json"], lines.as_bytes()));
    let from_files = json(run(
        &[
            "--format",
            "json",
            plain.to_str().unwrap(),
            gz.to_str().unwrap(),
        ],
        b"",
    ));
    let mixed = json(run(
        &["--format", "json", plain.to_str().unwrap(), "-"],
        b.as_bytes(),
    ));
    assert_eq!(from_stdin, from_files);
    assert_eq!(from_stdin, mixed);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_clean_log_exits_0_and_a_missing_file_exits_2() {
    let clean = r#"{"time":"2026-11-05T00:00:00Z","path":"/api/v2/accounts/1/jobs/","code":"ok","token_kind":"service","token_id":"s"}"#;
    let out = run(&[], clean.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("1. Legacy user API keys: none seen."));

    let out = run(&["/nonexistent/access.log"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/access.log"));

    let out = run(&["--registry", "/nonexistent/registry.json"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn garbage_is_counted_never_fatal_and_progress_goes_to_stderr() {
    let mut input = Vec::new();
    for i in 0..2000 {
        input.extend_from_slice(log().as_bytes());
        input.extend_from_slice(&[0xff, 0xfe, b'{', b'\n']);
        input.extend_from_slice(format!("{{\"code\": [{i}]}}\n").as_bytes());
    }
    input.extend_from_slice(&vec![b'x'; 2 << 20]); // one line over the limit, no newline
    let out = run(&["--format", "json", "--progress-every", "65536"], &input);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["requests"], 7 * 2000);
    assert_eq!(v["unparseable_lines"], 3 * 2000 + 1);
    let err = String::from_utf8_lossy(&out.stderr);
    let progress: Vec<_> = err
        .lines()
        .filter(|l| l.starts_with("tokengate report: "))
        .collect();
    assert!(progress.len() >= 5, "{err}");
    assert!(progress[0].contains("lines read"));

    let quiet = run(
        &["--format", "json", "--quiet", "--progress-every", "65536"],
        &input,
    );
    assert!(quiet.stderr.is_empty());
}

#[test]
fn no_token_comes_back_even_from_a_path() {
    let line = format!(
        r#"{{"time":"2026-11-05T00:00:00Z","path":"/api/v2/accounts/{PAT}/","code":"account_mismatch","token_kind":"pat","token_id":"x"}}"#
    );
    for format in ["text", "json", "markdown", "html"] {
        let out = stdout(&run(&["--format", format], line.as_bytes()));
        assert!(!out.contains(PAT), "{format}: {out}");
        assert!(out.contains("{redacted}"), "{format}");
    }
}
