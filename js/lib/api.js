// The public API over the raw wasm-bindgen exports. It translates JS shapes into what the core takes
// and what the core returns into JS objects; it decides nothing. One source for both builds:
// scripts/assemble.mjs copies it as an ES module for browsers and as CommonJS for require().

/**
 * Binds the public API to one instance of the raw bindings.
 * @param raw the wasm-bindgen module
 * @param assertReady throws while the WebAssembly is not loaded yet (browsers, before init)
 */
export function bindApi(raw, assertReady = () => {}) {
  /** Thrown by `new Validator(policy)` when the policy is refused; `.errors` holds every problem. */
  class PolicyError extends Error {
    /** @param {{ path: string, message: string }[]} errors */
    constructor(errors) {
      const list = errors.map((e) => ({ path: String(e.path), message: String(e.message) }));
      const lines = list.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message));
      super(`invalid tokengate policy: ${lines.join('; ')}`);
      this.name = 'PolicyError';
      this.errors = list;
    }
  }

  function needString(value, what) {
    if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
    return value;
  }

  // --- the boundary: bytes into wasm memory, words and text out (src/lib.rs) -------------------
  // Built on first use: in a browser the module is not instantiated before init().
  let wire;
  function boundary() {
    if (wire !== undefined) return wire;
    const memory = raw.wasmMemory();
    wire = {
      memory,
      u8: new Uint8Array(memory.buffer),
      u32: new Uint32Array(memory.buffer),
      encoder: new TextEncoder(),
      decoder: new TextDecoder(),
      codes: raw.codeNames().split('\0'),
      statuses: Array.from(raw.codeStatuses()),
      kinds: [null, ...raw.kindNames().split('\0')],
      inspector: new raw.Inspector(),
    };
    return wire;
  }
  /** Fresh views after the memory grew (growing detaches the old buffer). */
  function views(w) {
    if (w.u8.buffer !== w.memory.buffer) {
      w.u8 = new Uint8Array(w.memory.buffer);
      w.u32 = new Uint32Array(w.memory.buffer);
    }
  }
  /** Writes `s` as UTF-8 into the buffer `input(capacity)` gives; its length in bytes. */
  function write(w, s, input) {
    const capacity = s.length * 3; // the most UTF-8 bytes a JS string of this length needs
    const ptr = input(capacity);
    views(w);
    return w.encoder.encodeInto(s, w.u8.subarray(ptr, ptr + capacity)).written;
  }
  /** UTF-8 at `ptr` as a string; short ASCII (ids, header names) without a TextDecoder call. */
  function text(w, ptr, len) {
    if (len === 0) return '';
    const bytes = w.u8.subarray(ptr, ptr + len);
    if (len <= 256) {
      let ascii = true;
      for (let i = 0; i < len; i++) if (bytes[i] > 0x7f) { ascii = false; break; }
      if (ascii) return String.fromCharCode.apply(null, bytes);
    }
    return w.decoder.decode(bytes);
  }
  // meta words and flags: src/lib.rs `word` and `flag`.
  const FLAGS = 0, CODE = 1, KIND = 2, TEXT_PTR = 3, TEXT_LEN = 4, SHARED_PTR = 5, SHARED_LEN = 6,
    SLOT = 7, REMOVE = 8, RESPONSE = 9, UPSTREAM = 10, PROBLEMS = 11;
  const ALLOW = 1, REPORT_ONLY = 2, CACHED = 4, TOKEN_ID = 8, ACCOUNT = 16, BODY = 32, CLIENT = 64,
    ADVICE = 128, WELL_FORMED = 256;
  /** The shared text of this answer, split: decoded only when the binding says it changed. */
  function sharedStrings(w, m, slots) {
    const slot = w.u32[m + SLOT];
    if (w.u32[m + FLAGS] & CACHED && slots[slot] !== undefined) return slots[slot];
    return (slots[slot] = text(w, w.u32[m + SHARED_PTR], w.u32[m + SHARED_LEN]).split('\0'));
  }

  const inspectSlots = [];
  /** Inspects a token's format (no registry): its kind and every problem found. */
  function inspectToken(token) {
    assertReady();
    needString(token, 'token');
    const w = boundary();
    const inspector = w.inspector;
    inspector.run(write(w, token, (n) => inspector.input(n)));
    views(w);
    const m = inspector.meta() >>> 2;
    const strings = sharedStrings(w, m, inspectSlots);
    const problems = [];
    for (let i = 0, n = w.u32[m + PROBLEMS]; i < n; i++) {
      problems.push({ code: strings[2 * i], message: strings[2 * i + 1] });
    }
    return { kind: w.kinds[w.u32[m + KIND]], wellFormed: (w.u32[m + FLAGS] & WELL_FORMED) !== 0, problems };
  }

  /** The lowercase hex SHA-256 of a token: what a registry entry's `sha256` holds. */
  function hashToken(token) {
    assertReady();
    return raw.hashToken(needString(token, 'token'));
  }

  // Account ids may exceed 2^53: a policy object can carry them as strings or BigInts.
  const bigintAsString = (_key, value) => (typeof value === 'bigint' ? value.toString() : value);

  // A JS number past 2^53 has already lost digits before the core could see it (an account id
  // 9007199254740993 arrives as …992): refuse it with its path rather than bind the wrong account.
  function unsafeIntegers(value, path, out) {
    if (typeof value === 'number') {
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        out.push({ path, message: 'a JS number above 2^53 is not exact; write it as a string or a BigInt' });
      }
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => unsafeIntegers(v, `${path}[${i}]`, out));
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) unsafeIntegers(v, path ? `${path}.${k}` : k, out);
    }
  }

  function policyJson(policy) {
    if (typeof policy === 'string') return policy;
    if (policy !== null && typeof policy === 'object' && !Array.isArray(policy)) {
      const json = JSON.stringify(policy, bigintAsString);
      const unsafe = [];
      unsafeIntegers(JSON.parse(json), '', unsafe);
      if (unsafe.length > 0) throw new PolicyError(unsafe);
      return json;
    }
    throw new TypeError('policy must be a JSON string or an object');
  }

  function urlString(url) {
    if (typeof url === 'string') return url;
    if (url !== null && typeof url === 'object' && typeof url.href === 'string') return url.href;
    throw new TypeError('request.url must be a string or a URL');
  }

  /** Every header shape a JS caller has, as the text the binding reads after the method and the
   * URL: `NUL name NUL value` per line, in order (one string, one copy into wasm memory). String
   * concatenation: an array per call and a join cost more than the rest of the call. */
  function headerLine(headers) {
    let out = '';
    const add = (name, value) => {
      // NUL is the separator; HTTP allows it in neither names nor values, and `Headers` refuses it.
      if (name.includes('\0') || value.includes('\0')) throw new TypeError('header names and values cannot contain NUL');
      out += `\0${name}\0${value}`;
    };
    const push = (name, value) => {
      if (typeof name !== 'string') throw new TypeError('header names must be strings');
      if (value === undefined || value === null) return;
      // A repeated header stays repeated: two Authorization lines must reach the core as two.
      if (Array.isArray(value)) for (const v of value) add(name, String(v));
      else add(name, typeof value === 'string' ? value : String(value));
    };
    if (headers === undefined || headers === null) return '';
    if (typeof headers !== 'object') throw new TypeError('request.headers must be an object, a Headers or an array of pairs');
    if (typeof headers[Symbol.iterator] === 'function') {
      // Headers, Map, or an array of [name, value] pairs.
      for (const pair of headers) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError('each header must be a [name, value] pair');
        push(pair[0], pair[1]);
      }
      return out;
    }
    const names = Object.keys(headers);
    for (let i = 0; i < names.length; i++) push(names[i], headers[names[i]]);
    return out;
  }

  function nowSeconds(now) {
    const ms = now === undefined ? Date.now() : now instanceof Date ? now.getTime() : now;
    if (typeof ms !== 'number') throw new TypeError('now must be a Date or epoch milliseconds');
    if (!Number.isFinite(ms)) throw new RangeError('now is not a valid time');
    return Math.floor(ms / 1000);
  }

  /** Sets `name` on a plain object as `JSON.parse` would: a later name wins and `__proto__` is
   * an own property. */
  function setHeader(out, name, value) {
    if (name === '__proto__') {
      Object.defineProperty(out, name, { value, writable: true, enumerable: true, configurable: true });
    } else out[name] = value;
  }

  /** The answer in memory as the documented decision, its properties in the CLI's JSON order.
   * Header names the front must remove (SPEC §6 step 1) ride along as a non-enumerable
   * `removeHeaders`, outside the SPEC §9 shape. */
  function decision(w, m, slots) {
    const u32 = w.u32;
    const flags = u32[m + FLAGS];
    const code = u32[m + CODE];
    const shared = sharedStrings(w, m, slots);
    const own = text(w, u32[m + TEXT_PTR], u32[m + TEXT_LEN]).split('\0');
    const tokenId = flags & TOKEN_ID ? own[0] : null;
    const accountId = flags & ACCOUNT ? own[1] : null;
    const out = { allow: (flags & ALLOW) !== 0, status: w.statuses[code], code: w.codes[code], message: shared[0],
      tokenKind: w.kinds[u32[m + KIND]], tokenId, accountId };
    if (flags & REPORT_ONLY) out.reportOnly = true;
    let i = 5;
    const responseHeaders = {};
    for (let n = u32[m + RESPONSE]; n > 0; n--, i += 2) setHeader(responseHeaders, shared[i], shared[i + 1]);
    const upstreamHeaders = {};
    for (let n = u32[m + UPSTREAM]; n > 0; n--, i += 2) {
      const v = shared[i + 1];
      setHeader(upstreamHeaders, shared[i], v === '\u0001' ? accountId : v === '\u0002' ? tokenId : v);
    }
    out.responseHeaders = responseHeaders;
    out.upstreamHeaders = upstreamHeaders;
    out.body = flags & BODY ? shared[1] : null;
    out.client = flags & CLIENT ? shared[2] : null;
    out.advice = flags & ADVICE ? { code: shared[3], message: shared[4] } : null;
    if (u32[m + REMOVE] > 0) Object.defineProperty(out, 'removeHeaders', { value: own.slice(2) });
    return out;
  }

  const policyErrorFrom = (e) =>
    e !== null && typeof e === 'object' && Array.isArray(e.errors) ? new PolicyError(e.errors) : e;

  /** A parsed, validated policy that decides requests (SPEC §6). */
  class Validator {
    #inner;
    #meta;
    #capacity = 0;
    #view = new Uint8Array(0);
    /** The shared strings of each answer slot, as the binding last laid them out. */
    #slots = [];

    /** @param {string | object} policy the SPEC §4 policy, as JSON text or an object */
    constructor(policy) {
      const json = policyJson(policy);
      assertReady();
      try {
        this.#inner = new raw.Validator(json);
      } catch (e) {
        throw policyErrorFrom(e);
      }
    }

    /** Decides one request; `now` is a Date or epoch milliseconds, by default the current time. */
    check(request, now) {
      if (request === null || typeof request !== 'object') throw new TypeError('request must be an object');
      const method = request.method === undefined ? 'GET' : needString(request.method, 'request.method');
      const url = urlString(request.url);
      if (method.includes('\0') || url.includes('\0')) throw new TypeError('the method and the URL cannot contain NUL');
      const line = `${method}\0${url}${headerLine(request.headers)}`;
      const seconds = nowSeconds(now);
      const inner = this.#live;
      const w = boundary();
      inner.check(this.#write(w, line), seconds);
      views(w);
      this.#meta ??= inner.meta() >>> 2;
      return decision(w, this.#meta, this.#slots);
    }

    /** Writes the request line into the validator's input buffer in wasm memory; its length in
     * bytes. The buffer grows only when a request needs more room than any before. */
    #write(w, line) {
      const capacity = line.length * 3; // the most UTF-8 bytes a JS string of this length needs
      if (capacity > this.#capacity || this.#view.buffer !== w.memory.buffer) {
        this.#capacity = Math.max(capacity, 1024, this.#capacity);
        const ptr = this.#live.input(this.#capacity);
        views(w);
        this.#view = w.u8.subarray(ptr, ptr + this.#capacity);
      }
      return w.encoder.encodeInto(line, this.#view).written;
    }

    /** `"enforce"` or `"report"`. */
    get mode() {
      return this.#live.mode;
    }

    /** Lowercase names a proxy must remove from every client request before forwarding it. */
    get stripHeaders() {
      return this.#live.stripHeaders;
    }

    /** Frees the wasm memory now rather than when the object is collected. */
    free() {
      this.#inner?.free();
      this.#inner = undefined;
    }

    get #live() {
      if (this.#inner === undefined) throw new Error('this Validator was freed');
      return this.#inner;
    }
  }
  // `using v = new Validator(policy)` where the runtime has explicit resource management.
  if (typeof Symbol.dispose === 'symbol') Validator.prototype[Symbol.dispose] = Validator.prototype.free;

  return { inspectToken, hashToken, Validator, PolicyError };
}
