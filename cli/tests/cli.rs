//! The CLI as a new user meets it: the README's example policy, tokens on stdin, decisions as JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example() -> PathBuf {
    root().join("examples/policy.json")
}

fn fixture(name: &str) -> String {
    let text = std::fs::read_to_string(root().join("tests/fixtures/tokens.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["tokens"][name].as_str().unwrap().to_string()
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its arguments exits before reading stdin: a closed pipe is fine.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    child.wait_with_output().unwrap()
}

const NOW: &str = "2026-11-28T00:00:00Z";

/// `tokengate check` on the example policy; returns (exit code, decision).
fn check(method: &str, url: &str, token: Option<&str>) -> (i32, Value) {
    let auth = token.map(|t| format!("Authorization: Token {t}"));
    let policy = example();
    let mut args = vec![
        "check",
        "--policy",
        policy.to_str().unwrap(),
        "--method",
        method,
        "--url",
        url,
        "--now",
        NOW,
    ];
    if let Some(a) = &auth {
        args.extend(["--header", a.as_str()]);
    }
    let out = run(&args, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    if let Some(t) = token {
        assert!(!stdout.contains(t), "the token came back: {stdout}");
    }
    (
        out.status.code().unwrap(),
        serde_json::from_str(&stdout).unwrap(),
    )
}

#[test]
fn decisions_on_the_example() {
    let spice = "https://ab123.us1.dbt.com/api/v2/accounts/70471823510118/jobs/";
    let (code, d) = check("GET", spice, Some(&fixture("pat_spice")));
    assert_eq!(
        (code, d["allow"].as_bool(), d["code"].as_str()),
        (0, Some(true), Some("ok"))
    );
    assert_eq!(d["account_id"], "70471823510118");
    assert_eq!(d["upstream_headers"]["x-dbt-token-kind"], "pat");

    // Paul's Spice token on the Guild account: tokens are per account now.
    let guild = "https://gn456.us1.dbt.com/api/v2/accounts/9007199254740993/jobs/";
    let (code, d) = check("GET", guild, Some(&fixture("pat_spice")));
    assert_eq!(
        (code, d["status"].as_u64(), d["code"].as_str()),
        (1, Some(403), Some("account_mismatch"))
    );
    let (code, d) = check("GET", guild, Some(&fixture("pat_guild")));
    assert_eq!(
        (code, d["account_id"].as_str()),
        (0, Some("9007199254740993"))
    );

    // The cross-account endpoints are retired for legacy keys only (SPEC §4): the Terraform
    // provider lists /api/v2/accounts/ with its service token at start-up, and an account-scoped
    // token is answered for its one account.
    for token in ["service_spice", "pat_spice"] {
        let (code, d) = check(
            "GET",
            "https://cloud.getdbt.com/api/v2/accounts/",
            Some(&fixture(token)),
        );
        assert_eq!((code, d["code"].as_str()), (0, Some("ok")), "{token}");
        assert_eq!(d["account_id"], "70471823510118");
    }
    // A legacy key there is refused, already as a retired key (step 8 comes first).
    let (code, d) = check(
        "GET",
        "https://cloud.getdbt.com/api/v3/accounts/",
        Some(&fixture("user_key")),
    );
    assert_eq!((code, d["status"].as_u64()), (1, Some(401)));

    // The legacy key, retired.
    let (code, d) = check("GET", spice, Some(&fixture("user_key")));
    assert_eq!((code, d["code"].as_str()), (1, Some("user_key_retired")));
    assert!(d["message"]
        .as_str()
        .unwrap()
        .contains("Settings > Access Token"));

    // A token cut short.
    let cut = &fixture("pat_spice")[..40];
    let (code, d) = check("GET", spice, Some(cut));
    assert_eq!((code, d["code"].as_str()), (1, Some("malformed_token")));

    // Production jobs run with service tokens only.
    let run_url = "https://ab123.us1.dbt.com/api/v2/accounts/70471823510118/jobs/42/run/";
    let (_, d) = check("POST", run_url, Some(&fixture("pat_spice")));
    assert_eq!(d["code"], "token_kind_not_allowed");
    let (code, d) = check("POST", run_url, Some(&fixture("service_spice")));
    assert_eq!(
        (code, d["token_id"].as_str()),
        (0, Some("svc-harvest-prod"))
    );

    let (code, d) = check("GET", "/health", None);
    assert_eq!((code, d["allow"].as_bool()), (0, Some(true)));
    let (code, d) = check("GET", spice, None);
    assert_eq!((code, d["code"].as_str()), (1, Some("missing_token")));
    assert_eq!(
        d["response_headers"]["www-authenticate"],
        "Bearer realm=\"dbt\""
    );
}

#[test]
fn headers_and_accept() {
    let policy = example();
    let token = fixture("pat_unregistered");
    let auth = format!("authorization: Bearer {token}");
    let out = run(
        &[
            "check",
            "--policy",
            policy.to_str().unwrap(),
            "--url",
            "/api/v2/accounts/70471823510118/",
            "-H",
            &auth,
            "-H",
            "Accept: application/problem+json",
            "--now",
            NOW,
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["code"], "invalid_token");
    assert_eq!(
        d["response_headers"]["content-type"],
        "application/problem+json"
    );
    let body: Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], 401);
}

#[test]
fn hash_and_inspect_read_stdin() {
    let t = fixture("service_spice");
    let out = run(&["hash"], &format!("{t}\n"));
    assert!(out.status.success());
    let digest = String::from_utf8(out.stdout).unwrap();
    let policy = std::fs::read_to_string(example()).unwrap();
    assert!(
        policy.contains(digest.trim()),
        "hash must match the example registry's digest"
    );
    assert_eq!(digest.trim().len(), 64);

    let out = run(&["inspect"], &t);
    assert_eq!(out.status.code(), Some(0));
    let i: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (i["kind"].as_str(), i["well_formed"].as_bool()),
        (Some("service"), Some(true))
    );

    let out = run(&["inspect"], &format!("Bearer {t} "));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(&t));
    let i: Value = serde_json::from_str(&text).unwrap();
    let codes: Vec<&str> = i["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["whitespace", "scheme_included"]);

    let out = run(&["hash"], "");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn policy_check_reports_every_error_with_paths() {
    let out = run(&["policy", "check", example().to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.contains("ok: mode enforce, 6 registered tokens"),
        "{line}"
    );

    let dir = std::env::temp_dir().join(format!("tokengate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"mode": "strict", "registry": {"tokens": [{"sha256": "00", "kind": "pat"}]}, "routes": [{"path": "/a", "allow_kinds": []}]}"#).unwrap();
    let out = run(&["policy", "check", bad.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    for path in [
        "mode:",
        "registry.tokens[0].sha256:",
        "registry.tokens[0].account_id:",
        "routes[0].allow_kinds:",
        "4 errors",
    ] {
        assert!(err.contains(path), "{path} not in {err}");
    }
    // check with a bad policy is a usage error.
    let out = run(
        &["check", "--policy", bad.to_str().unwrap(), "--url", "/"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &[
            "policy",
            "check",
            dir.join("missing.json").to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn registry_entry_round_trips_into_a_policy() {
    let t = fixture("pat_unregistered");
    let out = run(
        &[
            "registry",
            "entry",
            "--kind",
            "pat",
            "--account",
            "70471823510118",
            "--expires",
            "2030-01-01T00:00:00Z",
        ],
        &format!("{t}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!String::from_utf8(out.stdout.clone()).unwrap().contains(&t));
    assert_eq!(entry["kind"], "pat");

    // Add it to the example and the token that was unknown is now allowed.
    let mut policy: Value =
        serde_json::from_str(&std::fs::read_to_string(example()).unwrap()).unwrap();
    policy["registry"]["tokens"]
        .as_array_mut()
        .unwrap()
        .push(entry);
    let path = std::env::temp_dir().join(format!("tokengate-entry-{}.json", std::process::id()));
    std::fs::write(&path, policy.to_string()).unwrap();
    let auth = format!("Authorization: Token {t}");
    let out = run(
        &[
            "check",
            "--policy",
            path.to_str().unwrap(),
            "--url",
            "/api/v2/accounts/70471823510118/",
            "-H",
            &auth,
            "--now",
            NOW,
        ],
        "",
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Kinds that do not fit the token, or an account missing, are refused.
    let out = run(
        &["registry", "entry", "--kind", "service", "--account", "1"],
        &t,
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["registry", "entry", "--kind", "pat"], &t);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("account"));
    let out = run(
        &["registry", "entry", "--kind", "user_key"],
        &fixture("user_key"),
    );
    assert!(out.status.success());
    let out = run(&["registry", "entry", "--kind", "robot"], &t);
    assert_eq!(out.status.code(), Some(2));
}

/// docs/clients.md: the unverified client rules ship in their own example, which is the default
/// example plus those rules, and both load.
#[test]
fn the_unverified_clients_example_is_the_example_plus_its_rules() {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(root().join("examples").join(name)).unwrap())
            .unwrap()
    };
    let (base, more) = (read("policy.json"), read("policy-unverified-clients.json"));
    for name in ["policy.json", "policy-unverified-clients.json"] {
        let path = root().join("examples").join(name);
        let out = run(&["policy", "check", path.to_str().unwrap()], "");
        assert_eq!(out.status.code(), Some(0), "{name}: {out:?}");
    }
    let names = |v: &Value| -> Vec<String> {
        v["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&base), ["production Terraform"]);
    assert_eq!(
        names(&more),
        [
            "production Terraform",
            "Hightouch",
            "Datafold",
            "dbt Cloud CLI",
            "Semantic Layer Sheets"
        ]
    );
    let (mut a, mut b) = (base.clone(), more.clone());
    a.as_object_mut().unwrap().remove("clients");
    b.as_object_mut().unwrap().remove("clients");
    assert_eq!(a, b);
}
