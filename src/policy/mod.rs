//! The policy (SPEC §4): one JSON document, the same for every front. This module holds the
//! validated types; `read` and `sections` read the document strictly (unknown fields, bad values
//! and impossible dates are errors with the field's path) and fail closed.

mod clients;
mod hosts;
pub(crate) mod json;
mod pattern;
mod read;
mod registry;
mod registry_read;
pub(crate) mod sections;

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

pub use clients::{ClientAction, ClientRule};
pub use hosts::Hosts;
pub use pattern::Pattern;
pub use registry::{sha256, sha256_hex, Registry, TokenId};

use crate::error::PolicyErrors;
use crate::token::Kinds;

/// Whether denials are enforced or only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Deny what fails.
    Enforce,
    /// Never deny; mark what would have been denied (a dry run).
    Report,
}

/// What to do with OAuth access tokens (JWTs).
#[derive(Clone, Debug)]
pub enum OAuth {
    /// Let them through unverified for the upstream to verify.
    Forward,
    /// Deny them.
    Reject,
    /// Verify them at the edge (SPEC §11) and bind their account claim.
    Verify(alloc::boxed::Box<crate::oauth::Verifier>),
}

/// What happens before a fetched registry has loaded once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UntilLoaded {
    /// Deny requests that need the registry (503 `registry_unavailable`).
    Deny,
    /// Let them through, marked `x-tokengate-would-deny: registry_unavailable`.
    Allow,
}

/// Where a front fetches a document from instead of taking it inline (the Envoy fronts do this):
/// the registry's `registry.url`, and the key set's `oauth.verify.jwks.url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchUrl {
    /// The Envoy cluster to call.
    pub cluster: String,
    /// The path of the document on it.
    pub path: String,
    /// The `:authority` to send; defaults to the cluster's name.
    pub authority: String,
    /// Seconds between fetches.
    pub refresh_seconds: u64,
    /// How long one fetch may take.
    pub timeout_ms: u64,
    /// What to do before the first successful fetch.
    pub until_loaded: UntilLoaded,
}

/// `registry.url`.
pub type RegistryUrl = FetchUrl;

/// Where the registry comes from: an explicit choice, so that a front that cannot fetch refuses a
/// fetched registry at load instead of answering 503 forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrySource {
    /// `registry.tokens`, in the document.
    Inline,
    /// `registry.url`, fetched by the front; `loaded` once a registry has been swapped in.
    Fetched {
        /// Where to fetch it.
        url: RegistryUrl,
        /// Whether a fetched registry is in force.
        loaded: bool,
    },
}

/// A deprecation window: `[deprecated_at, sunset_at)`, then retired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// Unix seconds.
    pub deprecated_at: i64,
    /// Unix seconds.
    pub sunset_at: i64,
    /// Where to read about it.
    pub link: Option<String>,
    /// `Deprecation`, `Sunset` and `Link` (RFC 9745, RFC 8594), rendered once at load so that an
    /// allowed request inside the window allocates nothing.
    pub(crate) headers: [(&'static str, String); 3],
}

impl Deprecation {
    pub(crate) fn new(deprecated_at: i64, sunset_at: i64, link: Option<String>) -> Self {
        let link_header = link
            .as_ref()
            .map_or_else(String::new, |l| format!("<{l}>; rel=\"deprecation\""));
        Deprecation {
            headers: [
                ("deprecation", format!("@{deprecated_at}")),
                ("sunset", crate::time::imf_fixdate(sunset_at)),
                ("link", link_header),
            ],
            deprecated_at,
            sunset_at,
            link,
        }
    }

    /// The response headers that announce it (no `Link` when it has no link).
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.headers
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (*n, v.as_str()))
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub pattern: Pattern,
    pub auth: bool,
    /// Upper-case; compared case-insensitively (servers behind upper-case the method).
    pub methods: Option<Vec<String>>,
    pub kinds: Kinds,
}

#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub pattern: Pattern,
    pub deprecation: Deprecation,
    /// The kinds it applies to; all by default (then it is decided before the credential).
    pub kinds: Kinds,
}

/// The upstream identity headers' names (lowercase).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// Carries the token's account id.
    pub account_id: String,
    /// Carries the token's kind.
    pub token_kind: String,
    /// Carries the token id.
    pub token_id: String,
}

/// The header that marks, in report mode, what would have been denied.
pub const WOULD_DENY_HEADER: &str = "x-tokengate-would-deny";
/// The header that carries a client rule's advice code upstream.
pub const ADVICE_HEADER: &str = "x-tokengate-advice";
/// Forwarded-host headers a client must not set (SPEC §5); `Forwarded` only when it names a host.
pub(crate) const FORWARDED_HOST_HEADER: &str = "x-forwarded-host";
pub(crate) const FORWARDED_HEADER: &str = "forwarded";

