//! `tokengate`: the operator's front. It reads input, asks the core, and formats; it decides nothing.

mod cli;
mod exit;
mod jwt;
mod report;

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use tokengate::{inspect, parse_rfc3339, sha256_hex, Kind, Policy, Registry, Request};

use cli::{Cli, Command, PolicyCommand, RegistryCommand};
use exit::Exit;

/// A failure to report on stderr, with the exit code it leads to.
struct Failure(Exit, String);

type Outcome = Result<Exit, Failure>;

fn usage(msg: impl Into<String>) -> Failure {
    Failure(Exit::Usage, msg.into())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code.into(),
        Err(Failure(code, msg)) => {
            let _ = writeln!(io::stderr(), "tokengate: {msg}");
            code.into()
        }
    }
}

/// Print to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(usage(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}

/// One token from stdin; the newline that `echo` or a terminal adds is not part of it.
fn read_token() -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| usage(format!("cannot read the token from stdin: {e}")))?;
    if buf.ends_with(b"\n") {
        buf.pop();
        if buf.ends_with(b"\r") {
            buf.pop();
        }
    }
    Ok(buf)
}

/// `fetching`: the policy is checked for the Envoy fronts too (`policy check`), so a
/// `registry.url` is valid; `check` decides here and has no fetcher, so it refuses one.
fn read_policy(
    path: &std::path::Path,
    fetching: bool,
) -> Result<Result<Policy, tokengate::PolicyErrors>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(if fetching {
        Policy::from_json_fetching(&text)
    } else {
        Policy::from_json(&text)
    })
}

fn now_or(arg: Option<&str>) -> Result<i64, Failure> {
    match arg {
        Some(s) => parse_rfc3339(s)
            .ok_or_else(|| usage(format!("--now: expected an RFC 3339 date-time, got {s:?}"))),
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .map_err(|_| usage("the system clock is before 1970")),
    }
}

fn run(cli: Cli) -> Outcome {
    match cli.command {
        Command::Inspect { policy, now } => {
            let verifier = match &policy {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
                    let v = jwt::verifier(&text).map_err(|e| {
                        usage(format!("{} is not a valid policy:\n{e}", path.display()))
                    })?;
                    Some(v.ok_or_else(|| {
                        usage(format!(
                            "{} does not verify OAuth tokens (its oauth is not {{\"verify\": …}})",
                            path.display()
                        ))
                    })?)
                }
                None => None,
            };
            let now = now_or(now.as_deref())?;
            let token = read_token()?;
            let i = inspect(&token);
            if i.kind != Some(Kind::OAuth) {
                emit(&i.to_json())?;
                return Ok(if i.well_formed { Exit::Ok } else { Exit::No });
            }
            let mut out: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&i.to_json()).unwrap_or_default();
            let verified = jwt::describe(&token, &mut out, verifier.as_ref(), now);
            emit(&serde_json::Value::Object(out).to_string())?;
            Ok(if i.well_formed && verified {
                Exit::Ok
            } else {
                Exit::No
            })
        }
        Command::Hash => {
            let token = read_token()?;
            if token.is_empty() {
                return Err(usage("no token on stdin"));
            }
            emit(&sha256_hex(&token))?;
            Ok(Exit::Ok)
        }
        Command::Policy {
            command: PolicyCommand::Check { file },
        } => match read_policy(&file, true)? {
            Ok(p) => {
                emit(&format!("{}: ok: {}", file.display(), p.summary()))?;
                Ok(Exit::Ok)
            }
            Err(errs) => {
                let mut err = io::stderr().lock();
                for e in errs.errors() {
                    let _ = writeln!(err, "{}: {e}", file.display());
                }
                let n = errs.errors().len();
                let _ = writeln!(
                    err,
                    "{}: {n} error{}",
                    file.display(),
                    if n == 1 { "" } else { "s" }
                );
                Ok(Exit::No)
            }
        },
        Command::Check {
            policy,
            method,
            url,
            headers,
            now,
        } => {
            let policy = read_policy(&policy, false)?.map_err(|errs| {
                usage(format!(
                    "{} is not a valid policy:\n{errs}",
                    policy.display()
                ))
            })?;
            let now = now_or(now.as_deref())?;
            let pairs = headers
                .iter()
                .map(|h| {
                    h.split_once(':')
                        .filter(|(n, _)| !n.trim().is_empty())
                        .map(|(n, v)| (n.trim(), v.trim_start()))
                        .ok_or_else(|| {
                            usage(format!("--header: expected 'Name: value', got {h:?}"))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut req = Request::from_url(method.as_bytes(), &url);
            for (n, v) in &pairs {
                req.header(n.as_bytes(), v.as_bytes());
            }
            let d = policy.decide(&req, now);
            emit(&d.to_json())?;
            Ok(if d.allow() { Exit::Ok } else { Exit::No })
        }
        Command::Registry {
            command:
                RegistryCommand::Entry {
                    kind,
                    account,
                    expires,
                    token_id,
                    name,
                },
        } => registry_entry(&kind, account, expires, token_id, name),
        Command::Report(args) => match report::run(&args) {
            Ok(open) => Ok(if open { Exit::No } else { Exit::Ok }),
            Err(report::Error::Usage(m) | report::Error::Output(m)) => Err(usage(m)),
        },
    }
}

fn registry_entry(
    kind: &str,
    account: Option<String>,
    expires: Option<String>,
    token_id: Option<String>,
    name: Option<String>,
) -> Outcome {
    let kind = match Kind::parse(kind) {
        Some(k @ (Kind::Pat | Kind::Service | Kind::UserKey)) => k,
        _ => return Err(usage("--kind: expected pat, service or user_key")),
    };
    let token = read_token()?;
    // Register only what the edge will recognise; the core says what that is.
    if let Err(why) = tokengate::registrable_as(&token, kind) {
        return Err(Failure(
            Exit::No,
            format!(
                "the token on stdin is not a well-formed {}: {why}",
                kind.as_str()
            ),
        ));
    }
    let mut entry = serde_json::Map::new();
    entry.insert("sha256".into(), sha256_hex(&token).into());
    entry.insert("kind".into(), kind.as_str().into());
    if let Some(a) = account {
        entry.insert("account_id".into(), a.into());
    }
    if let Some(t) = token_id {
        entry.insert("token_id".into(), t.into());
    }
    if let Some(n) = name {
        entry.insert("name".into(), n.into());
    }
    if let Some(e) = expires {
        entry.insert("expires_at".into(), e.into());
    }
    let entry = serde_json::Value::Object(entry);
    // The core judges the entry exactly as it will when the policy loads.
    let doc = serde_json::json!({ "tokens": [entry] }).to_string();
    if let Err(errs) = Registry::from_json(&doc) {
        let msg = errs
            .errors()
            .iter()
            .map(|e| {
                e.to_string()
                    .replace("tokens[0].", "--")
                    .replace("account_id", "account")
                    .replace("expires_at", "expires")
            })
            .collect::<Vec<_>>()
            .join("\n");
        return Err(usage(msg));
    }
    emit(&entry.to_string())?;
    Ok(Exit::Ok)
}
