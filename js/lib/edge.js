// `tokengate/edge`: the Fetch-API front. It turns a Validator into a function from a standard
// `Request` to either the denial as a `Response`, or the request to forward with its edits applied.
// It applies the decision's lists and knows no rule: which headers go, which are set, what a denial
// looks like, all come from the core through `Validator.check`. No imports, so the one file serves
// Workers, Deno, Bun, Node and browsers alike (scripts/assemble.mjs also writes it as CommonJS).

/** The Fetch `Request` as `Validator.check` takes it.
 *
 * The host goes by the URL only: every Fetch server (workerd, Deno.serve, Bun.serve, Node's
 * adapters) builds `request.url` from the `Host` the client sent, so the URL already names it, and
 * some runtimes rewrite the `host` header itself (miniflare sets it to its own loopback address). */
export function decisionInput(request) {
  const headers = [];
  for (const [name, value] of request.headers) if (name !== 'host') headers.push([name, value]);
  return { method: request.method, url: request.url, headers };
}

/** The denial of SPEC §7 as a `Response`: status, headers (`Cache-Control: no-store`,
 * `WWW-Authenticate`, `Content-Type`, `Sunset`/`Link` on a retired endpoint) and body. */
export function denialResponse(decision) {
  return new Response(decision.body, { status: decision.status, headers: decision.responseHeaders });
}

/** A copy of `response` with the decision's response headers (deprecation notices) added; the
 * upstream's response itself is left alone (a fetched `Response` has immutable headers). */
export function withResponseHeaders(response, responseHeaders) {
  const names = Object.keys(responseHeaders);
  if (names.length === 0) return response;
  const out = new Response(response.body, response);
  for (const name of names) out.headers.set(name, responseHeaders[name]);
  return out;
}

/** The request to send upstream: `request` with every client copy of the identity headers removed
 * (SPEC §6 step 1) and the decision's upstream headers set; method, URL, body and other headers
 * kept. To send it elsewhere, `new Request(upstreamUrl, forwarded)` (the usual Fetch idiom). */
function forwardRequest(request, remove, set) {
  const headers = new Headers(request.headers);
  for (const name of remove) headers.delete(name);
  for (const name of Object.keys(set)) headers.set(name, set[name]);
  const init = { headers };
  // A streamed body needs `duplex` in Node and Deno; the others ignore the member.
  if (request.body !== null) init.duplex = 'half';
  return new Request(request, init);
}

/** The client's headers the core says go (SPEC §6 step 1: identity headers in every spelling a
 * server behind reads as theirs, forwarded hosts); `Validator.check` attaches them to the decision
 * only when there are any. */
const removals = (decision) => decision.removeHeaders ?? [];

/**
 * Binds a Validator to the Fetch API.
 * @param validator a `tokengate` Validator
 * @param options `now`: a function giving the time to decide at (Date or epoch ms); default now
 * @returns `(request) => Response | Forward`: a `Response` for a denial, else
 *   `{ request, decision, responseHeaders, respond(upstreamResponse) }` (a `Forward`)
 */
export function createEdge(validator, options = {}) {
  const now = options.now ?? Date.now;
  return function edge(request) {
    const decision = validator.check(decisionInput(request), now());
    if (!decision.allow) return denialResponse(decision);
    const remove = removals(decision);
    const responseHeaders = decision.responseHeaders;
    return {
      decision,
      responseHeaders,
      /** The request to forward, edits applied. */
      request: forwardRequest(request, remove, decision.upstreamHeaders),
      /** The upstream's response with the decision's response headers added. */
      respond: (response) => withResponseHeaders(response, responseHeaders),
    };
  };
}

/**
 * A whole Fetch handler: decides, answers a denial itself, and otherwise forwards the request to
 * `upstream` (its origin and path prefix replace the request's origin; the path and query are
 * kept) and returns the upstream's response with the decision's response headers added.
 * @param validator a `tokengate` Validator
 * @param options `upstream` (string or URL, required), `fetch` (default globalThis.fetch), `now`
 */
export function createProxy(validator, options) {
  if (options === null || typeof options !== 'object' || options.upstream === undefined) {
    throw new TypeError('createProxy needs options.upstream, the URL to forward to');
  }
  const base = new URL(String(options.upstream));
  const prefix = base.pathname.replace(/\/$/, '');
  const send = options.fetch ?? ((r) => fetch(r));
  const edge = createEdge(validator, options);
  return async function proxy(request) {
    const out = edge(request);
    if (out instanceof Response) return out;
    const url = new URL(request.url);
    const target = new URL(prefix + url.pathname + url.search, base);
    // `manual`: a proxy hands a redirect back to the client rather than following it itself.
    return out.respond(await send(new Request(new Request(target, out.request), { redirect: 'manual' })));
  };
}