/// A validated policy. Cheap to share; decisions borrow it.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) mode: Mode,
    pub(crate) realm: String,
    pub(crate) body_min: usize,
    pub(crate) body_max: usize,
    /// Shared, so that a policy rebuilt for a new key set does not copy a million entries.
    pub(crate) registry: Arc<Registry>,
    pub(crate) source: RegistrySource,
    pub(crate) hosts: Hosts,
    pub(crate) routes: Vec<Route>,
    pub(crate) user_keys: Option<Deprecation>,
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) clients: Vec<ClientRule>,
    pub(crate) oauth: OAuth,
    pub(crate) query_token: bool,
    pub(crate) identity: IdentityHeaders,
    /// Every header name step 1 removes from client requests (lowercase).
    pub(crate) strip: Vec<String>,
}

impl Policy {
    /// Parse and validate a policy for a front that cannot fetch (the CLI, the JS package): a
    /// `registry.url` is refused with an error naming it. Every error has its field path.
    pub fn from_json(json: &str) -> Result<Policy, PolicyErrors> {
        read::policy(json, false)
    }

    /// Parse and validate a policy for a front that fetches `registry.url` (the Envoy fronts).
    pub fn from_json_fetching(json: &str) -> Result<Policy, PolicyErrors> {
        read::policy(json, true)
    }

    /// Whether denials are enforced or only reported.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The registry in force.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Swap in a registry fetched from elsewhere; it counts as loaded from then on.
    pub fn set_registry(&mut self, registry: Registry) {
        self.registry = Arc::new(registry);
        if let RegistrySource::Fetched { loaded, .. } = &mut self.source {
            *loaded = true;
        }
    }

    /// Where the registry comes from.
    pub fn registry_source(&self) -> &RegistrySource {
        &self.source
    }

    /// Where to fetch the registry from, when the policy names a `registry.url`.
    pub fn registry_url(&self) -> Option<&RegistryUrl> {
        match &self.source {
            RegistrySource::Fetched { url, .. } => Some(url),
            RegistrySource::Inline => None,
        }
    }

    /// Where to fetch the OAuth key set from, when the policy verifies JWTs with a `jwks.url`.
    pub fn jwks_url(&self) -> Option<&crate::oauth::JwksUrl> {
        match &self.oauth {
            OAuth::Verify(v) => v.jwks_url(),
            OAuth::Forward | OAuth::Reject => None,
        }
    }

    /// How OAuth tokens are treated.
    pub fn oauth(&self) -> &OAuth {
        &self.oauth
    }

    /// Swap in a key set fetched from `jwks.url`; it counts as loaded from then on, and tokens
    /// verified with the previous set are verified again. No effect without `oauth.verify`.
    pub fn set_jwks(&mut self, keys: crate::oauth::KeySet) {
        if let OAuth::Verify(v) = &mut self.oauth {
            v.set_keys(keys);
        }
    }

    pub(crate) fn registry_loaded(&self) -> bool {
        !matches!(self.source, RegistrySource::Fetched { loaded: false, .. })
    }

    /// The upstream identity headers' names.
    pub fn identity_headers(&self) -> &IdentityHeaders {
        &self.identity
    }

    /// Lowercase names of the headers step 1 removes from every client request: the identity
    /// headers, `x-tokengate-would-deny`, `x-tokengate-advice`, `x-forwarded-host` (and, when it
    /// names a host, `forwarded`). Spellings a server reads as the same name go too.
    pub fn strip_headers(&self) -> &[String] {
        &self.strip
    }

    /// One line about the policy for operators and logs; it never shows a token or digest.
    pub fn summary(&self) -> String {
        let registry = match &self.source {
            RegistrySource::Fetched { url, .. } => format!(
                "registry fetched from cluster {} every {}s",
                url.cluster, url.refresh_seconds
            ),
            RegistrySource::Inline => format!("{} registered tokens", self.registry.len()),
        };
        let user_keys = match &self.user_keys {
            Some(d) => format!("user keys sunset {}", crate::time::date(d.sunset_at)),
            None => String::from("user keys not deprecated"),
        };
        let mut line = format!(
            "mode {}, {registry}, {} routes, {} deprecated endpoints, {user_keys}, {} host prefixes",
            self.mode,
            self.routes.len(),
            self.endpoints.len(),
            self.hosts.len()
        );
        if !self.clients.is_empty() {
            line.push_str(&format!(", {} client rules", self.clients.len()));
        }
        match &self.oauth {
            OAuth::Forward => line.push_str(", OAuth tokens forwarded"),
            OAuth::Reject => line.push_str(", OAuth tokens rejected"),
            OAuth::Verify(v) => {
                let algs: Vec<&str> = v.algorithms().map(|a| a.name()).collect();
                let keys = match v.jwks_url() {
                    Some(j) => format!(
                        "keys fetched from cluster {} every {}s",
                        j.url.cluster, j.url.refresh_seconds
                    ),
                    None => format!("{} keys", v.key_count()),
                };
                line.push_str(&format!(
                    ", OAuth tokens verified ({}; {keys}{})",
                    algs.join(", "),
                    if v.binds_account() {
                        "; account claim bound"
                    } else {
                        ""
                    }
                ));
            }
        }
        line
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        })
    }
}
