//! wasm-bindgen bindings of the tokengate core, the raw layer of the npm package `tokengate`.
//!
//! They translate only: strings in, the core's own JSON out (parsed into JS values by one helper),
//! and policy errors as a JS `Error` carrying every path. The public API — header shapes, `Date`s,
//! camelCase names, the `PolicyError` class — is the thin JS wrapper in `lib/api.js`.

use tokengate::{inspect, sha256_hex, Policy, PolicyErrors, Request};
use wasm_bindgen::prelude::*;

/// The one conversion from the core to JS: its JSON documents, parsed.
fn from_core_json(json: &str) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(json)
}

/// Inspects a token's format without a registry: `{kind, well_formed, problems: [{code, message}]}`.
#[wasm_bindgen(js_name = inspectToken)]
pub fn inspect_token(token: &str) -> Result<JsValue, JsValue> {
    from_core_json(&inspect(token.as_bytes()).to_json())
}

/// The lowercase hex SHA-256 of a token, as a registry entry's `sha256` holds it.
#[wasm_bindgen(js_name = hashToken)]
pub fn hash_token(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// A parsed and validated policy.
#[wasm_bindgen]
pub struct Validator {
    policy: Policy,
}

#[wasm_bindgen]
impl Validator {
    /// Parses a SPEC §4 policy; throws an `Error` named `PolicyError` with `.errors: {path, message}[]`.
    #[wasm_bindgen(constructor)]
    pub fn new(policy_json: &str) -> Result<Validator, JsValue> {
        Policy::from_json(policy_json)
            .map(|policy| Validator { policy })
            .map_err(|errors| policy_error(&errors))
    }

    /// Decides one request: the SPEC §9 decision, snake_case as the core writes it.
    ///
    /// `headers` is one string, `name NUL value NUL name NUL value …`, in the order the lines
    /// were sent (one string crosses into wasm in one copy; a string per header costs a JS call
    /// each). The wrapper refuses names and values that hold NUL, as `Headers` does.
    /// `now_seconds` is Unix seconds.
    pub fn check(
        &self,
        method: &str,
        url: &str,
        headers: &str,
        now_seconds: f64,
    ) -> Result<JsValue, JsValue> {
        let mut request = Request::from_url(method.as_bytes(), url);
        if !headers.is_empty() {
            let mut parts = headers.split('\0');
            while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
                request.header(name.as_bytes(), value.as_bytes());
            }
        }
        // `as` saturates (NaN becomes 0); the wrapper only passes finite whole seconds.
        let decision = self.policy.decide(&request, now_seconds as i64);
        from_core_json(&decision.to_json())
    }

    /// `"enforce"` or `"report"`.
    #[wasm_bindgen(getter)]
    pub fn mode(&self) -> String {
        self.policy.mode().to_string()
    }

    /// Lowercase names of the headers a proxy strips from every client request.
    #[wasm_bindgen(getter, js_name = stripHeaders)]
    pub fn strip_headers(&self) -> Vec<String> {
        self.policy.strip_headers().to_vec()
    }
}

/// An `Error` named `PolicyError` whose message is the core's one line per problem and whose
/// `errors` property lists them as `{path, message}` objects.
fn policy_error(errors: &PolicyErrors) -> JsValue {
    let error = js_sys::Error::new(&errors.to_string());
    error.set_name("PolicyError");
    let list = js_sys::Array::new();
    for e in errors.errors() {
        let item = js_sys::Object::new();
        // Setting a property on a fresh plain object cannot fail; were it to, the message above
        // still names every path.
        let _ = js_sys::Reflect::set(&item, &"path".into(), &e.path.as_str().into());
        let _ = js_sys::Reflect::set(&item, &"message".into(), &e.message.as_str().into());
        list.push(&item);
    }
    let _ = js_sys::Reflect::set(&error, &"errors".into(), &list);
    error.into()
}
