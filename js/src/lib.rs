//! wasm-bindgen bindings of the tokengate core, the raw layer of the npm package `tokengate`.
//!
//! They translate only, and cheaply: the hot path (`Validator.check`, `inspectToken`) crosses the
//! boundary with numbers, not strings. The JS wrapper (`lib/api.js`) writes the request's bytes
//! straight into a buffer in wasm memory; the binding decides and lays the answer out as words in
//! a fixed place (`meta`) and text in two buffers: the text of this one request (token id,
//! account id, header names to remove) and the rest (messages, bodies, header names and values),
//! which repeats from request to request and is compared, here, with the last text of its kind, so
//! that the wrapper decodes it only when it changed. Code, kind and status names are handed over
//! once, as tables. Policy errors become a JS `Error` carrying every path.

use tokengate::{
    inspect, sha256_hex, Code, Decimal, Decision, Kind, Policy, PolicyErrors, Request,
};
use wasm_bindgen::prelude::*;

/// Words of `meta`, the fixed answer area (see `Validator::meta`): their positions.
mod word {
    pub const FLAGS: usize = 0;
    pub const CODE: usize = 1;
    pub const KIND: usize = 2;
    pub const TEXT_PTR: usize = 3;
    pub const TEXT_LEN: usize = 4;
    pub const SHARED_PTR: usize = 5;
    pub const SHARED_LEN: usize = 6;
    pub const SLOT: usize = 7;
    pub const REMOVE: usize = 8;
    pub const RESPONSE: usize = 9;
    pub const UPSTREAM: usize = 10;
    pub const PROBLEMS: usize = 11;
    pub const LEN: usize = 12;
}

/// Bits of `meta[FLAGS]`.
mod flag {
    pub const ALLOW: u32 = 1;
    pub const REPORT_ONLY: u32 = 2;
    /// The shared text is the same as the last one of this slot: reuse its strings.
    pub const CACHED: u32 = 4;
    pub const TOKEN_ID: u32 = 8;
    pub const ACCOUNT: u32 = 16;
    pub const BODY: u32 = 32;
    pub const CLIENT: u32 = 64;
    pub const ADVICE: u32 = 128;
    pub const WELL_FORMED: u32 = 256;
}

/// In shared text, a header value that is this request's account id or token id (the per-request
/// text holds it): control bytes no header value the core sets can contain.
const ACCOUNT_MARK: &str = "\u{1}";
const TOKEN_ID_MARK: &str = "\u{2}";

/// Slots of the shared-text cache: one per (code, kind) pair for decisions, then inspections.
const KINDS: usize = Kind::ALL.len() + 1;
const DECISION_SLOTS: usize = Code::ALL.len() * KINDS;

/// The last shared text of each slot, and where the next one is written.
#[derive(Default)]
struct Shared {
    text: Vec<u8>,
    slots: Vec<Vec<u8>>,
}

impl Shared {
    /// Whether `self.text` equals the last text of `slot`; remembers it when it does not.
    fn publish(&mut self, slot: usize) -> bool {
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, Vec::new());
        }
        match self.slots.get_mut(slot) {
            Some(last) if *last == self.text => true,
            Some(last) => {
                last.clear();
                last.extend_from_slice(&self.text);
                false
            }
            None => false,
        }
    }
}

/// Appends strings separated by NUL (no string the binding writes holds one).
fn push(out: &mut Vec<u8>, s: &str) {
    if !out.is_empty() {
        out.push(0);
    }
    out.extend_from_slice(s.as_bytes());
}

fn kind_index(kind: Option<Kind>) -> u32 {
    kind.and_then(|k| Kind::ALL.iter().position(|x| *x == k))
        .map_or(0, |i| i as u32 + 1)
}

fn code_index(code: Code) -> usize {
    Code::ALL.iter().position(|c| *c == code).unwrap_or(0)
}

/// The code names, NUL-separated, in `Code::ALL` order (`meta[CODE]` indexes it).
#[wasm_bindgen(js_name = codeNames)]
pub fn code_names() -> String {
    Code::ALL.map(Code::as_str).join("\0")
}

/// The status of each code, in the same order.
#[wasm_bindgen(js_name = codeStatuses)]
pub fn code_statuses() -> Vec<u16> {
    Code::ALL.map(Code::status).to_vec()
}

