//! tokengate: checks dbt Cloud API tokens at the edge — their format, the account they are bound
//! to, and whether the endpoint or key type they use is deprecated or retired.
//!
//! The core is `no_std` with `alloc` so that one crate serves every front: an Envoy proxy-wasm
//! filter, a wasm-bindgen package and a native CLI. It does no I/O and reads no clock: callers pass
//! the policy, the request and `now` in and take a [`Decision`] out. No input panics it.
//!
//! ```
//! use tokengate::{Policy, Request};
//! let policy = Policy::from_json(r#"{"registry": {"tokens": []}}"#).unwrap();
//! let mut req = Request::new(b"GET", b"/api/v2/accounts/1/");
//! req.header(b"authorization", b"Token not-a-token");
//! let d = policy.decide(&req, 1_700_000_000);
//! assert_eq!((d.allow(), d.status(), d.code.as_str()), (false, 401, "malformed_token"));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

// The pipeline's stages, in the order a request meets them: `request` reads it (SPEC §2, §5),
// `policy` holds what it is decided against (§3, §4, §10), `token` classifies the credential
// (§1), `oauth` verifies JWTs (§11), `decide` runs the twelve steps (§6) and `render` writes
// replies and decision JSON (§7, §9).
mod decide;
pub mod fetched;
pub mod oauth;
mod policy;
mod render;
mod request;
mod token;

mod bytes;
mod code;
mod error;
mod messages;
mod time;

pub use bytes::Decimal;
pub use code::Code;
pub use decide::{Advice, Decision, HeaderValue, Verdict};
pub use error::{PolicyError, PolicyErrors};
pub use policy::{
    sha256, sha256_hex, ClientAction, ClientRule, Deprecation, FetchUrl, Hosts, IdentityHeaders,
    Mode, OAuth, Pattern, Policy, Registry, RegistrySource, RegistryUrl, TokenId, UntilLoaded,
    ADVICE_HEADER, WOULD_DENY_HEADER,
};
pub use render::Reply;
pub use request::{Request, MAX_HEADER_NAMES};
pub use time::{imf_fixdate, parse_rfc3339};
pub use token::{
    inspect, inspect_with, registrable_as, Inspection, Kind, Kinds, Problem, ProblemCode,
    DEFAULT_BODY_LENGTH,
};

#[cfg(test)]
mod example_policy_tests {
    #[test]
    fn bundled_example_policy_parses() {
        let p = crate::Policy::from_json(include_str!("../examples/policy.json")).unwrap();
        assert_eq!(p.registry().len(), 6);
        let r = crate::Registry::from_json(include_str!("../examples/registry.json")).unwrap();
        assert_eq!(r.len(), 6);
    }
}

/// Entry points into the parsers behind the decision, for fuzz targets only. Not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use alloc::string::String;

    /// What the credential parser makes of a request, as text (`Missing`, `Token(..)`, …).
    pub fn credential(req: &crate::Request<'_>, query: Option<&str>) -> String {
        alloc::format!("{:?}", crate::request::credential::extract(req, query))
    }

    /// The token the credential parser takes, without allocating (for benchmarks).
    pub fn credential_token<'a>(
        req: &crate::Request<'a>,
        query: Option<&'a str>,
    ) -> Option<&'a [u8]> {
        match crate::request::credential::extract(req, query) {
            crate::request::credential::Credential::Token(t) => Some(t),
            _ => None,
        }
    }

    /// The path and query of a target, or why it is ambiguous; with the path's account.
    pub fn target(target: &[u8]) -> Result<(String, Option<String>, Option<u64>), String> {
        let t = crate::request::read_path(target)
            .map_err(|a| String::from(crate::messages::ambiguity(a)))?;
        Ok((t.path.into(), t.query.map(String::from), t.account))
    }

    /// The path without its format suffix, as the restrictive rules also read it.
    pub fn unsuffixed(target: &[u8]) -> Option<String> {
        crate::request::read_path(target)
            .ok()
            .and_then(|t| t.unsuffixed.map(String::from))
    }

    /// The account a host names under `policy`.
    pub fn host_account(policy: &crate::Policy, authority: &[u8]) -> Option<u64> {
        crate::request::host_account(Some(authority), &policy.hosts)
    }

    /// The authority a request names, or why it is ambiguous.
    pub fn authority(req: &crate::Request<'_>) -> Result<Option<String>, String> {
        crate::request::authority(req)
            .map(|a| a.map(|a| String::from_utf8_lossy(a).into_owned()))
            .map_err(|e| String::from(crate::messages::ambiguity(e)))
    }

    /// Whether a route pattern parses, and whether it matches `path`.
    pub fn pattern(pattern: &str, path: &str) -> Option<bool> {
        crate::Pattern::parse(pattern).ok().map(|p| p.matches(path))
    }
}
