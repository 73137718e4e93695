//! wasm-bindgen bindings of the tokengate core, the raw layer of the npm package `tokengate`.
//!
//! They translate only: strings in; out, a decision's fields as one array of JS values (no JSON in
//! between), `inspectToken` as the core's JSON parsed, and policy errors as a JS `Error` carrying
//! every path. The public API — header shapes, `Date`s, the decision object with its camelCase
//! names, the `PolicyError` class — is the thin JS wrapper in `lib/api.js`.

use tokengate::{inspect, sha256_hex, Decimal, Decision, Policy, PolicyErrors, Request};
use wasm_bindgen::prelude::*;

/// The core's JSON documents, parsed (for `inspectToken`; decisions go by `decision_fields`).
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

    /// Decides one request: the SPEC §9 decision's fields, laid out as `decision_fields` says.
    ///
    /// `headers` is one string, `name NUL value NUL name NUL value …`, in the order the lines
    /// were sent (one string crosses into wasm in one copy; a string per header costs a JS call
    /// each). The wrapper refuses names and values that hold NUL, as `Headers` does.
    /// `now_seconds` is Unix seconds.
    pub fn check(&self, method: &str, url: &str, headers: &str, now_seconds: f64) -> Vec<JsValue> {
        let mut request = Request::from_url(method.as_bytes(), url);
        if !headers.is_empty() {
            let mut parts = headers.split('\0');
            while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
                request.header(name.as_bytes(), value.as_bytes());
            }
        }
        // `as` saturates (NaN becomes 0); the wrapper only passes finite whole seconds.
        decision_fields(&self.policy.decide(&request, now_seconds as i64))
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

/// A decision as one array, which `lib/api.js` turns into the package's object: `[allow, status,
/// code, message, tokenKind, tokenId, accountId, reportOnly, body, n, client, adviceCode,
/// adviceMessage, …response headers, …upstream headers]`, absent values `null`, the account id a
/// decimal string (account ids exceed 2^53, past what a JS number holds exactly), and each header
/// map flattened to `name, value` pairs, `n` of them for the response. One array crosses in one
/// call, each string decoded once, where JSON cost an escape in wasm, a parse in JS and a rename
/// of every key.
fn decision_fields(d: &Decision<'_>) -> Vec<JsValue> {
    let text = |s: Option<&str>| s.map_or(JsValue::NULL, JsValue::from_str);
    let response = d.json_response_headers();
    let advice = d.advice();
    let mut out = Vec::with_capacity(13 + 2 * (response.len() + 4));
    out.extend([
        JsValue::from_bool(d.allow()),
        JsValue::from(d.status()),
        JsValue::from_str(d.code.as_str()),
        JsValue::from_str(&d.message()),
        text(d.token_kind.map(|k| k.as_str())),
        text(d.token_id()),
        text(d.account_id.map(Decimal::new).as_ref().map(Decimal::as_str)),
        JsValue::from_bool(d.report_only()),
        text(d.reply().map(|r| r.body).as_deref()),
        JsValue::from(response.len() as u32),
        text(d.client()),
        text(advice.as_ref().map(|a| a.code)),
        text(advice.as_ref().map(|a| a.message.as_ref())),
    ]);
    for (name, value) in &response {
        out.extend([JsValue::from_str(name), JsValue::from_str(value)]);
    }
    for (name, value) in d.set_headers() {
        out.extend([JsValue::from_str(name), JsValue::from_str(value.as_str())]);
    }
    out
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
