//! A proxy-wasm HTTP filter that does nothing but let every request through.
//!
//! It is built with the same SDK and the same `wasm` profile as the tokengate filter, so that
//! Envoy's cost of running *any* proxy-wasm filter (VM entry per callback, context bookkeeping in
//! the SDK) can be measured apart from the cost of tokengate's own work.

use proxy_wasm::traits::{Context, HttpContext};

struct Noop;

impl Context for Noop {}
impl HttpContext for Noop {}

proxy_wasm::main! {{
    proxy_wasm::set_http_context(|_context_id, _root_context_id| -> Box<dyn HttpContext> { Box::new(Noop) });
}}
