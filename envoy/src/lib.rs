//! tokengate as a proxy-wasm HTTP filter for Envoy.
//!
//! This crate translates and nothing more: the policy comes from the plugin configuration, each
//! request's headers go to the core (`tokengate::Policy::decide`), and the decision goes back to
//! Envoy as a local reply or as headers on the upstream request and response. Every host call
//! goes through `host`, whose wrappers return the host's status instead of panicking, because a
//! panic would abort the VM for every request after it.

mod export;
mod fetch;
mod filter;
mod host;
mod metrics;
mod pairs;
mod root;
mod sync;

use proxy_wasm::traits::RootContext;

proxy_wasm::main! {{
    // A panic is a bug; say where in Envoy's log before the VM aborts (and FAIL_RELOAD reloads it).
    std::panic::set_hook(Box::new(|info| {
        host::log(host::LogLevel::Critical, &format!("panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_context_id| -> Box<dyn RootContext> { Box::new(root::Root::new(host::Envoy)) });
}}

#[cfg(test)]
mod fake;
#[cfg(test)]
mod root_tests;
#[cfg(test)]
mod tests;