/// The kind names, NUL-separated; `meta[KIND]` is 0 for none, else 1 + an index here.
#[wasm_bindgen(js_name = kindNames)]
pub fn kind_names() -> String {
    Kind::ALL.map(Kind::as_str).join("\0")
}

/// The module's memory, for the wrapper's views of `meta`, the input and the text buffers.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// The lowercase hex SHA-256 of a token, as a registry entry's `sha256` holds it.
#[wasm_bindgen(js_name = hashToken)]
pub fn hash_token(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// A parsed and validated policy, and the buffers its answers cross in.
#[wasm_bindgen]
pub struct Validator {
    policy: Policy,
    input: Vec<u8>,
    out: Answer,
}

/// Where a decision is laid out for the wrapper.
#[derive(Default)]
struct Answer {
    meta: [u32; word::LEN],
    text: Vec<u8>,
    shared: Shared,
}

/// What crosses for `inspectToken`: the same buffers, without a policy.
#[wasm_bindgen]
pub struct Inspector {
    input: Vec<u8>,
    meta: [u32; word::LEN],
    shared: Shared,
}

#[wasm_bindgen]
impl Inspector {
    /// An inspector with empty buffers.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Inspector {
        Inspector {
            input: Vec::new(),
            meta: [0; word::LEN],
            shared: Shared::default(),
        }
    }

    /// Where the wrapper writes up to `capacity` bytes of the token.
    pub fn input(&mut self, capacity: usize) -> usize {
        reserve(&mut self.input, capacity)
    }

    /// Where the answer's words are.
    pub fn meta(&self) -> usize {
        self.meta.as_ptr() as usize
    }

    /// Inspects the token the wrapper wrote (`len` bytes): kind, well-formedness and the problems'
    /// codes and messages (in the shared text, `code NUL message …`).
    pub fn run(&mut self, len: usize) {
        let token = self.input.get(..len).unwrap_or_default();
        let found = inspect(token);
        let text = &mut self.shared.text;
        text.clear();
        for p in &found.problems {
            push(text, p.code.as_str());
            push(text, p.message);
        }
        let kind = kind_index(found.kind);
        let slot = DECISION_SLOTS + kind as usize * 2 + usize::from(found.well_formed);
        let cached = self.shared.publish(slot);
        let mut flags = if cached { flag::CACHED } else { 0 };
        if found.well_formed {
            flags |= flag::WELL_FORMED;
        }
        let shared = &self.shared.text;
        self.meta = answer(&[
            (word::FLAGS, flags),
            (word::KIND, kind),
            (word::SHARED_PTR, shared.as_ptr() as u32),
            (word::SHARED_LEN, shared.len() as u32),
            (word::SLOT, slot as u32),
            (word::PROBLEMS, found.problems.len() as u32),
        ]);
    }
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector::new()
    }
}

/// Grows `buf` to hold `capacity` bytes; where its bytes start.
fn reserve(buf: &mut Vec<u8>, capacity: usize) -> usize {
    if buf.len() < capacity {
        buf.resize(capacity, 0);
    }
    buf.as_ptr() as usize
}

#[wasm_bindgen]
impl Validator {
    /// Parses a SPEC §4 policy; throws an `Error` named `PolicyError` with `.errors: {path, message}[]`.
    #[wasm_bindgen(constructor)]
    pub fn new(policy_json: &str) -> Result<Validator, JsValue> {
        Policy::from_json(policy_json)
            .map(|policy| Validator {
                policy,
                input: Vec::new(),
                out: Answer::default(),
            })
            .map_err(|errors| policy_error(&errors))
    }

    /// Where the wrapper writes up to `capacity` bytes of the request (valid until the next call).
    pub fn input(&mut self, capacity: usize) -> usize {
        reserve(&mut self.input, capacity)
    }

    /// Where the answer's words are (fixed for the validator's life).
    pub fn meta(&self) -> usize {
        self.out.meta.as_ptr() as usize
    }

