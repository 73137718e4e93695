// Types of `tokengate/edge`, the Fetch-API front: a Validator in front of any Fetch handler.
import type { Decision, Validator } from "tokengate";

/** The time to decide at: a Date or epoch milliseconds. */
export type Clock = () => Date | number;

export interface EdgeOptions {
  /** Default `Date.now`. */
  now?: Clock;
}

/** An allowed request (also a report-mode would-deny): what to forward, and what to add to the answer. */
export interface Forward {
  /** The decision, SPEC §9 in camelCase. */
  decision: Decision;
  /**
   * The client's request with every client copy of the identity headers removed and the decision's
   * upstream headers set; method, URL, body and other headers kept. Send it elsewhere with
   * `new Request(upstreamUrl, forward.request)`.
   */
  request: Request;
  /** Headers to add to the upstream's response (deprecation notices); often empty. */
  responseHeaders: Record<string, string>;
  /** A copy of the upstream's response with `responseHeaders` added. */
  respond(response: Response): Response;
}

/** Decides one request: the denial as a `Response`, or the request to forward. */
export type Edge = (request: Request) => Response | Forward;

/** Binds a Validator to the Fetch API. */
export declare function createEdge(validator: Validator, options?: EdgeOptions): Edge;

export interface ProxyOptions extends EdgeOptions {
  /** Where allowed requests go: its origin and path prefix replace the request's origin. */
  upstream: string | URL;
  /** Default `globalThis.fetch`; the request it gets has `redirect: "manual"`. */
  fetch?: (request: Request) => Promise<Response>;
}

/** A whole Fetch handler: denials answered, the rest forwarded to `upstream`, its answer returned. */
export declare function createProxy(validator: Validator, options: ProxyOptions): (request: Request) => Promise<Response>;

/** The request as `Validator.check` takes it (the host from the URL, not the `host` header). */
export declare function decisionInput(request: Request): { method: string; url: string; headers: [string, string][] };

/** The SPEC §7 denial as a `Response`. */
export declare function denialResponse(decision: Decision): Response;

/** A copy of `response` with `responseHeaders` added; `response` itself when there are none. */
export declare function withResponseHeaders(response: Response, responseHeaders: Record<string, string>): Response;
