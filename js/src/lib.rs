//! Phase-1 stub: proves the build pipeline before the core lands.
use wasm_bindgen::prelude::*;

/// The package version.
#[wasm_bindgen(js_name = version)]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").into()
}