    /// Decides the request the wrapper wrote: `len` bytes of `method NUL url NUL name NUL value
    /// …`, the header lines in the order they were sent (the wrapper refuses NUL inside them, as
    /// `Headers` does). `now_seconds` is Unix seconds. The answer is in `meta`.
    pub fn check(&mut self, len: usize, now_seconds: f64) {
        let input = self.input.get(..len).unwrap_or_default();
        let mut parts = input.split(|&b| b == 0);
        let method = parts.next().unwrap_or_default();
        let url = core::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or("");
        let mut request = Request::from_url(method, url);
        while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
            request.header(name, value);
        }
        // `as` saturates (NaN becomes 0); the wrapper only passes finite whole seconds.
        let decision = self.policy.decide(&request, now_seconds as i64);
        self.out.lay_out(&decision);
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

impl Answer {
    /// The decision into `meta`, the per-request text and the shared text.
    fn lay_out(&mut self, d: &Decision<'_>) {
        let mut flags = 0;
        let text = &mut self.text;
        text.clear();
        let token_id = d.token_id();
        let account = d.account_id.map(Decimal::new);
        // Both always take their place (empty when absent), so the wrapper finds them by position.
        text.extend_from_slice(token_id.unwrap_or("").as_bytes());
        push_always(text, account.as_ref().map_or("", Decimal::as_str));
        if token_id.is_some() {
            flags |= flag::TOKEN_ID;
        }
        if account.is_some() {
            flags |= flag::ACCOUNT;
        }
        let mut removes = 0;
        for name in d.remove_headers() {
            text.push(0);
            text.extend_from_slice(name);
            removes += 1;
        }

        let shared = &mut self.shared.text;
        shared.clear();
        shared.extend_from_slice(d.message().as_bytes());
        let reply = d.reply();
        push_always(shared, reply.as_ref().map_or("", |r| r.body.as_str()));
        push_always(shared, d.client().unwrap_or(""));
        let advice = d.advice();
        push_always(shared, advice.as_ref().map_or("", |a| a.code));
        push_always(shared, advice.as_ref().map_or("", |a| a.message.as_ref()));
        let mut response = 0;
        match &reply {
            Some(r) => {
                for (name, value) in &r.headers {
                    push_always(shared, name);
                    push_always(shared, value);
                    response += 1;
                }
            }
            None => {
                for (name, value) in d.response_headers() {
                    push_always(shared, name);
                    push_always(shared, value);
                    response += 1;
                }
            }
        }
        let mut upstream = 0;
        for (name, value) in d.set_headers() {
            push_always(shared, name);
            let value = value.as_str();
            let same = |s: Option<&str>| s.is_some_and(|s| s == value);
            if same(account.as_ref().map(Decimal::as_str)) {
                push_always(shared, ACCOUNT_MARK);
            } else if same(token_id) {
                push_always(shared, TOKEN_ID_MARK);
            } else {
                push_always(shared, value);
            }
            upstream += 1;
        }
        if reply.is_some() {
            flags |= flag::BODY;
        }
        if d.client().is_some() {
            flags |= flag::CLIENT;
        }
        if advice.is_some() {
            flags |= flag::ADVICE;
        }
        if d.allow() {
            flags |= flag::ALLOW;
        }
        if d.report_only() {
            flags |= flag::REPORT_ONLY;
        }
        let kind = kind_index(d.token_kind);
        let slot = code_index(d.code) * KINDS + kind as usize;
        if self.shared.publish(slot) {
            flags |= flag::CACHED;
        }
        let shared = &self.shared.text;
        self.meta = answer(&[
            (word::FLAGS, flags),
            (word::CODE, code_index(d.code) as u32),
            (word::KIND, kind),
            (word::TEXT_PTR, self.text.as_ptr() as u32),
            (word::TEXT_LEN, self.text.len() as u32),
            (word::SHARED_PTR, shared.as_ptr() as u32),
            (word::SHARED_LEN, shared.len() as u32),
            (word::SLOT, slot as u32),
            (word::REMOVE, removes),
            (word::RESPONSE, response),
            (word::UPSTREAM, upstream),
        ]);
    }
}

/// The answer's words, the unnamed ones zero. (Pointers are 32-bit: this is wasm32.)
fn answer(words: &[(usize, u32)]) -> [u32; word::LEN] {
    let mut meta = [0; word::LEN];
    for &(i, v) in words {
        if let Some(w) = meta.get_mut(i) {
            *w = v;
        }
    }
    meta
}

/// Appends a NUL and then `s`: every field takes its place, empty or not.
fn push_always(out: &mut Vec<u8>, s: &str) {
    out.push(0);
    out.extend_from_slice(s.as_bytes());
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
