// Types of `tokengate/express`: connect/Express middleware. Structural, so neither Node's nor
// Express's type packages are needed; Node's IncomingMessage and ServerResponse fit.
import type { Decision, Validator } from "tokengate";

/** The parts of Node's `IncomingMessage` (Express's `req`) the middleware reads and edits. */
export interface MiddlewareRequest {
  method?: string;
  url?: string;
  /** Express's original URL (before routers strip a mount path); preferred when present. */
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  /** Set by the middleware: the decision on this request. */
  tokengate?: Decision;
}

/** The parts of Node's `ServerResponse` the middleware uses. */
export interface MiddlewareResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

export interface MiddlewareOptions {
  /** The time to decide at; default `Date.now`. */
  now?: () => Date | number;
}

/** `(req, res, next)`: answers a denial itself; otherwise edits `req`, sets response headers, calls `next()`. */
export type Middleware = (req: MiddlewareRequest, res: MiddlewareResponse, next: (error?: unknown) => void) => void;

export declare function tokengateMiddleware(validator: Validator, options?: MiddlewareOptions): Middleware;
