// Types of the `tokengate` package: the same API from Node (import and require) and browsers.
// Hand-written against SPEC.md; property names are the SPEC's snake_case names in camelCase.

/** The kinds of dbt Cloud credential the core tells apart (SPEC §1). */
export type TokenKind = "pat" | "service" | "user_key" | "oauth";

/** What format inspection can find wrong with a token (SPEC §1). */
export type ProblemCode =
  | "empty"
  | "whitespace"
  | "scheme_included"
  | "quoted"
  | "unknown_prefix"
  | "wrong_length"
  | "bad_character"
  | "legacy_user_key"
  | "not_a_token";

/** One problem: a stable code and a plain sentence that never repeats the token. */
export interface Problem {
  code: ProblemCode;
  message: string;
}

/** The result of {@link inspectToken}. */
export interface Inspection {
  /** The kind the token looks like, or null when it looks like none. */
  kind: TokenKind | null;
  /**
   * True when the token has the shape of its kind. A legacy user key is well formed yet still
   * carries the `legacy_user_key` problem: it works only until its sunset.
   */
  wellFormed: boolean;
  problems: Problem[];
}

/** Decision codes (SPEC §8); `"ok"` on an allowed request. */
export type DecisionCode =
  | "ok"
  | "invalid_request"
  | "missing_token"
  | "unsupported_scheme"
  | "malformed_token"
  | "unsupported_token"
  | "invalid_token"
  | "revoked_token"
  | "expired_token"
  | "user_key_retired"
  | "token_kind_not_allowed"
  | "account_mismatch"
  | "endpoint_sunset"
  /** 503: the registry is fetched from elsewhere and has not loaded (Envoy only; an extension to SPEC §8). */
  | "registry_unavailable"
  /** 503: OAuth keys are fetched from `jwks.url` and have not loaded (Envoy only). */
  | "jwks_unavailable";

/** The decision of SPEC §9, with camelCase property names. */
export interface Decision {
  /** Whether the request may go on (always true in report mode). */
  allow: boolean;
  /** 200 on allow, else the denial status (also in report mode). */
  status: number;
  code: DecisionCode;
  /** A plain sentence for the user; never contains the token. */
  message: string;
  tokenKind: TokenKind | null;
  /** The token's registry id (12 hex characters by default), the only token identity ever shown. */
  tokenId: string | null;
  /** The token's account on allow, else null. A decimal string: ids may exceed 2^53. */
  accountId: string | null;
  /** Present, and true, only in report mode on a request that would have been denied. */
  reportOnly?: true;
  /** Lowercase header names. On a denial the local reply's headers; on an allow, headers to add to the response. */
  responseHeaders: Record<string, string>;
  /** Lowercase header names to set on the request sent upstream. */
  upstreamHeaders: Record<string, string>;
  /** The denial body (dbt envelope or problem+json); null on allow and in report mode. */
  body: string | null;
  /** The name of the client rule (SPEC §10) the request's User-Agent matched, or null. */
  client: string | null;
  /** What the operator should know of an allowed request (a `report` client rule, a deprecation), or null. */
  advice: Advice | null;
  /**
   * Request header names, as the client spelled them, that a front must remove before forwarding
   * (SPEC §6 step 1: identity headers in any spelling a server behind reads as theirs, forwarded
   * hosts). Present only when there are any, and not enumerable: it is not part of the SPEC §9
   * decision, so `JSON.stringify` and deep comparisons with the CLI's decision leave it out.
   */
  readonly removeHeaders?: readonly string[];
}

/** SPEC §9 `advice`. */
export interface Advice {
  /** A stable code, e.g. `service_token_advised`, `user_key_deprecated`, `endpoint_deprecated`. */
  code: string;
  /** A plain sentence; never the token. */
  message: string;
}

/** Header shapes `check` accepts; a value array stands for repeated header lines. */
export type HeadersInput =
  | Iterable<readonly [string, string]> // a fetch Headers, a Map, an array of pairs
  | Readonly<Record<string, string | number | ReadonlyArray<string> | undefined>>;

/** The request to decide. A fetch `Request` fits this shape too. */
export interface RequestInput {
  /** Default "GET". */
  method?: string;
  /** An absolute URL ("https://ab123.us1.dbt.com/api/v2/accounts/1/") or a path ("/api/v2/…"). */
  url: string | { readonly href: string };
  headers?: HeadersInput;
}

/** One reason a policy was refused. */
export interface PolicyProblem {
  /** The field's path in the policy, e.g. `deprecations.endpoints[1].sunset_at`; empty for the whole document. */
  path: string;
  message: string;
}

/** Thrown by `new Validator(policy)` when the policy is refused. The message names every path. */
export declare class PolicyError extends Error {
  readonly name: "PolicyError";
  readonly errors: PolicyProblem[];
  private constructor();
}

/** A SPEC §4 policy as an object. Account ids may be numbers, decimal strings or BigInts. */
export type PolicyInput = { readonly [field: string]: unknown };

/** A parsed and validated policy that decides requests (SPEC §6). */
export declare class Validator {
  /** @throws {PolicyError} when the policy is refused; TypeError when it is neither a string nor an object. */
  constructor(policy: string | PolicyInput);
  /**
   * Decides one request.
   * @param now a Date or epoch milliseconds; default the current time
   */
  check(request: RequestInput, now?: Date | number): Decision;
  /** `"enforce"` denies; `"report"` only marks what it would deny. */
  readonly mode: "enforce" | "report";
  /**
   * Lowercase header names the policy guards (SPEC §6 step 1). A front removes what each decision's
   * `removeHeaders` lists, which also covers other spellings of these names.
   */
  readonly stripHeaders: string[];
  /** Releases the wasm memory now instead of at garbage collection. The validator is unusable after. */
  free(): void;
}

/** Inspects a token's format without a registry (SPEC §1). */
export declare function inspectToken(token: string): Inspection;

/** The lowercase hex SHA-256 of a token, as a registry entry's `sha256` holds it. */
export declare function hashToken(token: string): string;

/** What `init` can load the WebAssembly from. */
export type InitInput = InitSource | Promise<InitSource>;
type InitSource = string | { readonly href: string } | Request | Response | ArrayBuffer | ArrayBufferView | WebAssembly.Module;

// Without the DOM lib (a Node-only project) these names would be missing; empty interfaces merge
// with the real declarations wherever those exist.
declare global {
  interface Request {}
  interface Response {}
  namespace WebAssembly {
    interface Module {}
  }
}

/**
 * Loads the WebAssembly; call once before anything else in a browser. With no argument it fetches
 * the `.wasm` next to the module. In Node it is a no-op (the module loads synchronously).
 */
export default function init(input?: InitInput): Promise<void>;

/** Loads the WebAssembly synchronously from bytes or a compiled module you bring. No-op in Node. */
export declare function initSync(input: ArrayBuffer | ArrayBufferView | WebAssembly.Module): void;
