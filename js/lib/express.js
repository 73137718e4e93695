// `tokengate/express`: connect/Express middleware for Node servers (it uses only Node's own
// `IncomingMessage`/`ServerResponse` methods, so plain `http.createServer` handlers can call it
// too). A denial is answered here with the SPEC §7 status, headers and body; an allowed request goes
// on to `next()` with the client's copies of the identity headers removed, the decision's upstream
// headers set on `req.headers` (for a proxy or handler behind), its response headers (deprecation
// notices) already set on `res`, and the decision on `req.tokengate`. No imports;
// scripts/assemble.mjs also writes it as CommonJS.

/** `[name, value]` pairs from Node's `rawHeaders`, which keeps repeated lines (`req.headers`
 * silently drops a second `Authorization`, which the core must see to refuse). */
function rawPairs(raw) {
  const pairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]]);
  return pairs;
}

/** Applies the request edits of an allowed decision to Node's request object. */
function editRequest(req, remove, set) {
  const gone = new Set(remove.map((n) => n.toLowerCase()));
  for (const name of Object.keys(set)) gone.add(name.toLowerCase());
  for (const name of gone) delete req.headers[name];
  const raw = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (!gone.has(req.rawHeaders[i].toLowerCase())) raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  for (const name of Object.keys(set)) {
    req.headers[name] = set[name];
    raw.push(name, set[name]);
  }
  req.rawHeaders = raw;
}

/**
 * @param validator a `tokengate` Validator
 * @param options `now`: a function giving the time to decide at (Date or epoch ms); default now
 * @returns `(req, res, next) => void`
 */
export function tokengateMiddleware(validator, options = {}) {
  const now = options.now ?? Date.now;
  return function tokengate(req, res, next) {
    let decision;
    try {
      decision = validator.check(
        { method: req.method, url: req.originalUrl ?? req.url, headers: rawPairs(req.rawHeaders) }, now());
    } catch (error) {
      next(error);
      return;
    }
    req.tokengate = decision;
    if (!decision.allow) {
      res.statusCode = decision.status;
      for (const [name, value] of Object.entries(decision.responseHeaders)) res.setHeader(name, value);
      res.end(decision.body ?? '');
      return;
    }
    // The client's headers the core says go (SPEC §6 step 1), attached only when there are any.
    editRequest(req, decision.removeHeaders ?? [], decision.upstreamHeaders);
    for (const [name, value] of Object.entries(decision.responseHeaders)) res.setHeader(name, value);
    next();
  };
}
