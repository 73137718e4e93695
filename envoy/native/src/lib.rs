//! tokengate as a native Envoy HTTP filter: an Envoy 1.40 dynamic module (`libtokengate.so`).
//!
//! Like the proxy-wasm filter in `envoy/src`, it translates and decides nothing: the policy comes
//! from `filter_config`, the request headers go to the core (`tokengate::Policy::decide`), and
//! the decision goes back to Envoy as a local reply, or as headers on the upstream request and
//! response, plus dynamic metadata and counters. Unlike it, it runs in Envoy's own process: no
//! VM, no copy of the header map, one policy shared by every worker.
//!
//! All `unsafe` is in `abi/` (the C ABI, pinned to Envoy 1.40, ABI `v0.2.0`); the filter code
//! above it is safe Rust, written against the two traits of `host`.

// Under test the ABI is left out, so what only it calls looks unused.
#![cfg_attr(test, allow(dead_code))]

mod config;
mod fetch;
mod filter;
mod host;
mod metrics;

// The ABI's declarations name symbols only Envoy defines: a unit-test binary could not link them.
#[cfg(not(test))]
mod abi;
