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
//! assert_eq!((d.allow, d.status, d.code.as_str()), (false, 401, "malformed_token"));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod code;
mod credential;
mod decision;
mod error;
mod hosts;
mod jsonin;
mod jsonout;
mod pattern;
mod policy;
mod registry;
mod render;
mod request;
mod time;
mod token;

pub use code::Code;
pub use decision::Decision;
pub use error::{PolicyError, PolicyErrors};
pub use pattern::Pattern;
pub use policy::{Deprecation, Mode, OAuth, Policy, RegistryUrl, UntilLoaded, WOULD_DENY_HEADER};
pub use registry::{sha256_hex, Registry};
pub use request::Request;
pub use time::{imf_fixdate, parse_rfc3339};
pub use token::{
    inspect, inspect_with, Inspection, Kind, Problem, ProblemCode, DEFAULT_BODY_LENGTH,
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
