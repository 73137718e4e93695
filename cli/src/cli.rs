//! The command line, as clap reads it. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Check dbt Cloud API tokens the way the tokengate edge filter does.
///
/// Tokens are read from standard input, never from arguments: arguments show up in `ps` and in
/// shell history.
#[derive(Parser, Debug)]
#[command(name = "tokengate", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read one token from stdin and print what it looks like (kind, problems) as JSON.
    ///
    /// An OAuth token (a JWT) also shows its header and claims, never its signature; with
    /// `--policy`, every check of the policy's `oauth.verify` it fails. Exit 0 when it is a
    /// well-formed token (and, with `--policy`, verifies), 1 when it is not.
    Inspect {
        /// A policy whose `oauth.verify` the JWT is checked against.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The moment to check `exp` and `nbf` at, RFC 3339; default now.
        #[arg(long)]
        now: Option<String>,
    },
    /// Read one token from stdin and print its lowercase hex SHA-256, as the registry stores it.
    Hash,
    /// Work with policy files.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Decide one request against a policy and print the decision as JSON.
    ///
    /// Exit 0 when allowed (also in report mode), 1 when denied, 2 on bad usage or a bad policy.
    Check {
        /// The policy file (JSON).
        #[arg(long)]
        policy: PathBuf,
        /// The HTTP method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// An absolute URL (its host can name the account) or a path with its query.
        #[arg(long)]
        url: String,
        /// A request header as 'Name: value'; repeat for more.
        #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The moment to decide at, RFC 3339; default now.
        #[arg(long)]
        now: Option<String>,
    },
    /// Work with registry entries.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Read Envoy access-log lines and print the migration checklist (SPEC §12).
    ///
    /// Who still calls with legacy user API keys, who calls retired or deprecated endpoints,
    /// which personal access tokens are used by clients that should use service tokens, and
    /// which tokens call accounts they are not bound to. Reads JSON lines (the format of
    /// envoy/README.md) from files or stdin, plain or gzip, in bounded memory.
    ///
    /// Exit 0 when nothing is left to migrate, 1 when the checklist has entries, 2 on bad usage
    /// or an unreadable input.
    Report(crate::report::Args),
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate a policy: exit 0 with a one-line summary, or 1 with every error and its field path.
    Check {
        /// The policy file (JSON).
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Read one token from stdin and print its registry entry (the digest, never the token).
    Entry {
        /// pat, service or user_key.
        #[arg(long)]
        kind: String,
        /// The account the token is bound to (required for pat and service).
        #[arg(long)]
        account: Option<String>,
        /// When it expires, RFC 3339.
        #[arg(long)]
        expires: Option<String>,
        /// An id to show in logs and headers instead of the digest's first 12 hex characters.
        #[arg(long)]
        token_id: Option<String>,
        /// A name for people.
        #[arg(long)]
        name: Option<String>,
    },
}
