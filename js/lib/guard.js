// `tokengate/guard`: a `fetch` that checks each request with a Validator before it leaves, for SDKs
// and scripts calling a dbt-style API. A request the policy denies is never sent: the guard throws a
// `TokenDeniedError` carrying the decision (code, status, message, token kind and id — never the
// token, which no decision holds). No imports; scripts/assemble.mjs also writes it as CommonJS.

/** Thrown by a guarded fetch instead of sending a request the policy denies. */
export class TokenDeniedError extends Error {
  /** @param decision the denial, as `Validator.check` returned it */
  constructor(decision) {
    super(decision.message);
    this.name = 'TokenDeniedError';
    /** The SPEC §8 code, e.g. `account_mismatch`. */
    this.code = decision.code;
    /** The status the edge would answer with. */
    this.status = decision.status;
    /** The whole decision (SPEC §9, camelCase). */
    this.decision = decision;
  }
}

/**
 * Wraps `fetch`: the request is checked first, and sent only when the decision allows it.
 * @param validator a `tokengate` Validator
 * @param options `fetch` (default globalThis.fetch), `now` (function giving Date or epoch ms),
 *   `onDecision(decision, request)` (called for every decision before the request is sent or
 *   refused: deprecation notices and report-mode would-denies show up here)
 * @returns a function with fetch's signature
 */
export function guardFetch(validator, options = {}) {
  const send = options.fetch ?? ((r) => fetch(r));
  const now = options.now ?? Date.now;
  return async function guardedFetch(input, init) {
    const request = new Request(input, init);
    const headers = [];
    for (const pair of request.headers) headers.push(pair);
    const decision = validator.check({ method: request.method, url: request.url, headers }, now());
    options.onDecision?.(decision, request);
    if (!decision.allow) throw new TokenDeniedError(decision);
    return send(request);
  };
}
