// Types of `tokengate/guard`: a fetch that refuses, before sending, what the policy denies.
import type { Decision, DecisionCode, Validator } from "tokengate";

/** Thrown by a guarded fetch instead of sending a denied request. Holds no token. */
export declare class TokenDeniedError extends Error {
  readonly name: "TokenDeniedError";
  /** The SPEC §8 code. */
  readonly code: Exclude<DecisionCode, "ok">;
  /** The status an edge would answer with. */
  readonly status: number;
  /** The whole decision (its message is this error's message). */
  readonly decision: Decision;
  constructor(decision: Decision);
}

export interface GuardOptions {
  /** What sends allowed requests; default `globalThis.fetch`. */
  fetch?: (request: Request) => Promise<Response>;
  /** The time to decide at; default `Date.now`. */
  now?: () => Date | number;
  /** Called with every decision before the request is sent or refused. */
  onDecision?: (decision: Decision, request: Request) => void;
}

/** `fetch`'s signature; rejects with a {@link TokenDeniedError} when the policy denies the request. */
export type GuardedFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export declare function guardFetch(validator: Validator, options?: GuardOptions): GuardedFetch;
