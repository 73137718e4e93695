// The public API over the raw wasm-bindgen exports. It translates JS shapes into what the core takes
// and what the core returns into JS objects; it decides nothing. One source for both builds:
// scripts/assemble.mjs copies it as an ES module for browsers and as CommonJS for require().

/**
 * Binds the public API to one instance of the raw bindings.
 * @param raw the wasm-bindgen module
 * @param assertReady throws while the WebAssembly is not loaded yet (browsers, before init)
 */
export function bindApi(raw, assertReady = () => {}) {
  /** snake_case → camelCase, for the top-level keys of inspectToken's JSON (decisions arrive as
   * fields: see `decision`). A fixed map: a regex per key per call was slow. */
  const CAMEL = { kind: 'kind', well_formed: 'wellFormed', problems: 'problems' };
  const camel = (key) => CAMEL[key] ?? key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
  const camelKeys = (obj) => {
    const out = {};
    for (const [key, value] of Object.entries(obj)) out[camel(key)] = value;
    return out;
  };

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

  /** Inspects a token's format (no registry): its kind and every problem found. */
  function inspectToken(token) {
    assertReady();
    return camelKeys(raw.inspectToken(needString(token, 'token')));
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

  /** Every header shape a JS caller has, as the one string the binding takes:
   * `name NUL value NUL name NUL value …` (one copy into wasm instead of one call per string). */
  function headerList(headers) {
    const flat = [];
    const add = (s) => {
      // NUL is the separator; HTTP allows it in neither names nor values, and `Headers` refuses it.
      if (s.includes('\0')) throw new TypeError('header names and values cannot contain NUL');
      flat.push(s);
    };
    const push = (name, value) => {
      if (typeof name !== 'string') throw new TypeError('header names must be strings');
      if (value === undefined || value === null) return;
      // A repeated header stays repeated: two Authorization lines must reach the core as two.
      if (Array.isArray(value)) for (const v of value) { add(name); add(String(v)); }
      else { add(name); add(String(value)); }
    };
    if (headers === undefined || headers === null) return '';
    if (typeof headers !== 'object') throw new TypeError('request.headers must be an object, a Headers or an array of pairs');
    if (typeof headers[Symbol.iterator] === 'function') {
      // Headers, Map, or an array of [name, value] pairs.
      for (const pair of headers) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError('each header must be a [name, value] pair');
        push(pair[0], pair[1]);
      }
      return flat.join('\0');
    }
    for (const [name, value] of Object.entries(headers)) push(name, value);
    return flat.join('\0');
  }

  function nowSeconds(now) {
    const ms = now === undefined ? Date.now() : now instanceof Date ? now.getTime() : now;
    if (typeof ms !== 'number') throw new TypeError('now must be a Date or epoch milliseconds');
    if (!Number.isFinite(ms)) throw new RangeError('now is not a valid time');
    return Math.floor(ms / 1000);
  }

  /** Pairs `f[from..to]` as a plain object: a later name wins and `__proto__` is an own property,
   * as `JSON.parse` made them. */
  function headerObject(f, from, to) {
    const out = {};
    for (let i = from; i < to; i += 2) {
      if (f[i] === '__proto__') {
        Object.defineProperty(out, f[i], { value: f[i + 1], writable: true, enumerable: true, configurable: true });
      } else out[f[i]] = f[i + 1];
    }
    return out;
  }

  /** The binding's decision fields (src/lib.rs, `decision_fields`) as the documented object, its
   * properties in the order the CLI's JSON has them. */
  function decision(f) {
    const out = { allow: f[0], status: f[1], code: f[2], message: f[3], tokenKind: f[4], tokenId: f[5], accountId: f[6] };
    if (f[7]) out.reportOnly = true;
    const split = 13 + 2 * f[9];
    out.responseHeaders = headerObject(f, 13, split);
    out.upstreamHeaders = headerObject(f, split, f.length);
    out.body = f[8];
    out.client = f[10];
    out.advice = f[11] === null ? null : { code: f[11], message: f[12] };
    return out;
  }

  const policyErrorFrom = (e) =>
    e !== null && typeof e === 'object' && Array.isArray(e.errors) ? new PolicyError(e.errors) : e;

  /** A parsed, validated policy that decides requests (SPEC §6). */
  class Validator {
    #inner;

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
      const headers = headerList(request.headers);
      return decision(this.#live.check(method, url, headers, nowSeconds(now)));
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
